"""``advisor serve``: recommendation jobs over HTTP (FastAPI), queued in the result store.

* Jobs run one at a time per machine (concurrent energy windows would corrupt each other), each in
  a worker process, so a cancel stops it at once and a crash fails only that job.
* A worker dies with the server (Linux: ``PR_SET_PDEATHSIG``), even one killed with SIGKILL, and
  takes its own child processes along (it leads its own process group).
* The queue lives in the same SQLite store as the measurements. A job has an owner (the worker's
  pid) with a heartbeat: on start the server kills workers orphaned by a previous server, then
  requeues only the jobs whose owner is gone, so two workers never measure one job; a stale
  owner's writes are refused. What a requeued job had measured is reused.
* Every route but ``/health`` needs ``Authorization: Bearer <token>`` (``$ADVISOR_TOKEN``, else a
  token generated on first start and kept in ``<data-dir>/token``; at least 32 characters, and the
  file readable by its owner only). The token is checked from the headers before any byte of the
  body is read.
* Bodies are counted as they arrive (chunked ones too) and cut off with 413 past
  ``MAX_BODY_BYTES``; rows are bounded; uploads are validated at submit (labels that occur,
  candidates the registry knows). No request value ever names a file: built-in tasks are looked up
  by name, uploaded samples are written under a job id the server generates.
* The data folder is private whatever the umask: folders 0700, files 0600 (the server and its
  workers run with umask 077).
* Errors are RFC 9457 problem details (``application/problem+json``).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.exceptions import HTTPException

from advisor.errors import AdvisorError, did_you_mean
from advisor.kinds import TASK_TYPES
from advisor.settings import Settings
from advisor.store import HEARTBEAT_S, ResultStore, StaleOwner
from advisor.supervisor import Heartbeat, end_group_with_parent, kill_tree, owner_alive, parent_of, process_cmdline

MAX_BODY_BYTES = 5 * 2**20
MIN_TOKEN_CHARS = 32
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
    type: Literal[tuple(TASK_TYPES)] = "text-classification"  # type: ignore[valid-type]
    metric: dict[str, Any] = Field(default_factory=lambda: {"name": "accuracy"})
    threshold: float = Field(gt=0, le=1)
    labels: list[str] | None = Field(default=None, max_length=1000)
    folds: int = Field(default=5, ge=2, le=20)
    prompt: dict[str, Any] | None = None
    samples: list[Sample] = Field(min_length=2, max_length=MAX_ROWS)


JOB_FIELDS = (
    "min_quality",
    "confidence",
    "max_drop",
    "reference",
    "by",
    "sample_size",
    "max_samples",
    "seed",
    "exhaustive",
    "max_latency_ms",
    "queries_per_second",
    "serving",
)
"""The settings a job may choose (how energy is metered, and where, stay the server's choice)."""

_SERVICE_LIMITS = {
    "sample_size": [annotated_types.Le(MAX_ROWS)],
    "max_samples": [annotated_types.Le(MAX_ROWS)],
    "reference": [annotated_types.MaxLen(200)],
    "seed": [annotated_types.Ge(0), annotated_types.Le(2**31)],
}
"""Bounds the service adds to the settings' own, for requests from the network."""


def _job_settings() -> type[BaseModel]:
    """The job settings model, derived from :class:`advisor.settings.Settings` (types, bounds, defaults, descriptions)."""
    fields = {}
    for name in JOB_FIELDS:
        f = Settings.model_fields[name]
        meta = [*f.metadata, *_SERVICE_LIMITS.get(name, [])]
        annotation = Annotated[(f.annotation, *meta)] if meta else f.annotation
        fields[name] = (annotation, Field(default=f.default, description=f.description))
    return create_model(
        "JobSettings", __base__=_Req, __doc__="What a job may choose; how energy is metered is the server's choice.", **fields
    )


JobSettings = _job_settings()


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


# -- the data folder: private whatever the umask ------------------------------------------------------


def _private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (0700), created with its parents when missing."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o777 != 0o700:
        path.chmod(0o700)
    return path


def _private_opener(path: str, flags: int) -> int:
    """An ``opener`` for :func:`open`: the file is created (or cut down to) mode 0600."""
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def _write_private(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", opener=_private_opener) as f:
        f.write(text)


def _tighten(data_dir: Path) -> None:
    """Files a previous version (or another umask) left readable by others: the store and the token."""
    for name in ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "token"):
        path = data_dir / name
        if path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o077:
            path.chmod(0o600)


# -- the token -----------------------------------------------------------------------------------------


def _check_token(token: str, where: str, fix: str) -> str:
    if len(token) < MIN_TOKEN_CHARS:
        raise AdvisorError(f"{where}: the token has {len(token)} characters, fewer than {MIN_TOKEN_CHARS}; {fix}")
    return token


def token_for(data_dir: Path) -> str:
    """``$ADVISOR_TOKEN``, else the token kept in ``<data_dir>/token`` (made on first start, readable by the owner only).

    Raises:
        AdvisorError: the token is shorter than ``MIN_TOKEN_CHARS``, or the token file can be read
            or written by other users; the message names the fix.
    """
    new = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    env = os.environ.get("ADVISOR_TOKEN")
    if env:
        return _check_token(env.strip(), "$ADVISOR_TOKEN", f"set a longer one, e.g. export ADVISOR_TOKEN=$({new})")
    path = data_dir / "token"
    if path.is_file():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise AdvisorError(
                f"{path}: the token file is open to other users (mode {mode:04o}); make it readable by its owner only: chmod 600 {path}"
            )
        return _check_token(
            path.read_text(encoding="utf-8").strip(),
            str(path),
            f"write a longer one ({new} > {path}) or delete the file to have one generated",
        )
    _private_dir(data_dir)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token


# -- the guard: authentication and the body limit, before the application reads anything -------------


class _BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"the body may hold at most {MAX_BODY_BYTES} bytes")


