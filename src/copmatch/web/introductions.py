"""The broker's queue: introductions by status, their reasons and history, the decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from copmatch.services.brokering.review import STATUSES
from copmatch.web import views
from copmatch.web.session import BrokerForm, BrokerViewer, PageRoute
from copmatch.web.templating import render

router = APIRouter(prefix="/introductions", route_class=PageRoute, include_in_schema=False)
IntroductionId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Note = Annotated[str, Form(max_length=2000)]


@router.get("")
def queue(
    request: Request, viewer: BrokerViewer, status: Annotated[str, Query(max_length=20)] = "suggested"
) -> Response:
    community = viewer.community
    shown = None if status == "all" else status
    introductions = [views.introduction_view(i) for i in community.list_introductions(shown)]
    counts = {s: 0 for s in STATUSES}
    for intro in community.list_introductions():
        counts[intro.status] += 1
    return render(
        request,
        "introductions.html",
        status=status,
        statuses=STATUSES,
        counts=counts,
        introductions=introductions,
        labels=views.DECISION_LABELS,
    )


@router.get("/{introduction_id}")
def detail(request: Request, introduction_id: IntroductionId, viewer: BrokerViewer) -> Response:
    intro = views.introduction_view(viewer.community.get_introduction(introduction_id))
    return render(request, "introduction.html", intro=intro, labels=views.DECISION_LABELS)


@router.post("/suggest")
def suggest(viewer: BrokerForm, limit: Annotated[int, Form(ge=1, le=100)] = 10) -> Response:
    viewer.community.suggest_introductions(limit, broker=viewer.who)
    return RedirectResponse("/introductions?status=suggested", status_code=303)


@router.post("/{introduction_id}/decision")
def decide(
    introduction_id: IntroductionId,
    viewer: BrokerForm,
    decision: Annotated[str, Form(pattern="^(approved|rejected|snoozed|introduced)$")],
    note: Note = "",
) -> Response:
    viewer.community.decide_introduction(
        introduction_id, decision, viewer.who, note.strip() or None, acting_member=viewer.member_id
    )
    return RedirectResponse(f"/introductions/{introduction_id}", status_code=303)


@router.post("/{introduction_id}/outcome")
def outcome(
    introduction_id: IntroductionId,
    viewer: BrokerForm,
    outcome: Annotated[str, Form(pattern="^(helpful|not-helpful)$")],
    note: Note = "",
) -> Response:
    viewer.community.introduction_outcome(
        introduction_id, outcome, viewer.who, note.strip() or None, acting_member=viewer.member_id
    )
    return RedirectResponse(f"/introductions/{introduction_id}", status_code=303)
