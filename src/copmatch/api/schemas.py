"""Request and response bodies of the HTTP API, with their documented limits."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from copmatch.services.experts import Expert
from copmatch.services.feedback import MAX_FEEDBACK_QUERY_CHARS
from copmatch.settings import Settings

_DEFAULTS = Settings()
MAX_TEXT_CHARS = _DEFAULTS.api_max_query_chars  # checked by the routes: beyond it, 413 (not a 422)
MAX_LIMIT = _DEFAULTS.max_limit
MAX_BATCH_QUERIES = 100
MAX_IDS = 1000
MAX_IMPORT_RECORDS = 20_000

MemberId = Field(min_length=1, max_length=200)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpertsRequest(Strict):
    text: str = Field(
        min_length=1,
        description=f"The topic or question, free text, up to {MAX_TEXT_CHARS:,} characters (413 beyond): "
        "a long question or a pasted abstract is read whole, in windows.",
        examples=["Our booster pump vibrates after a bearing change"],
    )
    limit: int = Field(10, ge=1, le=MAX_LIMIT, description="How many experts to return (ignored with candidates).")
    exclude: list[str] = Field(default_factory=list, max_length=MAX_IDS, description="Member ids never returned.")
    candidates: list[str] | None = Field(
        None, max_length=MAX_IDS, description="Rank only these members; every one is returned, scored."
    )


class BatchQuery(Strict):
    id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, description=f"Up to {MAX_TEXT_CHARS:,} characters (413 beyond).")
    exclude: list[str] = Field(default_factory=list, max_length=MAX_IDS)
    candidates: list[str] | None = Field(None, max_length=MAX_IDS)


class BatchExpertsRequest(Strict):
    queries: list[BatchQuery] = Field(min_length=1, max_length=MAX_BATCH_QUERIES)
    limit: int = Field(10, ge=1, le=MAX_LIMIT)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "queries": [
                        {"id": "q1", "text": "chlorine residual at dead ends"},
                        {"id": "q2", "text": "billing dispute escalation", "candidates": ["m033", "m007"]},
                    ],
                    "limit": 5,
                }
            ]
        },
    )


class FeedbackRequest(Strict):
    text: str = Field(min_length=1, max_length=MAX_FEEDBACK_QUERY_CHARS, description="The question asked.")
    member_id: str = MemberId
    helpful: bool = Field(description="Whether this member helped with it.")
    note: str | None = Field(None, max_length=2000)


class ExpertsResponse(BaseModel):
    ok: bool = True
    index_version: str
    nobody_known: bool = Field(
        description="No member has topical evidence above the threshold: the experts listed are only the closest."
    )
    experts: list[Expert]


class BatchResult(BaseModel):
    id: str
    nobody_known: bool
    experts: list[Expert]


class BatchExpertsResponse(BaseModel):
    ok: bool = True
    index_version: str
    results: list[BatchResult]


class ImportRequest(Strict):
    members: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=MAX_IMPORT_RECORDS,
        description="Member records in the native JSONL format, one per item.",
    )
    documents: list[dict[str, Any]] = Field(
        default_factory=list, max_length=MAX_IMPORT_RECORDS, description="Document records in the native JSONL format."
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "members": [{"id": "m900", "name": "New Member", "silo": "Field Operations", "skills": ["pumps"]}],
                    "documents": [
                        {
                            "id": "d9000",
                            "kind": "practice",
                            "title": "Pump start-up checks",
                            "body": "Check rotation, prime the casing, open suction fully.",
                            "authors": ["m900"],
                        }
                    ],
                }
            ]
        },
    )


class ImportResponse(BaseModel):
    ok: bool = True
    members: int
    documents: int
    contributions: int
    new_members: int
    new_documents: int


class JobOut(BaseModel):
    ok: bool = True
    id: str
    kind: str
    status: str
    started_at: str
    finished_at: str | None
    result: dict[str, Any]
    error: str | None
    progress: dict[str, Any]


class ErrorOut(BaseModel):
    ok: bool = False
    error: str
    hint: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
