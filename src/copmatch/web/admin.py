"""The admin's page: the served snapshot and recent builds, a live rebuild, a JSONL upload."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response

from copmatch.errors import ConflictError, CopmatchError, InvalidQueryError
from copmatch.web.session import AdminForm, AdminViewer, PageRoute
from copmatch.web.templating import render

router = APIRouter(prefix="/admin", route_class=PageRoute, include_in_schema=False)
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # per file; the API's import takes 20,000 records


def _jobs(request: Request) -> Any:
    return request.app.state.jobs  # the server's RebuildJobs (api/jobs.py), shared with the API


def _page(request: Request, viewer: Any, status_code: int = 200, **context: Any) -> Response:
    jobs = _jobs(request)
    running = jobs.running()
    job_id = context.pop("job_id", None) or (running.id if running else None)
    job = None
    if job_id:
        try:
            job = jobs.get(job_id).to_dict()
        except CopmatchError:
            job = None
    context.setdefault("imported", None)
    context.setdefault("import_error", None)
    context.setdefault("rebuild_error", None)
    return render(
        request, "admin.html", status_code=status_code, status=viewer.community.index_status(), job=job, **context
    )


@router.get("")
def admin_page(request: Request, viewer: AdminViewer, job: str | None = None) -> Response:
    return _page(request, viewer, job_id=job)


@router.post("/rebuild")
def start_rebuild(request: Request, viewer: AdminForm) -> Response:
    try:
        job = _jobs(request).start()
    except ConflictError as exc:
        return _page(request, viewer, status_code=409, rebuild_error=f"{exc.message} {exc.hint}")
    return RedirectResponse(f"/admin?job={job.id}", status_code=303)


@router.get("/jobs/{job_id}")
def job_status(request: Request, job_id: str, viewer: AdminViewer) -> Response:
    """A rebuild's progress for the page's live view (polled by app.js)."""
    job = _jobs(request).get(job_id).to_dict()
    return JSONResponse({**job, "current": viewer.community.index_version()}, headers={"Cache-Control": "no-store"})


@router.post("/import")
async def import_upload(
    request: Request,
    viewer: AdminForm,
    members: Annotated[UploadFile | None, File()] = None,
    documents: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """All or nothing: a bad record names file:line and nothing is written."""
    try:
        files = {name: await _read(upload) for name, upload in (("members", members), ("documents", documents))}
        if not any(files.values()):
            raise InvalidQueryError("No file was chosen.", hint="Choose a members and/or a documents JSONL file.")
        summary = viewer.community.import_uploads(files["members"], files["documents"])
    except CopmatchError as exc:
        return _page(request, viewer, status_code=exc.http_status, import_error=f"{exc.message} {exc.hint}")
    return _page(request, viewer, imported=summary)


async def _read(upload: UploadFile | None) -> tuple[str, bytes] | None:
    if upload is None or not upload.filename:
        return None
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidQueryError(
            f"{upload.filename} is larger than {MAX_UPLOAD_BYTES // 2**20} MB.",
            hint="Import it from the command line: copmatch import jsonl",
        )
    return upload.filename, data