DRAIN_BYTES = 64 * 2**20
DRAIN_S = 30.0
"""After refusing a request whose body it will not read (401, 413), the server still takes and discards up to
this much more of that body, for up to this long: a client that sends its whole body before it reads the answer
(most HTTP libraries) then reads the status instead of a connection reset. Nothing is kept, so memory stays flat."""


async def _drain(receive, limit_bytes: int = DRAIN_BYTES, limit_s: float = DRAIN_S) -> None:
    """Read and discard the rest of a request body, within ``limit_bytes`` and ``limit_s``."""
    loop = asyncio.get_running_loop()
    deadline, got = loop.time() + limit_s, 0
    while got <= limit_bytes:
        try:
            message = await asyncio.wait_for(receive(), timeout=max(0.0, deadline - loop.time()))
        except (asyncio.TimeoutError, OSError):
            return
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        got += len(message.get("body", b""))


async def _send_problem(send, status: int, title: str, detail: str, headers: dict[str, str] | None = None, drain=None) -> None:
    """Answer with an RFC 9457 problem. With ``drain`` (the request's receive), the whole answer is sent first and
    the unread request body discarded after it (:data:`DRAIN_BYTES`), before the connection is closed."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    raw = [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(b"connection", b"close")] if drain is not None else []
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    if drain is None:
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.body", "body": body, "more_body": True})  # on the wire, complete by its length
    await _drain(drain)
    await send({"type": "http.response.body", "body": b""})


class Guard:
    """Pure ASGI middleware in front of the application.

    1. Every request but those to ``open_paths`` needs ``Authorization: Bearer <token>``; it is
       checked from the headers alone, so a request without it gets 401 before a byte of its body
       is read or parsed.
    2. The body is counted as the application receives it, chunked bodies included: past
       ``max_body`` bytes the request is answered 413 and nothing more is read (a declared
       Content-Length over the limit is refused before reading).
    """

    def __init__(self, app, token: str, max_body: int = MAX_BODY_BYTES, open_paths: tuple[str, ...] = ("/health",)):
        self.app, self.token, self.max_body, self.open_paths = app, token.encode(), max_body, open_paths

    def _authorised(self, headers: list[tuple[bytes, bytes]]) -> bool:
        value = next((v for k, v in headers if k.lower() == b"authorization"), b"")
        scheme, _, credentials = value.strip().partition(b" ")
        return scheme.lower() == b"bearer" and secrets.compare_digest(credentials.strip(), self.token)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = scope.get("headers") or []
        if scope.get("path") not in self.open_paths and not self._authorised(headers):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _send_problem(
                send, 401, "Unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}, drain=receive
            )
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in headers if k.lower() == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _send_problem(send, 413, "Payload Too Large", f"the body may hold at most {self.max_body} bytes", drain=receive)
            return

        received, over, started = 0, False, False

        async def counted():
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    over = True
                    raise _BodyTooLarge()
            return message

        async def guarded(message) -> None:
            nonlocal started
            if over:
                return  # whatever the application answers to a cut-off body, the answer is the 413 below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _send_problem(send, 413, "Payload Too Large", f"the body may hold at most {self.max_body} bytes", drain=receive)


# -- the worker: one job at a time, each in a process of its own ----------------------------------------


def _orphaned_worker(pid: int, job_id: str) -> bool:
    """Whether ``pid`` is a worker process of ``job_id`` whose server is gone (judged from ``/proc``)."""
    args = process_cmdline(pid)
    if args is None:  # no /proc: a live owner whose heartbeat is recent is taken to be the worker
        return False
    if job_id not in args or "advisor.service" not in args:
        return False  # the pid now belongs to something else: the worker is gone
    try:
        parent = int(args[-1])
    except ValueError:
        return True
    ppid = os.getppid() if pid == os.getpid() else parent_of(pid)
    return not (parent != os.getpid() and ppid == parent and owner_alive(parent))  # a live server's own worker is not orphaned


def recover_jobs(store: ResultStore) -> int:
    """On server start: kill workers orphaned by a previous server, then requeue the jobs whose owner is gone.

    Returns how many jobs went back to the queue. A job whose owner cannot be killed stays as it is.
    """
    for job in store.unfinished_jobs():
        pid = job["owner_pid"]
        if pid is None or pid == os.getpid() or not owner_alive(pid, job["heartbeat_at"]):
            continue
        no_proc = process_cmdline(pid) is None
        fresh = job["heartbeat_at"] is not None and time.time() - job["heartbeat_at"] < 6 * HEARTBEAT_S
        if (_orphaned_worker(pid, job["id"]) or (no_proc and fresh)) and not kill_tree(pid):
            print(f"advisor: job {job['id']}: its previous worker (pid {pid}) could not be stopped; the job stays running", file=sys.stderr)
    return store.requeue_running_jobs()


class Worker:
    """Runs queued jobs one at a time, each in its own process; cancels by stopping that process."""

    def __init__(self, data_dir: Path, registry: Path | None, server: dict[str, Any]):
        self.data_dir, self.registry, self.server = data_dir, registry, server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="advisor-worker", daemon=True)

    def start(self) -> None:
        with ResultStore(self.data_dir / "store.sqlite") as store:
            recover_jobs(store)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=20)

    def _loop(self) -> None:
        with ResultStore(self.data_dir / "store.sqlite") as store:  # one connection for the thread's life
            while not self._stop.is_set():
                job = store.claim_next_job()
                if job is None:
                    self._stop.wait(0.2)
                    continue
                self._run(job["id"], store)

    @staticmethod
    def _end(proc: subprocess.Popen) -> None:
        proc.terminate()  # the worker ends its own group on SIGTERM
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid, grace_s=2.0)
            proc.wait()

    def _run(self, job_id: str, store: ResultStore) -> None:
        me = os.getpid()
        cmd = [
            sys.executable,
            "-m",
            "advisor.service",
            str(self.data_dir),
            job_id,
            json.dumps({"registry": str(self.registry or ""), **self.server}),
            str(me),
        ]
        folder = _private_dir(self.data_dir / "jobs" / job_id)
        try:
            with open(folder / "worker.log", "w", opener=_private_opener) as log:
                # a session of its own: the worker can end its children as a group, and a Ctrl-C meant for the server stays there
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            store.update_job(job_id, owner=me, status="failed", error=f"the worker process could not start ({exc})")
            return
        owners = (proc.pid, me)
        while proc.poll() is None:
            if self._stop.wait(0.25):
                self._end(proc)
                store.requeue_job(job_id, owner=owners)  # the server is stopping: measured again on the next start
                return
            if (store.job(job_id) or {}).get("status") == "cancelling":
                self._end(proc)
                try:
                    store.update_job(job_id, owner=owners, status="cancelled")
                except StaleOwner:
                    pass
                return
        job = store.job(job_id) or {}
        if job.get("status") in ("running", "cancelling") and job.get("owner_pid") in owners:  # it died without saying how it ended
            ended = "cancelled" if job["status"] == "cancelling" else "failed"
            try:
                store.update_job(
                    job_id,
                    owner=owners,
                    status=ended,
                    error=None if ended == "cancelled" else f"worker process exited with code {proc.returncode}",
                )
            except StaleOwner:
                pass


def run_job(data_dir: Path, job_id: str, server: dict[str, Any], parent: int | None = None, on_lost=None) -> None:
    """The worker process: take the job over from the server ``parent``, measure it and record how it ended.

    A heartbeat keeps the ownership fresh; ``on_lost`` is called if the job is taken from this process.
    """
    me = os.getpid()
    with ResultStore(data_dir / "store.sqlite") as store:  # one connection for the process (progress comes on this thread)
        if not store.take_job(job_id, me, from_pid=parent):
            print(f"job {job_id} is not running under this worker's server; not measuring it", file=sys.stderr)
            return
        beat = Heartbeat(lambda: ResultStore(store.path), lambda s: s.heartbeat_job(job_id, me), HEARTBEAT_S, on_lost=on_lost)
        with beat:
            try:
                _run_job(store, data_dir, job_id, server, owner=me)
            except StaleOwner as exc:
                print(f"stopped: {exc}", file=sys.stderr)


def _run_job(store: ResultStore, data_dir: Path, job_id: str, server: dict[str, Any], owner: int | None = None) -> None:
    import advisor
    from advisor.settings import Settings

    request = JobRequest.model_validate(store.job(job_id)["request"])
    folder = data_dir / "jobs" / job_id
    task = folder / "task" / "task.yaml" if request.upload else request.task
    settings = Settings(
        **request.settings.model_dump(),
        candidates=request.candidates,
        store=store.path,
        reports_dir=folder / "reports",
        run_id=f"job-{job_id}",
        meter=server.get("meter", "codecarbon"),
        isolate=server.get("isolate", True),
    )

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
                store.update_job(job_id, owner=owner, progress=self.state)

    try:
        rec = advisor.recommend(task=task, registry=server.get("registry") or None, settings=settings, observer=Observer())
    except StaleOwner:
        raise
    except AdvisorError as exc:
        store.update_job(job_id, owner=owner, status="failed", error=str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - recorded on the job, the server goes on
        store.update_job(job_id, owner=owner, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    store.update_job(job_id, owner=owner, status="complete", run_id=rec.run_id)


# -- submit-time checks ------------------------------------------------------------------------------------


def _write_upload(folder: Path, upload: TaskUpload) -> None:
    """The uploaded task as a task folder under the job's own folder (private), validated like any task file."""
    import yaml

    from advisor.tasks import load_task

    task_dir = _private_dir(folder / "task")
    _write_private(task_dir / "samples.jsonl", "".join(json.dumps(s.model_dump()) + "\n" for s in upload.samples))
    spec = {
        "name": upload.name,
        "type": upload.type,
        "data": {"file": "samples.jsonl", "text_field": "text", "label_field": "label"},
        "metric": upload.metric,
        "threshold": upload.threshold,
        "folds": upload.folds,
    }
    if upload.labels is not None:
        spec["labels"] = upload.labels
    if upload.prompt is not None:
        spec["prompt"] = upload.prompt
    _write_private(task_dir / "task.yaml", yaml.safe_dump(spec, sort_keys=False))
    load_task(task_dir / "task.yaml").samples()  # SpecError for a bad task, before it is queued


