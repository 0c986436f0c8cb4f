"""Knowledge-brokering routes: related practices, silos, community health, introductions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from copmatch.api.deps import CommunityDep, broker, member
from copmatch.api.limits import at_most, text_at_most
from copmatch.api.schemas import Strict
from copmatch.services.keys import ApiKey

members_router = APIRouter(prefix="/v1", tags=["brokering"], dependencies=[Depends(member)])
brokers_router = APIRouter(prefix="/v1/introductions", tags=["introductions"])
BrokerKey = Annotated[ApiKey, Depends(broker)]
IntroductionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The introduction's id.")]


class PracticesRequest(Strict):
    text: str | None = Field(
        None,
        min_length=1,
        description="The topic, free text.",
        examples=["keeping a chlorine residual at the ends of the network"],
    )
    like: str | None = Field(None, min_length=1, max_length=200, description="Or: a document id to match.")
    kinds: list[Literal["practice", "question", "publication", "answer", "comment"]] | None = Field(
        None,
        max_length=5,
        description="Only these document kinds (default: practices, answered questions, publications).",
    )
    limit: int = Field(10, ge=1, description="How many documents (at most max_limit).")


class SuggestRequest(Strict):
    limit: int = Field(20, ge=1, description="How many new suggestions at most (at most max_limit).")
    per_member: int | None = Field(None, ge=1, le=50, description="Open suggestions allowed per member.")


class DecisionRequest(Strict):
    decision: Literal["approved", "rejected", "snoozed", "introduced"]
    note: str | None = Field(None, max_length=2000)


class OutcomeRequest(Strict):
    outcome: Literal["helpful", "not-helpful"]
    note: str | None = Field(None, max_length=2000)


@members_router.post("/practices", summary="Related practice: documents that already address this")
def practices(body: PracticesRequest, community: CommunityDep) -> dict[str, Any]:
    """One result per document, diversified (MMR), each with the matching passage's snippet."""
    if body.text is not None:
        text_at_most(len(body.text), community.settings.api_max_query_chars)
    found = community.practices(body.text, body.like, body.kinds, body.limit)
    return {"ok": True, "index_version": community.index_version(), "practices": [p.to_dict() for p in found]}


@members_router.get("/silos", summary="Silos and their sizes (imported or inferred, and how)")
def silos(community: CommunityDep) -> dict[str, Any]:
    return {"ok": True, **community.silos().to_dict()}


@members_router.get("/health", summary="Community health: core group, weak ties, silos, unanswered, bus factor")
def health(community: CommunityDep) -> dict[str, Any]:
    return {"ok": True, **community.health().to_dict()}


def _who(key: ApiKey) -> str:
    return key.member_id or f"key:{key.id}"


@brokers_router.get("", summary="Introductions, optionally by status")
def list_introductions(
    community: CommunityDep,
    key: BrokerKey,
    status: Annotated[
        Literal["suggested", "approved", "rejected", "snoozed", "introduced", "closed", "withdrawn"] | None,
        Query(description="Only this status."),
    ] = None,
) -> dict[str, Any]:
    return {"ok": True, "introductions": [i.to_dict() for i in community.list_introductions(status)]}


@brokers_router.post("/suggest", summary="Suggest new cross-silo introductions (stored as suggested)")
def suggest(body: SuggestRequest, community: CommunityDep, key: BrokerKey) -> dict[str, Any]:
    at_most("limit", body.limit, community.settings.max_limit, "max_limit")
    found = community.suggest_introductions(body.limit, body.per_member, broker=_who(key))
    return {"ok": True, "introductions": [i.to_dict() for i in found]}


@brokers_router.get("/{introduction_id}", summary="One introduction with its history")
def get_introduction(introduction_id: IntroductionId, community: CommunityDep, key: BrokerKey) -> dict[str, Any]:
    return {"ok": True, "introduction": community.get_introduction(introduction_id).to_dict()}


@brokers_router.post(
    "/{introduction_id}/decision",
    summary="Approve, reject, snooze, or mark introduced",
    responses={409: {"description": "Not allowed from the introduction's current status."}},
)
def decide(
    introduction_id: IntroductionId, body: DecisionRequest, community: CommunityDep, key: BrokerKey
) -> dict[str, Any]:
    decided = community.decide_introduction(introduction_id, body.decision, _who(key), body.note, key.member_id)
    return {"ok": True, "introduction": decided.to_dict()}


@brokers_router.post(
    "/{introduction_id}/outcome",
    summary="Record whether an introduction helped",
    responses={409: {"description": "Only an introduced pair can get an outcome."}},
)
def outcome(
    introduction_id: IntroductionId, body: OutcomeRequest, community: CommunityDep, key: BrokerKey
) -> dict[str, Any]:
    closed = community.introduction_outcome(introduction_id, body.outcome, _who(key), body.note, key.member_id)
    return {"ok": True, "introduction": closed.to_dict()}
