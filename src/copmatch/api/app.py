"""The FastAPI application: one Community per process, thin routes over it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import faiss
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from copmatch.api import admin, brokering, experts
from copmatch.api.body_limit import BodyLimit
from copmatch.api.jobs import RebuildJobs
from copmatch.api.throttle import Throttle
from copmatch.community import Community
from copmatch.errors import CopmatchError, IndexMissingError, TooManyRequestsError
from copmatch.settings import Settings
from copmatch.web import mount_web, not_found_page, wants_page

log = logging.getLogger("copmatch.api")

DESCRIPTION = """Expert matching and knowledge brokering for communities of practice.

Every `/v1` route needs an API key (`X-API-Key: <key>` or `Authorization: Bearer <key>`),
created with `copmatch keys create --role member|broker|admin`. Members query; brokers also
decide introductions; admins also import and rebuild. Every error has one shape:
`{"ok": false, "error": "...", "hint": "...", "details": {...}}`.
"""


def create_app(data_dir: Path, settings: Settings | None = None, community: Community | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Many requests search at once; FAISS's own threads per search would only fight over the cores.
        faiss.omp_set_num_threads(1)
        app.state.community = community or Community(Path(data_dir), settings or Settings())
        app.state.community.enable_query_batching()
        app.state.community.enable_read_ahead()
        app.state.throttle = Throttle(app.state.community.settings)
        app.state.jobs = RebuildJobs(app.state.community)
        yield
        app.state.jobs.wait(timeout_s=60)
        if community is None:
            app.state.community.close()

    # /docs is served by the web package from vendored Swagger UI files (no CDN); no ReDoc.
    app = FastAPI(
        title="copmatch", version="0.1.0", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    limits = community.settings if community is not None else settings or Settings()
    # Outermost: the body limit holds before routing, authentication or parsing.
    app.add_middleware(BodyLimit, max_bytes=limits.api_max_body_bytes)
    app.include_router(experts.router)
    app.include_router(brokering.members_router)
    app.include_router(brokering.brokers_router)
    app.include_router(admin.router)
    _add_health_routes(app)
    _add_error_handlers(app)
    mount_web(app)  # the pages at /, their static files, /docs
    return app


def _add_health_routes(app: FastAPI) -> None:
    @app.get("/health/live", tags=["health"], summary="The process is up")
    def live() -> dict[str, Any]:
        return {"ok": True}

    @app.get(
        "/health/ready",
        tags=["health"],
        summary="An index is loaded and queries can be answered",
        responses={503: {"description": "No intact index can serve (none built yet, or damaged)"}},
    )
    def ready(request: Request) -> JSONResponse:
        community: Community = request.app.state.community
        # Ready means a query can be answered: an intact snapshot is open (the current one,
        # or an older one standing in for a damaged current one, named in "warning").
        try:
            served = community.serving.current()
        except IndexMissingError:
            return _error(503, "No index has been built yet.", "Start one: POST /v1/admin/index/rebuild")
        except CopmatchError as exc:
            return _error(503, exc.message, exc.hint or "Start a rebuild: POST /v1/admin/index/rebuild")
        return JSONResponse({"ok": True, "index_version": served.version, "warning": served.warning})


def _error(status: int, message: str, hint: str = "", details: dict | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"ok": False, "error": message, "hint": hint, "details": details or {}}
    )


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CopmatchError)
    async def copmatch_error(request: Request, exc: CopmatchError) -> JSONResponse:
        # The status comes from the error's class, never from its text.
        response = _error(exc.http_status, exc.message, exc.hint, exc.details)
        if isinstance(exc, TooManyRequestsError):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(RecursionError)
    async def nested_too_deeply(request: Request, exc: RecursionError) -> JSONResponse:
        # Only a hostile body recurses this deep (JSON decoding or validation of it).
        return _error(422, "Invalid request: the JSON body is nested too deeply.", "Send flat records.")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "reason": e.get("msg", "")} for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "request", "reason": "invalid"}
        return _error(
            422,
            f"Invalid request: {first['field']}: {first['reason']}",
            "Fix the named field; the limits are in the OpenAPI schema at /docs.",
            {"errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_page(request):  # a browser on a page path that does not exist
            return not_found_page(request, exc.status_code, str(exc.detail))
        hint = "See the API reference at /docs." if exc.status_code in (404, 405) else ""
        if exc.status_code == 413:
            hint = "Send less per request: split an import into several."
        return _error(exc.status_code, str(exc.detail), hint)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "Internal error.", "This is a bug in copmatch; the server log has the details.")
