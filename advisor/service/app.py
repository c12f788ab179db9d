"""The FastAPI application: routes over the queue in the result store."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from advisor.errors import AdvisorError, did_you_mean
from advisor.service.files import check_token, package_zip, private_dir, tighten, token_for
from advisor.service.guard import Guard
from advisor.service.jobs import Worker
from advisor.service.models import JOB_ID, MAX_OPEN_JOBS, PROBLEM, Job, JobRequest
from advisor.service.uploads import LiveRegistry, builtin_type, candidate_problem, unused_labels, write_upload
from advisor.store import ResultStore

RETRY_AFTER_S = 30
"""What a 429 asks a client to wait before submitting again, in seconds."""


def create_app(
    data_dir: Path, registry: Path | None = None, token: str | None = None, server: dict[str, Any] | None = None, worker: bool = True
):
    """The FastAPI application; ``worker=False`` serves the API without running jobs (for tests of the API alone).

    Raises:
        AdvisorError: the token is too short or its file too open, the store or the registry is unusable.
    """
    data_dir = private_dir(Path(data_dir))
    token = check_token(token, "the token given", "give a longer one") if token else token_for(data_dir)
    store_path = data_dir / "store.sqlite"
    ResultStore(store_path).close()  # a bad store fails at start, not on the first request
    tighten(data_dir)
    jobs_dir = private_dir(data_dir / "jobs")
    known = LiveRegistry(registry)
    known.get()  # a bad registry fails at start too
    runner = Worker(data_dir, registry, server or {}) if worker else None

    @asynccontextmanager
    async def lifespan(app):
        os.umask(0o077)  # whatever the server and its workers write (reports too) is private
        if runner:
            runner.start()
        yield
        if runner:
            runner.stop()

    app = FastAPI(
        title="advisor",
        version="1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        description="Which is the smallest model that is good enough? Recommendation jobs: submit, poll, fetch results and reports.",
    )
    app.add_middleware(Guard, token=token)
    bearer = HTTPBearer(auto_error=False)

    def problem(status: int, title: str, detail: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse(
            {"type": "about:blank", "title": title, "status": status, "detail": detail}, status, headers=headers, media_type=PROBLEM
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        titles = {
            401: "Unauthorized",
            404: "Not Found",
            409: "Conflict",
            413: "Payload Too Large",
            422: "Unprocessable Content",
            429: "Too Many Requests",
            503: "Service Unavailable",
        }
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        return problem(422, "Unprocessable Content", f"{where}: {e.get('msg')}" if where else str(e.get("msg")))

    raw = os.environ.get("ADVISOR_MAX_OPEN_JOBS", "")
    max_open = int(raw) if raw.isdigit() and int(raw) > 0 else MAX_OPEN_JOBS

    def authorised(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        """Also checked by :class:`Guard` before the body is read; kept so the schema states the scheme."""
        if creds is None or not secrets.compare_digest(creds.credentials.encode(), token.encode()):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    def job_or_404(job_id: str) -> dict:
        import re

        if not re.fullmatch(JOB_ID, job_id):
            raise HTTPException(404, f"no job '{job_id[:64]}'")
        with ResultStore(store_path) as s:
            job = s.job(job_id)
        if job is None:
            raise HTTPException(404, f"no job '{job_id}'")
        return job

    def view(job: dict) -> Job:
        out = Job(**{k: job[k] for k in ("id", "status", "created_at", "updated_at", "run_id", "error")}, progress=job["progress"])
        if job["status"] == "complete":
            rec = _results(job)
            if rec:
                out.decision, out.model, out.summary = rec.get("decision"), rec.get("model"), rec.get("summary")
        return out

    def _results(job: dict) -> dict | None:
        path = data_dir / "jobs" / job["id"] / "reports" / f"job-{job['id']}" / "results.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    @app.get("/health", tags=["service"])
    def health() -> dict:
        """Liveness (no token needed)."""
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(authorised)])
    def openapi() -> dict:
        return app.openapi()

    @app.post("/jobs", status_code=202, response_model=Job, dependencies=[Depends(authorised)], tags=["jobs"])
    def submit(body: JobRequest) -> Job:
        """Queue a recommendation job: a built-in task by name, or an uploaded task with its samples."""
        from advisor.spec.tasks import available_tasks

        if (body.task is None) == (body.upload is None):
            raise HTTPException(422, "give exactly one of 'task' (a built-in task name) or 'upload'")
        if body.task is not None and body.task not in available_tasks():
            names = ", ".join(sorted(available_tasks()))
            hint = did_you_mean(body.task, available_tasks())
            raise HTTPException(422, f"task: no built-in task '{body.task}'{hint} (built in: {names})")
        wrong = candidate_problem(body, known, body.upload.type if body.upload else builtin_type(body.task))
        wrong = wrong or (unused_labels(body.upload) if body.upload else None)
        if wrong:
            raise HTTPException(422, wrong)
        job_id = uuid.uuid4().hex
        folder = private_dir(jobs_dir / job_id)
        if body.upload is not None:
            try:
                write_upload(folder, body.upload)
            except AdvisorError as exc:
                raise HTTPException(422, f"upload: {str(exc).replace(str(folder / 'task') + '/', '')}") from None
        with ResultStore(store_path) as s:
            if s.add_job(job_id, body.model_dump(mode="json"), max_open=max_open):
                return view(s.job(job_id))
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(
            429, f"{max_open} jobs are queued or running already; submit again later", headers={"Retry-After": str(RETRY_AFTER_S)}
        )

    @app.get("/jobs", response_model=list[Job], dependencies=[Depends(authorised)], tags=["jobs"])
    def list_jobs(limit: int = 100) -> list[Job]:
        """The newest jobs first."""
        with ResultStore(store_path) as s:
            return [view(j) for j in s.jobs(limit=max(1, min(limit, 1000)))]

    @app.get("/jobs/{job_id}", response_model=Job, dependencies=[Depends(authorised)], tags=["jobs"])
    def get_job(job_id: str) -> Job:
        """Status and progress of one job."""
        return view(job_or_404(job_id))

    @app.get("/jobs/{job_id}/results", dependencies=[Depends(authorised)], tags=["jobs"])
    def results(job_id: str) -> dict:
        """The job's results.json (the recommendation and its evidence) once it is complete."""
        job = job_or_404(job_id)
        rec = _results(job) if job["status"] == "complete" else None
        if rec is None:
            raise HTTPException(409, f"job '{job_id}' is {job['status']}; results come when it is complete")
        return rec

    @app.get("/jobs/{job_id}/report", response_class=HTMLResponse, dependencies=[Depends(authorised)], tags=["jobs"])
    def report(job_id: str) -> HTMLResponse:
        """The job's self-contained HTML report once it is complete."""
        job = job_or_404(job_id)
        path = data_dir / "jobs" / job_id / "reports" / f"job-{job_id}" / "report.html"
        if job["status"] != "complete" or not path.is_file():
            raise HTTPException(409, f"job '{job_id}' is {job['status']}; the report comes when it is complete")
        return HTMLResponse(path.read_text(encoding="utf-8"))

    @app.get(
        "/jobs/{job_id}/package",
        response_class=FileResponse,
        dependencies=[Depends(authorised)],
        tags=["jobs"],
        responses={200: {"content": {"application/zip": {}}}},
    )
    def package(job_id: str, candidate: str | None = None) -> FileResponse:
        """The recommended model (or ``candidate``) as a zipped package (``advisor export``), checked before it is sent."""
        job = job_or_404(job_id)
        if job["status"] != "complete" or _results(job) is None:
            raise HTTPException(409, f"job '{job_id}' is {job['status']}; its model can be exported when it is complete")
        try:
            archive = package_zip(data_dir / "jobs" / job_id, candidate)
        except AdvisorError as exc:
            raise HTTPException(409, str(exc)) from None
        return FileResponse(archive, media_type="application/zip", filename=archive.name)

    @app.delete("/jobs/{job_id}", response_model=Job, dependencies=[Depends(authorised)], tags=["jobs"])
    def cancel(job_id: str) -> Job:
        """Cancel a queued or running job (a running one stops within a second)."""
        job = job_or_404(job_id)
        with ResultStore(store_path) as s:
            if job["status"] == "queued":
                s.update_job(job_id, status="cancelled")
            elif job["status"] == "running":
                s.update_job(job_id, status="cancelling")
            else:
                raise HTTPException(409, f"job '{job_id}' is already {job['status']}")
            return view(s.job(job_id))

    return app
