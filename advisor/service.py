"""``advisor serve``: recommendation jobs over HTTP (FastAPI), queued in the result store.

* Jobs run one at a time per machine (concurrent energy windows would corrupt each other), each in
  a worker process, so a cancel stops it at once and a crash fails only that job.
* The queue lives in the same SQLite store as the measurements: after a restart, jobs left running
  go back to the queue, and what they had measured is reused.
* Every route but ``/health`` needs ``Authorization: Bearer <token>`` (``$ADVISOR_TOKEN``, else a
  token generated on first start and kept in ``<data-dir>/token``).
* Uploads are bounded in bytes and rows; no request value ever names a file: built-in tasks are
  looked up by name, uploaded samples are written under a job id the server generates.
* Errors are RFC 9457 problem details (``application/problem+json``).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from advisor.store import ResultStore

MAX_BODY_BYTES = 5 * 2**20
MAX_ROWS = 20_000
JOB_ID = r"^[0-9a-f]{32}$"
PROBLEM = "application/problem+json"


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sample(_Req):
    text: str = Field(min_length=1, max_length=20_000)
    label: str = Field(min_length=1, max_length=20_000, description="the class, or the reference answer/summary for generative tasks")


class TaskUpload(_Req):
    """A task defined in the request, with its samples inline (no file paths)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    type: Literal["text-classification", "question-answering", "summarization"] = "text-classification"
    metric: dict[str, Any] = Field(default_factory=lambda: {"name": "accuracy"})
    threshold: float = Field(gt=0, le=1)
    labels: list[str] | None = Field(default=None, max_length=1000)
    folds: int = Field(default=5, ge=2, le=20)
    prompt: dict[str, Any] | None = None
    samples: list[Sample] = Field(min_length=2, max_length=MAX_ROWS)


