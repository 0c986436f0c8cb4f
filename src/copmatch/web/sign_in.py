"""Signing in with an API key, and out."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from copmatch.errors import AuthenticationError, PermissionDeniedError
from copmatch.web.session import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    MemberForm,
    PageRoute,
    community_of,
    new_sign_in_token,
    set_session_cookie,
)
from copmatch.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never an open redirect to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _sign_in_page(request: Request, next_path: str, error: str | None = None, status_code: int = 200) -> Response:
    token = new_sign_in_token()
    response = render(
        request, "sign_in.html", status_code=status_code, sign_in_token=token, next_path=next_path, error=error
    )
    response.set_cookie(
        SIGN_IN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.get("/sign-in")
def sign_in_form(request: Request, next: str | None = None) -> Response:
    return _sign_in_page(request, _safe_next(next))


@router.post("/sign-in")
def sign_in(
    request: Request,
    key: Annotated[str, Form(max_length=500)] = "",
    sign_in_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, sign_in_token):
        raise PermissionDeniedError(
            "This sign-in form was not sent from this site's sign-in page (CSRF token missing or wrong).",
            hint="Open the sign-in page again and sign in from there.",
        )
    community = community_of(request)
    try:
        token, session = community.sign_in(key)
    except AuthenticationError as exc:
        return _sign_in_page(request, _safe_next(next), f"{exc.message} {exc.hint}", status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(request, response, token, int(community.settings.web_session_hours * 3600))
    response.delete_cookie(SIGN_IN_COOKIE)
    return response


@router.post("/sign-out")
def sign_out(request: Request, viewer: MemberForm) -> Response:
    viewer.community.sign_out(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