def _unused_labels(upload: TaskUpload) -> str | None:
    """The problem with declared classes that no sample carries, or None."""
    if upload.type != "text-classification" or not upload.labels:
        return None
    present = {s.label for s in upload.samples}
    missing = [label for label in dict.fromkeys(upload.labels) if label not in present]
    if not missing:
        return None
    names = ", ".join(f"'{m}'" for m in missing)
    return (
        f"upload.labels: {names} never {'occurs' if len(missing) == 1 else 'occur'} in the samples; "
        "remove it from labels or add samples with that label"
    )


class _Registry:
    """The server's registry, read again when its file changes."""

    def __init__(self, path: Path | None):
        self.path, self._key, self._reg = path, None, None

    def get(self):
        from advisor.registry import default_registry_path, load_registry

        path = Path(self.path) if self.path else default_registry_path()
        try:
            key = (path, path.stat().st_mtime_ns)
        except OSError:
            key = (path, None)
        if key != self._key or self._reg is None:
            self._reg, self._key = load_registry(path), key
        return self._reg


def _candidate_problem(body: JobRequest, registry: _Registry, task_type: str | None) -> str | None:
    """Names the request gives that the server's registry does not know (with a did-you-mean), or None."""
    try:
        reg = registry.get()
    except AdvisorError:
        raise HTTPException(503, "the server's registry cannot be read; tell its operator") from None
    by_name = {c.name: c for c in reg.candidates}
    known = ", ".join(by_name)
    reference = [body.settings.reference] if body.settings.reference else []
    for field, names in (("candidates", body.candidates or []), ("settings.reference", reference)):
        for name in names:
            if name not in by_name:
                return f"{field}: no candidate named '{name}'{did_you_mean(name, by_name)}; known: {known}"
    if task_type is not None:
        pool = [by_name[n] for n in body.candidates] if body.candidates else list(by_name.values())
        if not any(task_type in c.task_types for c in pool):
            serving = ", ".join(n for n, c in by_name.items() if task_type in c.task_types) or "none"
            return f"candidates: none of them serves task type '{task_type}'; candidates that do: {serving}"
    return None


