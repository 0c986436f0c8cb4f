"""The API's reference at /docs, with Swagger UI served from the package (no CDN)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from copmatch.web.security import content_security_policy, inline_script_hashes

router = APIRouter(include_in_schema=False)
ASSETS = "/static/swagger-ui"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
    )
    html = bytes(page.body).decode("utf-8")
    # FastAPI starts Swagger UI with an inline script: allowed by its hash, nothing else inline.
    page.headers["content-security-policy"] = content_security_policy(inline_script_hashes(html))
    return page
