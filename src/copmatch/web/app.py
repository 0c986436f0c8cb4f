"""The pages, mounted on the API's FastAPI app so one ``copmatch serve`` serves both."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from copmatch.web import admin, ask, docs, health, introductions, library, sign_in
from copmatch.web.security import SecurityHeaders
from copmatch.web.session import error_page

STATIC_DIR = Path(__file__).parent / "static"
#: Paths of the API (JSON errors); anything else is a page (HTML errors).
API_PREFIXES = ("/v1/", "/health/", "/openapi.json")


def mount_web(app: FastAPI) -> None:
    """Add the pages, their static files, /docs and the security headers to ``app``."""
    for module in (sign_in, ask, library, health, introductions, admin, docs):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeaders)


def wants_page(request: Request) -> bool:
    """An error on this request is shown as a page (a browser asked), not as JSON."""
    path = request.url.path
    return not path.startswith(API_PREFIXES) and "text/html" in request.headers.get("accept", "")


def not_found_page(request: Request, status: int, message: str) -> Response:
    return error_page(request, status, "Not found" if status == 404 else "That did not work", message, "")
