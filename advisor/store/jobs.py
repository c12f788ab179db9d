"""Jobs: the service's queue, each job owned by the worker that runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from advisor.measure.supervisor import owner_alive
from advisor.store.database import StaleOwner, now_text


class Jobs:
    """The service's queue: jobs added, claimed, taken over, updated by their owner and requeued."""

    #
    # A job's owner is the process measuring it: the server claims a job (owner: the server), then
    # the worker process it starts takes it over (:meth:`take_job`) and keeps its heartbeat fresh
    # (:meth:`heartbeat_job`). Writes naming an ``owner`` are refused once another process owns the job.

    def add_job(self, job_id: str, request: dict[str, Any], max_open: int | None = None) -> bool:
        """Queue a job; with ``max_open``, only while fewer jobs than that are queued or running (checked and queued in
        one transaction, so concurrent submissions cannot pass the limit together).

        Returns:
            False when the limit refused it.
        """
        now = now_text()

        def add(c) -> bool:
            if max_open is not None:
                open_ = c.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running', 'cancelling')").fetchone()[0]
                if open_ >= max_open:
                    return False
            c.execute(
                "INSERT INTO jobs (job_id, status, request, created_at, updated_at) VALUES (?, 'queued', ?, ?, ?)",
                (job_id, json.dumps(request), now, now),
            )
            return True

        return self._run(add)

    def job(self, job_id: str) -> dict[str, Any] | None:
        """One job as a dict (request and progress decoded, with ``owner_pid`` and ``heartbeat_at``), or None."""
        row = self._run(lambda c: c.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone(), write=False)
        return _job(row) if row else None

    def jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` jobs, newest first."""
        rows = self._run(
            lambda c: c.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)).fetchall(),
            write=False,
        )
        return [_job(r) for r in rows]

    def unfinished_jobs(self) -> list[dict[str, Any]]:
        """Jobs left ``running`` or ``cancelling``, oldest first (to recover after a restart)."""
        rows = self._run(
            lambda c: c.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status IN ('running', 'cancelling') ORDER BY created_at, rowid"
            ).fetchall(),
            write=False,
        )
        return [_job(r) for r in rows]

    def claim_next_job(self, owner_pid: int | None = None) -> dict[str, Any] | None:
        """Mark the oldest queued job running, owned by ``owner_pid`` (default: this process), and return it.

        Atomic: two workers never claim the same job.
        """
        owner = owner_pid or os.getpid()

        def claim(c: sqlite3.Connection):
            row = c.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status = 'queued' ORDER BY created_at, rowid LIMIT 1").fetchone()
            if row is None:
                return None
            now = time.time()
            c.execute(
                "UPDATE jobs SET status = 'running', owner_pid = ?, heartbeat_at = ?, updated_at = ? WHERE job_id = ?",
                (owner, now, now_text(), row[0]),
            )
            return _job(row) | {"status": "running", "owner_pid": owner, "heartbeat_at": now}

        return self._run(claim)

    def take_job(self, job_id: str, owner_pid: int, from_pid: int | None = None) -> bool:
        """Make ``owner_pid`` the owner of a running job held by ``from_pid`` (a worker taking over from its server).

        With ``from_pid`` None the job is taken only when its owner is gone. False (nothing changed)
        when the job is not running or someone else owns it.
        """

        def take(c: sqlite3.Connection) -> bool:
            row = c.execute("SELECT status, owner_pid, heartbeat_at FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None or row[0] != "running":
                return False
            if row[1] != owner_pid and (row[1] != from_pid if from_pid is not None else owner_alive(row[1], row[2])):
                return False
            c.execute(
                "UPDATE jobs SET owner_pid = ?, heartbeat_at = ?, updated_at = ? WHERE job_id = ?",
                (owner_pid, time.time(), now_text(), job_id),
            )
            return True

        return self._run(take)

    def heartbeat_job(self, job_id: str, owner_pid: int) -> bool:
        """Refresh the job's heartbeat if ``owner_pid`` still owns it; False otherwise (the owner should stop working on it)."""
        cur = self._run(
            lambda c: c.execute("UPDATE jobs SET heartbeat_at = ? WHERE job_id = ? AND owner_pid = ?", (time.time(), job_id, owner_pid))
        )
        return cur.rowcount > 0

    def update_job(self, job_id: str, owner: int | Iterable[int] | None = None, **fields: Any) -> None:
        """Set any of status, progress (a dict), run_id, error.

        With ``owner`` (a pid, or several), only while one of them owns the job; the write also
        counts as a heartbeat.

        Raises:
            StaleOwner: ``owner`` was given and none of those processes owns the job any more.
        """
        allowed = {"status", "progress", "run_id", "error"}
        if not set(fields) <= allowed:
            raise ValueError(f"unknown job fields: {sorted(set(fields) - allowed)}")
        values = {k: json.dumps(v) if k == "progress" else v for k, v in fields.items()}
        sets = "".join(f"{k} = ?, " for k in values)
        if owner is None:
            self._run(lambda c: c.execute(f"UPDATE jobs SET {sets}updated_at = ? WHERE job_id = ?", (*values.values(), now_text(), job_id)))
            return
        owners = [owner] if isinstance(owner, int) else [int(o) for o in owner]
        marks = ", ".join("?" * len(owners))
        sql = f"UPDATE jobs SET {sets}heartbeat_at = ?, updated_at = ? WHERE job_id = ? AND owner_pid IN ({marks})"
        cur = self._run(lambda c: c.execute(sql, (*values.values(), time.time(), now_text(), job_id, *owners)))
        if cur.rowcount == 0:
            raise StaleOwner(
                f"{self.path}: job '{job_id}' is no longer owned by process {' or '.join(map(str, owners))}; "
                "its write was refused (the job was requeued or taken over)"
            )

    def requeue_job(self, job_id: str, owner: int | Iterable[int] | None = None) -> bool:
        """Put a running job back in the queue (a cancelling one becomes cancelled), dropping its owner.

        With ``owner``, only while one of those processes owns it. Returns whether the job changed.
        """
        sql = (
            "UPDATE jobs SET status = CASE status WHEN 'cancelling' THEN 'cancelled' ELSE 'queued' END, owner_pid = NULL, "
            "heartbeat_at = NULL, updated_at = ? WHERE job_id = ? AND status IN ('running', 'cancelling')"
        )
        args: list[Any] = [now_text(), job_id]
        if owner is not None:
            owners = [owner] if isinstance(owner, int) else [int(o) for o in owner]
            sql += f" AND owner_pid IN ({', '.join('?' * len(owners))})"
            args += owners
        return self._run(lambda c: c.execute(sql, args)).rowcount > 0

    def requeue_running_jobs(self) -> int:
        """After a restart: jobs left running whose owner process is gone go back to the queue. Returns how many.

        A job whose owner still lives is left alone (the server kills its own orphaned workers first,
        so two workers never measure one job); one left ``cancelling`` by a dead owner becomes cancelled.
        """
        return sum(
            self.requeue_job(j["id"], owner=j["owner_pid"]) if j["owner_pid"] is not None else self.requeue_job(j["id"])
            for j in self.unfinished_jobs()
            if not owner_alive(j["owner_pid"], j["heartbeat_at"])
        )


_JOB_COLUMNS = "job_id, status, request, progress, run_id, error, created_at, updated_at, owner_pid, heartbeat_at"


def _job(row: tuple) -> dict[str, Any]:
    job_id, status, request, progress, run_id, error, created, updated, owner_pid, heartbeat_at = row
    return {
        "id": job_id,
        "status": status,
        "request": json.loads(request),
        "progress": json.loads(progress) if progress else None,
        "run_id": run_id,
        "error": error,
        "created_at": created,
        "updated_at": updated,
        "owner_pid": owner_pid,
        "heartbeat_at": heartbeat_at,
    }
