"""Who is looking at a page: the signed-in session, role checks, CSRF, and the route class
that turns errors into pages (a 403 page, a sign-in redirect, never a traceback)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from copmatch.community import Community
from copmatch.errors import AuthenticationError, CopmatchError, PermissionDeniedError
from copmatch.services.keys import KEY_ROLES
from copmatch.services.web_sessions import WebSession

log = logging.getLogger("copmatch.web")

SESSION_COOKIE = "copmatch_session"
# Before sign-in there is no session to tie a CSRF token to, so the sign-in form uses a
# double-submit token: a random cookie the form must repeat (another site can set neither).
SIGN_IN_COOKIE = "copmatch_sign_in"


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: their session (key, role, member) and the community."""

    session: WebSession
    community: Community

    @property
    def role(self) -> str:
        return self.session.key.role

    @property
    def member_id(self) -> str | None:
        return self.session.key.member_id

    @property
    def who(self) -> str:
        """How decisions are signed: the key's member, else the key's id."""
        return self.member_id or f"key:{self.session.key.id}"

    def may(self, role: str) -> bool:
        return KEY_ROLES.index(self.role) >= KEY_ROLES.index(role)


def community_of(request: Request) -> Community:
    return request.app.state.community


def requires(role: str, form: bool = False) -> Callable[..., Coroutine[Any, Any, Viewer]]:
    """A dependency: the request's signed-in viewer, who must have ``role``. With ``form``
    (every state-changing form), the form's csrf_token must also be the session's."""

    async def dependency(request: Request) -> Viewer:
        community = community_of(request)
        session = community.web_session(request.cookies.get(SESSION_COOKIE))
        viewer = Viewer(session, community)
        request.state.viewer = viewer  # the page header shows who is signed in, even on a 403
        session.key.require(role)
        if form:
            token = (await request.form()).get("csrf_token")
            session.check_csrf(token if isinstance(token, str) else None)
        return viewer

    return dependency


MemberViewer = Annotated[Viewer, Depends(requires("member"))]
BrokerViewer = Annotated[Viewer, Depends(requires("broker"))]
AdminViewer = Annotated[Viewer, Depends(requires("admin"))]
MemberForm = Annotated[Viewer, Depends(requires("member", form=True))]
BrokerForm = Annotated[Viewer, Depends(requires("broker", form=True))]
AdminForm = Annotated[Viewer, Depends(requires("admin", form=True))]


def set_session_cookie(request: Request, response: Response, token: str, max_age_s: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age_s,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(24)


class PageRoute(APIRoute):
    """Routes of the pages: an error becomes a page with the error's status, its message and
    hint (401 on a GET page: to the sign-in page and back), never a JSON body or a 500 trace."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except AuthenticationError as exc:
                if request.method == "GET":
                    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"/sign-in?next={quote(back, safe='/')}", status_code=303)
                return error_page(request, exc.http_status, "Not signed in", exc.message, exc.hint)
            except PermissionDeniedError as exc:
                return error_page(request, 403, "Not allowed", exc.message, exc.hint)
            except CopmatchError as exc:
                return error_page(request, exc.http_status, "That did not work", exc.message, exc.hint)
            except RequestValidationError as exc:
                return error_page(request, 422, "That did not work", _validation_message(exc), "Fix it and try again.")
            except HTTPException as exc:
                return error_page(request, exc.status_code, "That did not work", str(exc.detail), "")
            except Exception:
                log.exception("unhandled error on page %s %s", request.method, request.url.path)
                return error_page(
                    request, 500, "Something broke", "This is a bug in copmatch.", "The server log has the details."
                )

        return page_handler


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "The form is invalid."
    first = errors[0]
    field = str(first.get("loc", ("form",))[-1])
    return f"{field}: {first.get('msg', 'invalid')}"


def error_page(request: Request, status: int, title: str, message: str, hint: str) -> Response:
    from copmatch.web.templating import render

    return render(request, "error.html", status_code=status, title=title, status=status, message=message, hint=hint)
