"""Runs: one row per run, with its owner and heartbeat, its settings and its latest results."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from advisor.errors import did_you_mean
from advisor.measure.supervisor import owner_alive
from advisor.store.database import StoreError, now_text

RUN_COLUMNS = "run_id, task, status, model, created_at, updated_at, n_candidates"


@dataclass(frozen=True)
class RunRow:
    """One stored run, as listed by :meth:`ResultStore.runs`."""

    run_id: str
    task: str
    status: str
    model: str | None
    created_at: str
    updated_at: str
    n_candidates: int


class Runs:
    """Runs, as they start, grow and end; a run whose owner died is marked interrupted."""

    def start_run(self, run_id: str, task_name: str, created_at: str, settings: dict[str, Any]) -> None:
        """Record a run as running, owned by this process (its pid and a heartbeat).

        Starting a stored run again (a resume) keeps its partial results and takes it over.
        """
        self._run(
            lambda c: c.execute(
                "INSERT INTO runs (run_id, task, status, settings, created_at, updated_at, owner_pid, heartbeat_at) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET task = excluded.task, status = 'running', settings = excluded.settings, "
                "updated_at = excluded.updated_at, owner_pid = excluded.owner_pid, heartbeat_at = excluded.heartbeat_at",
                (run_id, task_name, json.dumps(settings, default=str), created_at, now_text(), os.getpid(), time.time()),
            )
        )

    def update_run(self, run_id: str, status: str, recommendation: dict[str, Any]) -> None:
        """Store the run's whole recommendation and its status (a heartbeat too, when this process owns the run).

        Raises:
            StoreError: the run was never started in this store.
        """
        text = json.dumps(recommendation)
        n = len(recommendation.get("candidates") or [])
        cur = self._run(
            lambda c: c.execute(
                "UPDATE runs SET status = ?, model = ?, n_candidates = ?, recommendation = ?, updated_at = ?, "
                "heartbeat_at = CASE WHEN owner_pid = ? THEN ? ELSE heartbeat_at END WHERE run_id = ?",
                (status, recommendation.get("model"), n, text, now_text(), os.getpid(), time.time(), run_id),
            )
        )
        if cur.rowcount == 0:
            raise StoreError(f"{self.path}: run '{run_id}' was never started in this store; call start_run first")

    def heartbeat_run(self, run_id: str) -> bool:
        """Refresh the heartbeat of ``run_id`` and of its measurement claims, if this process owns them.

        Returns False when this process does not own the run (never started here, or resumed by another).
        """
        me, now = os.getpid(), time.time()

        def beat(c: sqlite3.Connection) -> bool:
            c.execute("UPDATE claims SET heartbeat_at = ? WHERE run_id = ? AND owner_pid = ?", (now, run_id, me))
            return c.execute("UPDATE runs SET heartbeat_at = ? WHERE run_id = ? AND owner_pid = ?", (now, run_id, me)).rowcount > 0

        return self._run(beat)

    def run_owner(self, run_id: str) -> dict[str, Any] | None:
        """``{"status", "owner_pid", "heartbeat_at"}`` of ``run_id``, or None when no such run."""
        row = self._run(
            lambda c: c.execute("SELECT status, owner_pid, heartbeat_at FROM runs WHERE run_id = ?", (run_id,)).fetchone(), write=False
        )
        return dict(zip(("status", "owner_pid", "heartbeat_at"), row)) if row else None

    def mark_orphaned_runs(self) -> list[str]:
        """Mark ``interrupted`` the runs left ``running`` whose owner process is gone; returns their ids.

        Called on every open. A run stored by an older advisor (no owner recorded) counts as orphaned:
        an older advisor cannot open a store of this schema. The stored recommendation's status
        changes too, so reports and ``history`` agree.
        """
        rows = self._run(
            lambda c: c.execute("SELECT run_id, owner_pid, heartbeat_at FROM runs WHERE status = 'running'").fetchall(), write=False
        )
        dead = [(run_id, pid) for run_id, pid, beat in rows if not owner_alive(pid, beat)]
        if not dead:
            return []

        def mark(c: sqlite3.Connection) -> list[str]:
            done = []
            for run_id, pid in dead:  # only if still running under the same owner (not resumed meanwhile)
                row = c.execute(
                    "SELECT recommendation FROM runs WHERE run_id = ? AND status = 'running' AND owner_pid IS ?", (run_id, pid)
                ).fetchone()
                if row is None:
                    continue
                rec = row[0]
                if rec is not None:
                    try:
                        data = json.loads(rec)
                        if isinstance(data, dict) and data.get("status") == "running":
                            rec = json.dumps({**data, "status": "interrupted"})
                    except ValueError:
                        pass
                c.execute(
                    "UPDATE runs SET status = 'interrupted', recommendation = ?, updated_at = ? WHERE run_id = ?", (rec, now_text(), run_id)
                )
                done.append(run_id)
            return done

        return self._run(mark)

    def runs(self, limit: int = 50) -> list[RunRow]:
        """The newest ``limit`` runs, newest first."""
        rows = self._run(
            lambda c: c.execute(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)).fetchall(),
            write=False,
        )
        return [RunRow(*r) for r in rows]

    def latest_run(self, task_name: str, status: str | None = None) -> RunRow | None:
        """The newest run of ``task_name`` (with ``status``, when given), or None."""
        sql = f"SELECT {RUN_COLUMNS} FROM runs WHERE task = ?" + (" AND status = ?" if status else "")
        args = (task_name, status) if status else (task_name,)
        row = self._run(lambda c: c.execute(sql + " ORDER BY created_at DESC, rowid DESC LIMIT 1", args).fetchone(), write=False)
        return RunRow(*row) if row else None

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The stored recommendation dict of ``run_id``.

        Raises:
            StoreError: no such run (with the closest stored id), or it has recorded no results yet.
        """
        row = self._run(lambda c: c.execute("SELECT recommendation FROM runs WHERE run_id = ?", (run_id,)).fetchone(), write=False)
        if row is None:
            ids = [r[0] for r in self._run(lambda c: c.execute("SELECT run_id FROM runs").fetchall(), write=False)]
            hint = did_you_mean(run_id, ids)
            raise StoreError(f"{self.path}: no run '{run_id}' in the result store{hint}; list the stored runs to pick one")
        if row[0] is None:
            raise StoreError(f"{self.path}: run '{run_id}' has recorded no results yet; wait for it or resume it")
        return json.loads(row[0])
