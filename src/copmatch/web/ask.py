"""Who knows about …? The member's question, the ranked experts with evidence, and feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from copmatch.errors import InvalidQueryError
from copmatch.services.experts import ExpertQuery
from copmatch.web import views
from copmatch.web.session import MemberForm, MemberViewer, PageRoute
from copmatch.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
ASK_LIMIT = 8  # experts on the page: enough to choose from, few enough to read on a phone


@router.get("/")
def ask_form(request: Request, viewer: MemberViewer) -> Response:
    return render(request, "ask.html", question="", answer=None, error=None)


@router.post("/ask")
def ask(
    request: Request,
    viewer: MemberForm,
    question: Annotated[str, Form(max_length=100_000)] = "",
    fragment: Annotated[bool, Form()] = False,
) -> Response:
    """The whole page; with ``fragment`` (the page's script) only the answer, inserted in place."""
    try:
        found = viewer.community.answer_experts([ExpertQuery(question, ASK_LIMIT)], asked_by=viewer.member_id)
    except InvalidQueryError as exc:
        error = f"{exc.message} {exc.hint}"
        if fragment:
            return render(request, "_ask_error.html", status_code=422, error=error)
        return render(request, "ask.html", status_code=422, question=question, answer=None, error=error)
    answer = views.ask_answer(question, found.results[0], found.index_version)
    if fragment:
        return render(request, "_answer.html", answer=answer)
    return render(request, "ask.html", question=question, answer=answer, error=None)


@router.post("/feedback")
def feedback(
    request: Request,
    viewer: MemberForm,
    question: Annotated[str, Form(min_length=1, max_length=50_000)],
    member_id: Annotated[str, Form(min_length=1, max_length=200)],
    helpful: Annotated[str, Form(pattern="^(yes|no)$")],
    fragment: Annotated[bool, Form()] = False,
) -> Response:
    recorded = viewer.community.record_feedback(question, member_id, helpful == "yes", viewer.who)
    name = viewer.community.get_member(member_id, viewer=viewer.session.key)["name"]
    template = "_feedback_done.html" if fragment else "feedback_done.html"
    return render(request, template, feedback=recorded, name=name)