def _builtin_type(name: str) -> str | None:
    from advisor.tasks import available_tasks, load_task

    try:
        return load_task(available_tasks()[name]).spec.type
    except (AdvisorError, KeyError, OSError):
        return None


def create_app(
    data_dir: Path, registry: Path | None = None, token: str | None = None, server: dict[str, Any] | None = None, worker: bool = True
):
    """The FastAPI application; ``worker=False`` serves the API without running jobs (for tests of the API alone).

    Raises:
        AdvisorError: the token is too short or its file too open, the store or the registry is unusable.
    """
    data_dir = _private_dir(Path(data_dir))
    token = _check_token(token, "the token given", "give a longer one") if token else token_for(data_dir)
    store_path = data_dir / "store.sqlite"
    ResultStore(store_path).close()  # a bad store fails at start, not on the first request
    _tighten(data_dir)
    jobs_dir = _private_dir(data_dir / "jobs")
    known = _Registry(registry)
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
            503: "Service Unavailable",
        }
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        return problem(422, "Unprocessable Content", f"{where}: {e.get('msg')}" if where else str(e.get("msg")))

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
        from advisor.tasks import available_tasks

        if (body.task is None) == (body.upload is None):
            raise HTTPException(422, "give exactly one of 'task' (a built-in task name) or 'upload'")
        if body.task is not None and body.task not in available_tasks():
            names = ", ".join(sorted(available_tasks()))
            hint = did_you_mean(body.task, available_tasks())
            raise HTTPException(422, f"task: no built-in task '{body.task}'{hint} (built in: {names})")
        wrong = _candidate_problem(body, known, body.upload.type if body.upload else _builtin_type(body.task))
        wrong = wrong or (_unused_labels(body.upload) if body.upload else None)
        if wrong:
            raise HTTPException(422, wrong)
        job_id = uuid.uuid4().hex
        folder = _private_dir(jobs_dir / job_id)
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


def _worker_main(argv: list[str]) -> None:
    """``python -m advisor.service DATA_DIR JOB_ID SERVER_JSON [SERVER_PID]``: the worker process of one job."""
    parent = int(argv[4]) if len(argv) > 4 else None
    end_group_with_parent(parent)
    os.umask(0o077)
    run_job(Path(argv[1]), argv[2], json.loads(argv[3]), parent=parent, on_lost=lambda: os.kill(os.getpid(), signal.SIGTERM))


if __name__ == "__main__":
    _worker_main(sys.argv)
