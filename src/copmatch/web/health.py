"""Is this community healthy? The health report with its two pictures."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from copmatch.web import charts
from copmatch.web.session import MemberViewer, PageRoute
from copmatch.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/community-health")
def health(request: Request, viewer: MemberViewer) -> Response:
    report = viewer.community.health()
    return render(
        request,
        "health.html",
        report=report,
        matrix=charts.tie_matrix(report),
        degrees=charts.degree_chart(report),
    )
