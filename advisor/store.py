"""The result store: an embedded SQLite database that keeps every measurement as soon as it completes.

A rerun finds a candidate's measurement by the fingerprint of everything that determines it and
reuses it; an interrupted run resumes from what was already stored. Several advisor processes may
write one store at the same time (WAL journal, busy timeout, short transactions).

Each concept has its own table, created with ``CREATE TABLE IF NOT EXISTS``; the schema version
lives in ``PRAGMA user_version`` and is checked on every open.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from advisor.errors import AdvisorError, did_you_mean
from advisor.sources import cache_dir

STORE_SCHEMA_VERSION = 2  # 2: jobs (the service's queue)
BUSY_TIMEOUT_S = 30.0

_TABLES = {
    "measurements": """CREATE TABLE IF NOT EXISTS measurements (
        key TEXT PRIMARY KEY, run_id TEXT NOT NULL, candidate TEXT NOT NULL,
        payload TEXT NOT NULL, created_at TEXT NOT NULL)""",
    "runs": """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, task TEXT NOT NULL, status TEXT NOT NULL, model TEXT,
        n_candidates INTEGER NOT NULL DEFAULT 0, settings TEXT NOT NULL, recommendation TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    "jobs": """CREATE TABLE IF NOT EXISTS jobs (
        job_id TEXT PRIMARY KEY, status TEXT NOT NULL, request TEXT NOT NULL, progress TEXT,
        run_id TEXT, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
}
_INDEXES = ["CREATE INDEX IF NOT EXISTS runs_by_task ON runs (task, created_at)"]
_RUN_COLUMNS = "run_id, task, status, model, created_at, updated_at, n_candidates"

T = TypeVar("T")


class StoreError(AdvisorError):
    """The result store cannot be used; the message names the file and the fix."""


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


def default_store_path() -> Path:
    """The store used when none is named: ``results.sqlite`` in the advisor's cache folder."""
    return cache_dir() / "results.sqlite"


