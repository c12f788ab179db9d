"""The job queue's worker: one job at a time, each in a process of its own; recovery after a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.measure.supervisor import Heartbeat, end_group_with_parent, kill_tree, owner_alive, parent_of, process_cmdline
from advisor.service.files import private_dir, private_opener
from advisor.service.models import JobRequest
from advisor.store import HEARTBEAT_S, ResultStore, StaleOwner

DRAIN_S = 10.0
"""How long a stopping server (SIGTERM, Ctrl-C) lets the running job finish before it stops it and puts it back in the
queue (``$ADVISOR_DRAIN_S`` changes it): a job that ends within it is not started a second time after the restart."""
RUN_STARTED, RUN_ENDED = "run started", "run ended"
"""The lines a job's worker writes to the job's ``worker.log`` (kept across restarts) when its run starts and ends."""


def drain_seconds() -> float:
    """``$ADVISOR_DRAIN_S``, else :data:`DRAIN_S`.

    Raises:
        AdvisorError: it is set to anything but a number of seconds, 0 or more (the server refuses to start).
    """
    given = os.environ.get("ADVISOR_DRAIN_S", "").strip()
    if not given:
        return DRAIN_S
    try:
        value = float(given)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise AdvisorError(f"ADVISOR_DRAIN_S={given!r} is not a number of seconds (0 or more); unset it for the default {DRAIN_S:g} s")
    return value


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

    def __init__(self, data_dir: Path, registry: Path | None, server: dict[str, Any], drain_s: float | None = None):
        self.data_dir, self.registry, self.server = data_dir, registry, server
        self.drain_s = drain_seconds() if drain_s is None else drain_s
        self._draining, self._stop = threading.Event(), threading.Event()
        self._current: str | None = None
        self._thread = threading.Thread(target=self._loop, name="advisor-worker", daemon=True)

    def start(self) -> None:
        with ResultStore(self.data_dir / "store.sqlite") as store:
            recover_jobs(store)
        self._thread.start()

    def stop(self) -> None:
        """Claim no further job; let the running one finish for up to :attr:`drain_s`, then stop it and put it back
        in the queue (it resumes from its stored measurements on the next start)."""
        self._draining.set()
        if self._current is not None and self.drain_s > 0:
            print(f"advisor serve: stopping; job {self._current} may finish first (up to {self.drain_s:g} s)", file=sys.stderr)
        self._thread.join(timeout=self.drain_s)  # an idle loop ends within 0.2 s
        self._stop.set()
        self._thread.join(timeout=20)

    def _loop(self) -> None:
        with ResultStore(self.data_dir / "store.sqlite") as store:  # one connection for the thread's life
            while not self._draining.is_set():
                job = store.claim_next_job()
                if job is None:
                    self._draining.wait(0.2)
                    continue
                self._current = job["id"]
                try:
                    self._run(job["id"], store)
                finally:
                    self._current = None

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
        folder = private_dir(self.data_dir / "jobs" / job_id)
        try:
            with open(folder / "worker.log", "a", opener=private_opener) as log:  # a job run again adds to it
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
        if job.get("status") == "running" and job.get("owner_pid") in owners and proc.returncode in STOPPED:
            # told to stop from outside (a service manager stops every process of the service, the worker too):
            # not a failure of the job, which goes back in the queue and resumes from what it measured
            _requeued(store, job_id, owners, f"its worker was stopped by a signal (exit {proc.returncode})")
            return
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


STOPPED = {-sig for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)} | {
    128 + sig for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
}
"""Exit statuses of a worker that was told to stop (killed by, or exiting on, SIGTERM, SIGINT or SIGHUP)."""


def _requeued(store: ResultStore, job_id: str, owners: tuple[int, int], why: str) -> None:
    if not store.requeue_job(job_id, owner=owners):
        return  # another process owns it now, or it ended after all
    print(f"advisor serve: job {job_id} back in the queue: {why}", file=sys.stderr)


def run_job(data_dir: Path, job_id: str, server: dict[str, Any], parent: int | None = None, on_lost=None) -> None:
    """The worker process: take the job over from the server ``parent``, measure it and record how it ended.

    A heartbeat keeps the ownership fresh; ``on_lost`` is called if the job is taken from this process.
    """
    me = os.getpid()
    with ResultStore(data_dir / "store.sqlite") as store:  # one connection for the process (progress comes on this thread)
        if not store.take_job(job_id, me, from_pid=parent):
            print(f"job {job_id} is not running under this worker's server; not measuring it", file=sys.stderr)
            return
        _say(f"{RUN_STARTED}: job {job_id}, worker pid {me}")
        beat = Heartbeat(lambda: ResultStore(store.path), lambda s: s.heartbeat_job(job_id, me), HEARTBEAT_S, on_lost=on_lost)
        ended = True
        with beat:
            try:
                _run_job(store, data_dir, job_id, server, owner=me)
            except StaleOwner as exc:
                ended = False  # the job is another worker's now: this run did not end it
                print(f"stopped: {exc}", file=sys.stderr)
            finally:
                if ended:
                    _say(f"{RUN_ENDED}: job {job_id}, {(store.job(job_id) or {}).get('status')}")


def _say(line: str) -> None:
    """A line in the job's ``worker.log`` (the worker's stdout), with the time, written at once (a kill loses none)."""
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}", flush=True)


def _run_job(store: ResultStore, data_dir: Path, job_id: str, server: dict[str, Any], owner: int | None = None) -> None:
    import advisor
    from advisor.spec.settings import Settings

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


def worker_main(argv: list[str]) -> None:
    """``python -m advisor.service DATA_DIR JOB_ID SERVER_JSON [SERVER_PID]``: the worker process of one job."""
    parent = int(argv[4]) if len(argv) > 4 else None
    end_group_with_parent(parent)
    os.umask(0o077)
    run_job(Path(argv[1]), argv[2], json.loads(argv[3]), parent=parent, on_lost=lambda: os.kill(os.getpid(), signal.SIGTERM))
