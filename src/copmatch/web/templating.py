"""Jinja2 templates of the pages (autoescaped: every value a user or an import supplied is
text, never markup) and the page-rendering helper."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from copmatch.web import views

environment = Environment(
    loader=PackageLoader("copmatch.web", "templates"),
    autoescape=select_autoescape(["html"], default_for_string=True, default=True),
    undefined=StrictUndefined,  # a misspelt variable is an error in tests, not a blank on the page
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["percent"] = views.percent
environment.filters["when"] = views.when
environment.globals["nav_items"] = views.nav_items


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    viewer = getattr(request.state, "viewer", None)
    body = environment.get_template(template).render(
        request=request,
        viewer=viewer,
        csrf_token=viewer.session.csrf_token if viewer is not None else "",
        path=request.url.path,
        **context,
    )
    return HTMLResponse(body, status_code=status_code, headers={"Cache-Control": "no-store"})
