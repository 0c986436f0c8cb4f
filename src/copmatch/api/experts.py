"""Member-facing routes: experts, batch experts, feedback on experts, member and document lookups."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from copmatch.api.deps import CommunityDep, member
from copmatch.api.limits import at_most, check_query
from copmatch.api.schemas import (
    BatchExpertsRequest,
    BatchExpertsResponse,
    ExpertsRequest,
    ExpertsResponse,
    FeedbackRequest,
    Strict,
)
from copmatch.errors import NotFoundError
from copmatch.services.experts import Expert, ExpertQuery, nobody_known
from copmatch.services.keys import ApiKey

router = APIRouter(prefix="/v1", tags=["members"], dependencies=[Depends(member)])
MemberKey = Annotated[ApiKey, Depends(member)]


@router.post("/experts", response_model=ExpertsResponse, summary="Who knows about this?")
def experts(body: ExpertsRequest, community: CommunityDep, key: MemberKey) -> dict[str, Any]:
    """Members ranked for the text, each with the evidence behind their score (never the
    member the key is bound to)."""
    check_query(body, community.settings)
    query = ExpertQuery(body.text, body.limit, tuple(body.exclude), body.candidates)
    answers = community.answer_experts([query], asked_by=key.member_id)
    found = answers.results[0]
    return {"index_version": answers.index_version, "nobody_known": nobody_known(found), "experts": dicts(found)}


@router.post("/experts/batch", response_model=BatchExpertsResponse, summary="Experts for many queries")
def experts_batch(body: BatchExpertsRequest, community: CommunityDep, key: MemberKey) -> dict[str, Any]:
    """One ranking per query, in order; the texts are encoded together."""
    settings = community.settings
    at_most("queries", len(body.queries), settings.api_max_batch_queries, "api_max_batch_queries")
    at_most("limit", body.limit, settings.max_limit, "max_limit")
    for i, q in enumerate(body.queries):
        check_query(q, settings, f"queries.{i}.")
    queries = [ExpertQuery(q.text, body.limit, tuple(q.exclude), q.candidates, q.id) for q in body.queries]
    answers = community.answer_experts(queries, asked_by=key.member_id)
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
def feedback(body: FeedbackRequest, community: CommunityDep, key: MemberKey) -> dict[str, Any]:
    """Kept for the ranker: the next index build learns from it."""
    given_by = key.member_id or f"key:{key.id}"
    recorded = community.record_feedback(body.text, body.member_id, body.helpful, given_by, body.note)
    return {"ok": True, "feedback": recorded.to_dict()}


@router.get("/members/{member_id}", summary="One member (one who opted out: only to themself and admins)")
def get_member(member_id: str, community: CommunityDep, key: MemberKey) -> dict[str, Any]:
    return {"ok": True, "member": community.get_member(member_id, viewer=key)}


@router.get(
    "/me",
    summary="The member this key is bound to",
    responses={404: {"description": "The key is bound to no member (keys create --member ID)."}},
)
def get_me(community: CommunityDep, key: MemberKey) -> dict[str, Any]:
    if key.member_id is None:
        raise NotFoundError(
            f"Your key ({key.id}) is bound to no member.",
            hint="Ask an admin for a key of your own: copmatch keys create --role member --member YOUR_ID",
        )
    return {"ok": True, "member": community.get_member(key.member_id, viewer=key)}


class OptOutRequest(Strict):
    opt_out: bool = Field(description="true: never suggested, listed or named to others; false: back in.")


@router.put(
    "/members/{member_id}/opt-out",
    summary="Opt your own profile out of (or back into) suggestions, reports and lookups",
    responses={403: {"description": "The key is not bound to this member (and is not an admin's)."}},
)
def set_opt_out(member_id: str, body: OptOutRequest, community: CommunityDep, key: MemberKey) -> dict[str, Any]:
    """Opting out withdraws the member's open introductions."""
    return {"ok": True, "member": community.set_own_opt_out(key, member_id, body.opt_out)}


@router.get("/documents/{document_id}", summary="One document")
def get_document(document_id: str, community: CommunityDep) -> dict[str, Any]:
    return {"ok": True, "document": community.get_document(document_id)}
