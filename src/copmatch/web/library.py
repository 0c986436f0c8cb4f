"""What the community already holds: related practice, a member's page, a document's page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from copmatch.errors import IndexMissingError, InvalidQueryError
from copmatch.services.practices import KNOWN_KINDS
from copmatch.web.session import MemberForm, MemberViewer, PageRoute
from copmatch.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PRACTICE_LIMIT = 10
RELATED_LIMIT = 5


@router.get("/practices")
def practices(
    request: Request,
    viewer: MemberViewer,
    q: Annotated[str, Query(max_length=4000)] = "",
    kind: Annotated[list[str] | None, Query(max_length=5)] = None,
) -> Response:
    found, error = None, None
    if q.strip():
        try:
            found = viewer.community.practices(q, kinds=kind or None, limit=PRACTICE_LIMIT)
        except InvalidQueryError as exc:
            error = f"{exc.message} {exc.hint}"
    return render(
        request, "practices.html", q=q, kinds=kind or [], known_kinds=KNOWN_KINDS, practices=found, error=error
    )


@router.get("/members/{member_id}")
def member_page(request: Request, member_id: str, viewer: MemberViewer) -> Response:
    viewer.community.get_member(member_id, viewer=viewer.session.key)  # an opted-out member: 404 to others
    profile = viewer.community.member_profile(member_id)
    return render(request, "member.html", profile=profile, own=viewer.member_id == member_id)


@router.post("/members/{member_id}/opt-out")
def set_opt_out(member_id: str, viewer: MemberForm, opt_out: Annotated[str, Form(pattern="^(yes|no)$")]) -> Response:
    # Only the member themself, signed in with a key bound to them, changes their opt-out
    # (the rule is the library's: Community.set_own_opt_out, as for PUT /v1/members/{id}/opt-out).
    viewer.community.set_own_opt_out(viewer.session.key, member_id, opt_out == "yes")
    return RedirectResponse(f"/members/{member_id}", status_code=303)


@router.get("/documents/{document_id}")
def document_page(request: Request, document_id: str, viewer: MemberViewer) -> Response:
    view = viewer.community.document_view(document_id)
    related, related_note = [], None
    try:
        related = viewer.community.practices(like=document_id, limit=RELATED_LIMIT)
    except IndexMissingError:
        related_note = "Related practice appears after the next index rebuild."
    return render(request, "document.html", view=view, related=related, related_note=related_note)
