"""Member-facing routes: experts, batch experts, feedback on experts, member and document lookups."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from copmatch.api.deps import CommunityDep, member
from copmatch.api.schemas import (
    BatchExpertsRequest,
    BatchExpertsResponse,
    ExpertsRequest,
    ExpertsResponse,
    FeedbackRequest,
)
from copmatch.errors import QueryTooLargeError
from copmatch.services.experts import Expert, ExpertQuery, nobody_known
from copmatch.services.keys import ApiKey

router = APIRouter(prefix="/v1", tags=["members"], dependencies=[Depends(member)])


@router.post("/experts", response_model=ExpertsResponse, summary="Who knows about this?")
def experts(body: ExpertsRequest, community: CommunityDep) -> dict[str, Any]:
    """Members ranked for the text, each with the evidence behind their score."""
    query = ExpertQuery(body.text, body.limit, tuple(body.exclude), body.candidates)
    check_size([query], community.settings.api_max_query_chars)
    answers = community.answer_experts([query])
    found = answers.results[0]
    return {"index_version": answers.index_version, "nobody_known": nobody_known(found), "experts": dicts(found)}


@router.post("/experts/batch", response_model=BatchExpertsResponse, summary="Experts for many queries")
def experts_batch(body: BatchExpertsRequest, community: CommunityDep) -> dict[str, Any]:
    """One ranking per query, in order; the texts are encoded together."""
    queries = [ExpertQuery(q.text, body.limit, tuple(q.exclude), q.candidates, q.id) for q in body.queries]
    check_size(queries, community.settings.api_max_query_chars)
    answers = community.answer_experts(queries)
    return {
        "index_version": answers.index_version,
        "results": [
            {"id": q.id, "nobody_known": nobody_known(found), "experts": dicts(found)}
            for q, found in zip(queries, answers.results)
        ],
    }


def check_size(queries: list[ExpertQuery], limit: int) -> None:
    for query in queries:
        if len(query.text) > limit:
            where = f"Query {query.id!r} is" if query.id else "The query is"
            raise QueryTooLargeError(
                f"{where} {len(query.text):,} characters; this API reads up to {limit:,}.",
                hint="Send the question or abstract itself; the CLI (copmatch experts) reads any length.",
            )


def dicts(experts: list[Expert]) -> list[dict[str, Any]]:
    return [e.to_dict() for e in experts]


@router.post("/feedback", status_code=201, summary="Did a suggested expert help with a question?")
def feedback(body: FeedbackRequest, community: CommunityDep, key: Annotated[ApiKey, Depends(member)]) -> dict[str, Any]:
    """Kept for the ranker: the next index build learns from it."""
    given_by = key.member_id or f"key:{key.id}"
    recorded = community.record_feedback(body.text, body.member_id, body.helpful, given_by, body.note)
    return {"ok": True, "feedback": recorded.to_dict()}


@router.get("/members/{member_id}", summary="One member")
def get_member(member_id: str, community: CommunityDep) -> dict[str, Any]:
    return {"ok": True, "member": community.get_member(member_id)}


@router.get("/documents/{document_id}", summary="One document")
def get_document(document_id: str, community: CommunityDep) -> dict[str, Any]:
    return {"ok": True, "document": community.get_document(document_id)}