class JobSettings(_Req):
    """What a job may choose; how energy is metered is the server's choice."""

    min_quality: float | None = Field(default=None, gt=0, le=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    max_drop: float | None = Field(default=None, ge=0, lt=1)
    reference: str | None = Field(default=None, max_length=200)
    by: Literal["energy", "params", "latency"] = "energy"
    sample_size: int | None = Field(default=None, ge=2, le=MAX_ROWS)
    seed: int | None = Field(default=None, ge=0, le=2**31)
    exhaustive: bool = False


class JobRequest(_Req):
    """Exactly one of ``task`` (a built-in task name) or ``upload``."""

    task: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    upload: TaskUpload | None = None
    candidates: list[str] | None = Field(default=None, max_length=200)
    settings: JobSettings = JobSettings()


class Progress(BaseModel):
    candidate: str | None = None
    index: int | None = None
    total: int | None = None
    phase: str | None = None
    done: int | None = None
    of: int | None = None


class Job(BaseModel):
    id: str
    status: Literal["queued", "running", "cancelling", "cancelled", "complete", "failed"]
    created_at: str
    updated_at: str
    progress: Progress | None = None
    run_id: str | None = None
    error: str | None = None
    decision: str | None = None
    model: str | None = None
    summary: str | None = None


def token_for(data_dir: Path) -> str:
    """``$ADVISOR_TOKEN``, else the token kept in ``<data_dir>/token`` (made on first start, readable by the owner only)."""
    env = os.environ.get("ADVISOR_TOKEN")
    if env:
        return env
    path = data_dir / "token"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token


class Worker:
    """Runs queued jobs one at a time, each in its own process; cancels by stopping that process."""

    def __init__(self, data_dir: Path, registry: Path | None, server: dict[str, Any]):
        self.data_dir, self.registry, self.server = data_dir, registry, server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="advisor-worker", daemon=True)

    def start(self) -> None:
        with ResultStore(self.data_dir / "store.sqlite") as store:
            store.requeue_running_jobs()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        with ResultStore(self.data_dir / "store.sqlite") as store:  # one connection for the thread's life
            while not self._stop.is_set():
                job = store.claim_next_job()
                if job is None:
                    self._stop.wait(0.2)
                    continue
                self._run(job["id"], store)

    def _run(self, job_id: str, store: ResultStore) -> None:
        cmd = [sys.executable, "-m", "advisor.service", str(self.data_dir), job_id, json.dumps({"registry": str(self.registry or ""), **self.server})]
        with (self.data_dir / "jobs" / job_id / "worker.log").open("w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            while proc.poll() is None:
                if self._stop.wait(0.25):
                    proc.terminate()
                    return  # left running: requeued on the next start
                if (store.job(job_id) or {}).get("status") == "cancelling":
                    proc.terminate()
                    proc.wait(timeout=30)
                    store.update_job(job_id, status="cancelled")
                    return
        if (store.job(job_id) or {}).get("status") == "running":  # the process died without saying how it ended
            store.update_job(job_id, status="failed", error=f"worker process exited with code {proc.returncode}")


def run_job(data_dir: Path, job_id: str, server: dict[str, Any]) -> None:
    """The worker process: measure one job and record how it ended."""
    with ResultStore(data_dir / "store.sqlite") as store:  # one connection for the process (progress comes on this thread)
        _run_job(store, data_dir, job_id, server)


def _run_job(store: ResultStore, data_dir: Path, job_id: str, server: dict[str, Any]) -> None:
    import advisor
    from advisor.errors import AdvisorError
    from advisor.settings import Settings

    request = JobRequest.model_validate(store.job(job_id)["request"])
    folder = data_dir / "jobs" / job_id
    task = folder / "task" / "task.yaml" if request.upload else request.task
    settings = Settings(**request.settings.model_dump(), candidates=request.candidates, store=store.path, reports_dir=folder / "reports",
                        run_id=f"job-{job_id}", meter=server.get("meter", "codecarbon"), isolate=server.get("isolate", True))

    class Observer:
        last = 0.0

        def candidate_started(self, spec, index, total):
            self.state = {"candidate": spec.name, "index": index, "total": total, "phase": "starting"}
            self._save(force=True)

        def progress(self, spec, phase, done, total):
            self.state.update(phase=phase, done=done, of=total)
            self._save()

        def candidate_finished(self, result):
            self.state.update(phase=result.status)
            self._save(force=True)

        def _save(self, force=False):
            if force or time.monotonic() - self.last > 0.5:
                self.last = time.monotonic()
                store.update_job(job_id, progress=self.state)

    try:
        rec = advisor.recommend(task=task, registry=server.get("registry") or None, settings=settings, observer=Observer())
    except AdvisorError as exc:
        store.update_job(job_id, status="failed", error=str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - recorded on the job, the server goes on
        store.update_job(job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    store.update_job(job_id, status="complete", run_id=rec.run_id)


def _write_upload(folder: Path, upload: TaskUpload) -> None:
    """The uploaded task as a task folder under the job's own folder, validated like any task file."""
    import yaml

    from advisor.tasks import load_task

    task_dir = folder / "task"
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / "samples.jsonl").write_text("".join(json.dumps(s.model_dump()) + "\n" for s in upload.samples), encoding="utf-8")
    spec = {"name": upload.name, "type": upload.type, "data": {"file": "samples.jsonl", "text_field": "text", "label_field": "label"},
            "metric": upload.metric, "threshold": upload.threshold, "folds": upload.folds}
    if upload.labels is not None:
        spec["labels"] = upload.labels
    if upload.prompt is not None:
        spec["prompt"] = upload.prompt
    (task_dir / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    load_task(task_dir / "task.yaml").samples()  # SpecError for a bad task, before it is queued


def create_app(data_dir: Path, registry: Path | None = None, token: str | None = None, server: dict[str, Any] | None = None, worker: bool = True):
    """The FastAPI application; ``worker=False`` serves the API without running jobs (for tests of the API alone)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    token = token or token_for(data_dir)
    store_path = data_dir / "store.sqlite"
    ResultStore(store_path).close()  # a bad store fails at start, not on the first request
    runner = Worker(data_dir, registry, server or {}) if worker else None

    @asynccontextmanager
    async def lifespan(app):
        if runner:
            runner.start()
        yield
        if runner:
            runner.stop()

    app = FastAPI(title="advisor", version="1.0", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None,
                  description="Which is the smallest model that is good enough? Recommendation jobs: submit, poll, fetch results and reports.")
    bearer = HTTPBearer(auto_error=False)

    def problem(status: int, title: str, detail: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"type": "about:blank", "title": title, "status": status, "detail": detail}, status, headers=headers, media_type=PROBLEM)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        return problem(exc.status_code, {401: "Unauthorized", 404: "Not Found", 409: "Conflict", 413: "Payload Too Large"}.get(exc.status_code, "Error"),
                       str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        return problem(422, "Unprocessable Content", f"{where}: {e.get('msg')}" if where else str(e.get("msg")))

    @app.middleware("http")
    async def _bounded(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return problem(413, "Payload Too Large", f"the body may hold at most {MAX_BODY_BYTES} bytes")
        return await call_next(request)

    def authorised(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
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
        from advisor.errors import AdvisorError
        from advisor.tasks import available_tasks

        if (body.task is None) == (body.upload is None):
            raise HTTPException(422, "give exactly one of 'task' (a built-in task name) or 'upload'")
        if body.task is not None and body.task not in available_tasks():
            names = ", ".join(sorted(available_tasks()))
            raise HTTPException(422, f"task: no built-in task '{body.task}' (built in: {names})")
        job_id = uuid.uuid4().hex
        folder = data_dir / "jobs" / job_id
        folder.mkdir(parents=True)
        if body.upload is not None:
            try:
                _write_upload(folder, body.upload)
            except AdvisorError as exc:
                raise HTTPException(422, f"upload: {str(exc).replace(str(folder / 'task') + '/', '')}") from None
        with ResultStore(store_path) as s:
            s.add_job(job_id, body.model_dump(mode="json"))
            return view(s.job(job_id))

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


if __name__ == "__main__":  # the worker process: python -m advisor.service DATA_DIR JOB_ID SERVER_JSON
    run_job(Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))