def measurement_key(fingerprint: dict[str, Any]) -> str:
    """The sha256 of the fingerprint's canonical JSON: equal dicts give equal keys, whatever their key order."""
    text = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class ResultStore:
    """Measurements and runs in one SQLite file; open with ``ResultStore(path)``, use as a context manager.

    Raises:
        StoreError: the file is not a result store, was written by a newer advisor, or cannot be opened.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn: sqlite3.Connection | None = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the result store ({exc}); choose another --store path") from None
        try:
            self._run(self._check_schema, write=False)  # read-only first: a foreign file is never modified
            self._run(lambda c: c.execute("PRAGMA journal_mode=WAL"), write=False)
            self._run(self._create_schema, write=True)
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _check_schema(self, conn: sqlite3.Connection) -> int:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if version > STORE_SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: result store schema version {version} is newer than this advisor reads "
                f"({STORE_SCHEMA_VERSION}); upgrade advisor or choose another --store path"
            )
        foreign = sorted(tables - set(_TABLES))
        if foreign:
            raise StoreError(
                f"{self.path}: not an advisor result store (it holds other tables: {', '.join(foreign)}); choose another --store path"
            )
        return version

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        if self._check_schema(conn) == STORE_SCHEMA_VERSION:
            return  # another process created it first
        for sql in [*_TABLES.values(), *_INDEXES]:  # also upgrades an older store: only missing tables are added
            conn.execute(sql)
        conn.execute(f"PRAGMA user_version = {STORE_SCHEMA_VERSION}")

    # -- plumbing ------------------------------------------------------------------------------

    def _run(self, fn: Callable[[sqlite3.Connection], T], write: bool = True) -> T:
        """Run ``fn`` in one short transaction, retrying while another process holds the lock.

        Every SQLite error becomes a one-line :class:`StoreError`.
        """
        if self._conn is None:
            raise StoreError(f"{self.path}: the result store is closed; open it again")
        conn = self._conn
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.01
        while True:
            try:
                if not write:
                    return fn(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    out = fn(conn)
                    conn.execute("COMMIT")
                    return out
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                if _is_busy(exc) and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                raise StoreError(self._describe(exc)) from None

    def _describe(self, exc: sqlite3.Error) -> str:
        text = str(exc)
        if "not a database" in text:
            return f"{self.path}: not an advisor result store (it is not a SQLite database); choose another --store path or delete the file"
        if "malformed" in text:
            return f"{self.path}: the result store is damaged ({text}); choose another --store path or delete the file"
        if _is_busy(exc):
            return f"{self.path}: the result store stayed locked by another process for {BUSY_TIMEOUT_S:.0f} s; retry when it is done"
        return f"{self.path}: result store error ({text}); check the disk and permissions, or choose another --store path"

    def close(self) -> None:
        """Close the connection; further calls raise :class:`StoreError`."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- measurements --------------------------------------------------------------------------

    def get_measurement(self, key: str) -> dict[str, Any] | None:
        """The payload stored under ``key`` (see :func:`measurement_key`), or None."""
        row = self._run(lambda c: c.execute("SELECT payload FROM measurements WHERE key = ?", (key,)).fetchone(), write=False)
        return json.loads(row[0]) if row else None

    def put_measurement(self, key: str, run_id: str, candidate_name: str, payload: dict[str, Any]) -> None:
        """Store (or replace) one candidate's measurement; ``payload`` must be JSON-ready."""
        text = json.dumps(payload)
        self._run(lambda c: c.execute(
            "INSERT OR REPLACE INTO measurements (key, run_id, candidate, payload, created_at) VALUES (?, ?, ?, ?, ?)",
            (key, run_id, candidate_name, text, _now()),
        ))

    # -- runs ----------------------------------------------------------------------------------

    def start_run(self, run_id: str, task_name: str, created_at: str, settings: dict[str, Any]) -> None:
        """Record a run as running; starting a stored run again (a resume) keeps its partial results."""
        self._run(lambda c: c.execute(
            "INSERT INTO runs (run_id, task, status, settings, created_at, updated_at) VALUES (?, ?, 'running', ?, ?, ?) "
            "ON CONFLICT (run_id) DO UPDATE SET task = excluded.task, status = 'running', settings = excluded.settings, "
            "updated_at = excluded.updated_at",
            (run_id, task_name, json.dumps(settings, default=str), created_at, _now()),
        ))

    def update_run(self, run_id: str, status: str, recommendation: dict[str, Any]) -> None:
        """Store the run's whole recommendation and its status.

        Raises:
            StoreError: the run was never started in this store.
        """
        text = json.dumps(recommendation)
        n = len(recommendation.get("candidates") or [])
        cur = self._run(lambda c: c.execute(
            "UPDATE runs SET status = ?, model = ?, n_candidates = ?, recommendation = ?, updated_at = ? WHERE run_id = ?",
            (status, recommendation.get("model"), n, text, _now(), run_id),
        ))
        if cur.rowcount == 0:
            raise StoreError(f"{self.path}: run '{run_id}' was never started in this store; call start_run first")

    def runs(self, limit: int = 50) -> list[RunRow]:
        """The newest ``limit`` runs, newest first."""
        rows = self._run(lambda c: c.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
        ).fetchall(), write=False)
        return [RunRow(*r) for r in rows]

    def latest_run(self, task_name: str, status: str | None = None) -> RunRow | None:
        """The newest run of ``task_name`` (with ``status``, when given), or None."""
        sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE task = ?" + (" AND status = ?" if status else "")
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

    # -- jobs (the service's queue) --------------------------------------------------------------

    def add_job(self, job_id: str, request: dict[str, Any]) -> None:
        """Queue a job."""
        now = _now()
        self._run(lambda c: c.execute("INSERT INTO jobs (job_id, status, request, created_at, updated_at) VALUES (?, 'queued', ?, ?, ?)",
                                      (job_id, json.dumps(request), now, now)))

    def job(self, job_id: str) -> dict[str, Any] | None:
        """One job as a dict (request and progress decoded), or None."""
        row = self._run(lambda c: c.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone(), write=False)
        return _job(row) if row else None

    def jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` jobs, newest first."""
        rows = self._run(lambda c: c.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)).fetchall(),
                         write=False)
        return [_job(r) for r in rows]

    def claim_next_job(self) -> dict[str, Any] | None:
        """Mark the oldest queued job running and return it (atomic: two workers never claim the same job)."""
        def claim(c: sqlite3.Connection):
            row = c.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status = 'queued' ORDER BY created_at, rowid LIMIT 1").fetchone()
            if row is None:
                return None
            c.execute("UPDATE jobs SET status = 'running', updated_at = ? WHERE job_id = ?", (_now(), row[0]))
            return _job(row) | {"status": "running"}
        return self._run(claim)

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set any of status, progress (a dict), run_id, error."""
        allowed = {"status", "progress", "run_id", "error"}
        if not set(fields) <= allowed:
            raise ValueError(f"unknown job fields: {sorted(set(fields) - allowed)}")
        values = {k: json.dumps(v) if k == "progress" else v for k, v in fields.items()}
        sets = ", ".join(f"{k} = ?" for k in values)
        self._run(lambda c: c.execute(f"UPDATE jobs SET {sets}, updated_at = ? WHERE job_id = ?", (*values.values(), _now(), job_id)))

    def requeue_running_jobs(self) -> int:
        """After a restart: jobs left running by a dead worker go back to the queue. Returns how many."""
        cur = self._run(lambda c: c.execute("UPDATE jobs SET status = 'queued', updated_at = ? WHERE status = 'running'", (_now(),)))
        return cur.rowcount


_JOB_COLUMNS = "job_id, status, request, progress, run_id, error, created_at, updated_at"


def _job(row: tuple) -> dict[str, Any]:
    job_id, status, request, progress, run_id, error, created, updated = row
    return {"id": job_id, "status": status, "request": json.loads(request), "progress": json.loads(progress) if progress else None,
            "run_id": run_id, "error": error, "created_at": created, "updated_at": updated}
