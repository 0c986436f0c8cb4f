"""Request and response bodies of the HTTP API.

Limits that are settings (text length, ``limit``, batch size, id lists, import size) are
checked against the server's own ``Settings`` when a request arrives (``api/limits.py`` and
the library's own validation), so a server started with other limits enforces those; the
schema's field descriptions name the setting and its default.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from copmatch.services.experts import Expert
from copmatch.services.feedback import MAX_FEEDBACK_QUERY_CHARS
from copmatch.settings import Settings

_DEFAULTS = Settings()

MemberId = Field(min_length=1, max_length=200)


class Strict(BaseModel):
    # strict: "5" is not a limit and true is not 1; no value is coerced from another type.
    model_config = ConfigDict(extra="forbid", strict=True)


class ExpertsRequest(Strict):
    text: str = Field(
        min_length=1,
        description=f"The topic or question, free text, read whole (a long question or a pasted abstract is read "
        f"in windows); at most api_max_query_chars, default {_DEFAULTS.api_max_query_chars:,} (413 beyond).",
        examples=["Our booster pump vibrates after a bearing change"],
    )
    limit: int = Field(
        10,
        ge=1,
        description=f"How many experts to return (ignored with candidates; at most max_limit, default "
        f"{_DEFAULTS.max_limit}).",
    )
    exclude: list[str] = Field(
        default_factory=list,
        description=f"Member ids never returned (at most api_max_ids, default {_DEFAULTS.api_max_ids}).",
    )
    candidates: list[str] | None = Field(
        None, description="Rank only these members; every one is returned, scored (at most api_max_ids)."
    )


class BatchQuery(Strict):
    id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)
    candidates: list[str] | None = None


class BatchExpertsRequest(Strict):
    queries: list[BatchQuery] = Field(
        min_length=1, description=f"At most api_max_batch_queries (default {_DEFAULTS.api_max_batch_queries})."
    )
    limit: int = Field(10, ge=1)

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
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
        description="No member has topical evidence above knows_threshold: the members listed are only the closest."
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
        description="Member records in the native JSONL format, one per item "
        f"(at most api_max_import_records, default {_DEFAULTS.api_max_import_records}).",
    )
    documents: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Document records in the native JSONL format (at most api_max_import_records).",
    )
    source: str = Field(
        "native",
        min_length=1,
        max_length=64,
        description="The records' source; another source's records are never overwritten.",
    )

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
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


class DeleteDocumentsRequest(Strict):
    ids: list[str] = Field(min_length=1, description="Ids of the documents to delete (at most api_max_import_records).")


class ImportResponse(BaseModel):
    ok: bool = True
    source_name: str = "native"
    id_prefix: str = ""
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
