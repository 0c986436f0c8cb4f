"""Member-facing routes: experts, batch experts, feedback on experts, member and document lookups."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from copmatch.api.deps import CommunityDep, member
from copmatch.api.limits import at_most, check_query
from copmatch.api.schemas import (
    BatchExpertsRequest,
    BatchExpertsResponse,
    ExpertsRequest,
    ExpertsResponse,
    FeedbackRequest,
)
from copmatch.services.experts import Expert, ExpertQuery, nobody_known
from copmatch.services.keys import ApiKey

router = APIRouter(prefix="/v1", tags=["members"], dependencies=[Depends(member)])


@router.post("/experts", response_model=ExpertsResponse, summary="Who knows about this?")
def experts(body: ExpertsRequest, community: CommunityDep) -> dict[str, Any]:
    """Members ranked for the text, each with the evidence behind their score."""
    check_query(body, community.settings)
    query = ExpertQuery(body.text, body.limit, tuple(body.exclude), body.candidates)
    answers = community.answer_experts([query])
    found = answers.results[0]
    return {"index_version": answers.index_version, "nobody_known": nobody_known(found), "experts": dicts(found)}


@router.post("/experts/batch", response_model=BatchExpertsResponse, summary="Experts for many queries")
def experts_batch(body: BatchExpertsRequest, community: CommunityDep) -> dict[str, Any]:
    """One ranking per query, in order; the texts are encoded together."""
    settings = community.settings
    at_most("queries", len(body.queries), settings.api_max_batch_queries, "api_max_batch_queries")
    at_most("limit", body.limit, settings.max_limit, "max_limit")
    for i, q in enumerate(body.queries):
        check_query(q, settings, f"queries.{i}.")
    queries = [ExpertQuery(q.text, body.limit, tuple(q.exclude), q.candidates, q.id) for q in body.queries]
    answers = community.answer_experts(queries)
    return {
        "index_version": answers.index_version,
        "results": [
            {"id": q.id, "nobody_known": nobody_known(found), "experts": dicts(found)}
            for q, found in zip(queries, answers.results)
        ],
    }


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
