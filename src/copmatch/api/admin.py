"""Admin routes: index status, background rebuilds and their jobs, JSONL import."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends

from copmatch.api.deps import CommunityDep, JobsDep, admin
from copmatch.api.limits import at_most
from copmatch.api.schemas import DeleteDocumentsRequest, ImportRequest, ImportResponse, JobOut

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(admin)])


@router.get("/index", summary="The snapshot being served, recent builds, store counts")
def index_status(community: CommunityDep, jobs: JobsDep) -> dict:
    running = jobs.running()
    return {"ok": True, **community.index_status(), "running_job": running.id if running else None}


@router.post(
    "/index/rebuild",
    status_code=202,
    response_model=JobOut,
    summary="Start a background rebuild",
    responses={409: {"description": "A rebuild is already running; details.job_id names it."}},
)
def start_rebuild(jobs: JobsDep) -> dict[str, Any]:
    """Queries keep being answered from the current snapshot until the new one is swapped in."""
    return jobs.start().to_dict()


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A rebuild job's progress and result")
def get_job(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    return jobs.get(job_id).to_dict()


@router.post("/import", response_model=ImportResponse, summary="Import native JSONL records (all or nothing)")
def import_records(body: ImportRequest, community: CommunityDep) -> dict[str, Any]:
    """Validated like the JSONL files: a bad record is a 422 naming it, and nothing is written.
    New data is searchable after the next rebuild."""
    for field in ("members", "documents"):
        at_most(field, len(getattr(body, field)), community.settings.api_max_import_records, "api_max_import_records")
    summary = community.import_records(body.members, body.documents, source=body.source)
    return {k: v for k, v in asdict(summary).items() if k != "source"}


@router.post("/documents/delete", summary="Delete documents and their contributions (all or nothing)")
def delete_documents(body: DeleteDocumentsRequest, community: CommunityDep) -> dict[str, Any]:
    """An unknown id is a 404 naming it, and nothing is deleted. The deleted documents leave
    every result after the next rebuild."""
    at_most("ids", len(body.ids), community.settings.api_max_import_records, "api_max_import_records")
    return {"ok": True, "deleted": community.delete_documents(body.ids)}
