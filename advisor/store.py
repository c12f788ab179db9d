"""The result store: an embedded SQLite database that keeps every measurement as soon as it completes.

A rerun finds a candidate's measurement by the fingerprint of everything that determines it and
reuses it; an interrupted run resumes from what was already stored. Several advisor processes may
write one store at the same time (WAL journal, busy timeout, short transactions).

Each concept has its own table, created with ``CREATE TABLE IF NOT EXISTS``; the schema version
lives in ``PRAGMA user_version`` and is checked on every open. Opening an older store upgrades it
in place (missing tables and columns are added; nothing is dropped).

Owners. Runs, jobs and measurement claims record the pid of the process that owns them and a
heartbeat (``time.time()`` of its last sign of life); whether an owner is alive is
:func:`advisor.supervisor.owner_alive`'s to say (a pid reused by a newer process is not the owner), and
:class:`advisor.supervisor.Heartbeat` keeps the sign of life fresh. Opening a store marks runs left
``running`` by a dead owner ``interrupted``.

A new store file is created readable by its owner only (0600, whatever the umask); SQLite gives its
``-wal`` and ``-shm`` files the same mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from advisor.errors import AdvisorError, did_you_mean
from advisor.paths import cache_dir
from advisor.supervisor import owner_alive

STORE_SCHEMA_VERSION = 3  # 2: jobs (the service's queue); 3: owners and heartbeats of runs and jobs, measurement claims
BUSY_TIMEOUT_S = 30.0
HEARTBEAT_S = 5.0
"""How often an owner should refresh its heartbeat (see :class:`advisor.supervisor.Heartbeat`)."""
CLAIM_STALE_S = 120.0
"""A measurement claim whose heartbeat is older than this is stale, even if its owner's pid lives (a hung owner)."""

_TABLES = {
    "measurements": """CREATE TABLE IF NOT EXISTS measurements (
        key TEXT PRIMARY KEY, run_id TEXT NOT NULL, candidate TEXT NOT NULL,
        payload TEXT NOT NULL, created_at TEXT NOT NULL)""",
    "runs": """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, task TEXT NOT NULL, status TEXT NOT NULL, model TEXT,
        n_candidates INTEGER NOT NULL DEFAULT 0, settings TEXT NOT NULL, recommendation TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, owner_pid INTEGER, heartbeat_at REAL)""",
    "jobs": """CREATE TABLE IF NOT EXISTS jobs (
        job_id TEXT PRIMARY KEY, status TEXT NOT NULL, request TEXT NOT NULL, progress TEXT,
        run_id TEXT, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, owner_pid INTEGER, heartbeat_at REAL)""",
    "claims": """CREATE TABLE IF NOT EXISTS claims (
        key TEXT PRIMARY KEY, run_id TEXT NOT NULL, owner_pid INTEGER NOT NULL, heartbeat_at REAL NOT NULL,
        created_at TEXT NOT NULL)""",
}
_ADDED_COLUMNS = {  # columns added after a table first shipped: ALTER TABLE adds them to an older store
    "runs": {"owner_pid": "INTEGER", "heartbeat_at": "REAL"},
    "jobs": {"owner_pid": "INTEGER", "heartbeat_at": "REAL"},
}
_INDEXES = ["CREATE INDEX IF NOT EXISTS runs_by_task ON runs (task, created_at)"]
_RUN_COLUMNS = "run_id, task, status, model, created_at, updated_at, n_candidates"

T = TypeVar("T")


class StoreError(AdvisorError):
    """The result store cannot be used; the message names the file and the fix."""


class StaleOwner(StoreError):
    """A write by a process that no longer owns the job (it was requeued, or another worker claimed it)."""


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
    """Measurements, runs, jobs and measurement claims in one SQLite file; open with ``ResultStore(path)``, use as a context manager.

    Raises:
        StoreError: the file is not a result store, was written by a newer advisor, or cannot be opened.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():  # created private; SQLite gives the -wal and -shm files the same mode
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
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
        try:
            self.mark_orphaned_runs()
        except StoreError:
            pass  # a read-only or busy store is still readable; the next open tries again

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
        for table, columns in _ADDED_COLUMNS.items():  # ... and missing columns
            present = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns.items():
                if name not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
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
        """Store (or replace) one candidate's measurement; ``payload`` must be JSON-ready.

        The claim on ``key`` (see :meth:`claim_measurement`), whoever held it, ends in the same
        transaction: the measurement it announced is now stored.
        """
        text = json.dumps(payload)

        def put(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO measurements (key, run_id, candidate, payload, created_at) VALUES (?, ?, ?, ?, ?)",
                (key, run_id, candidate_name, text, _now()),
            )
            c.execute("DELETE FROM claims WHERE key = ?", (key,))

        self._run(put)

    # -- measurement claims: two runs sharing a store do not measure one candidate at once -----------

    def claim_measurement(self, key: str, run_id: str, stale_s: float = CLAIM_STALE_S) -> bool:
        """Claim the right to measure ``key`` for ``run_id`` (owned by this process); True when this run may measure.

        Call it after :meth:`get_measurement` found nothing. True when no claim is held, when this
        process already holds it for ``run_id`` (the claim is refreshed), or when the holder is gone:
        its pid is dead, or its heartbeat is older than ``stale_s`` (a hung owner); the claim is then
        taken over. False when another live owner holds a fresh claim: call
        :meth:`wait_for_measurement` and reuse what it stores. The claim ends with
        :meth:`put_measurement` of ``key`` or :meth:`release_measurement`; :meth:`heartbeat_run` of
        ``run_id`` keeps it fresh, so a measurement longer than ``stale_s`` needs a :class:`advisor.supervisor.Heartbeat`.
        """
        me, now = os.getpid(), time.time()

        def claim(c: sqlite3.Connection) -> bool:
            row = c.execute("SELECT run_id, owner_pid, heartbeat_at FROM claims WHERE key = ?", (key,)).fetchone()
            if row is not None and (row[0], row[1]) != (run_id, me) and _claim_live(row[1], row[2], stale_s, now):
                return False
            c.execute(
                "INSERT OR REPLACE INTO claims (key, run_id, owner_pid, heartbeat_at, created_at) VALUES (?, ?, ?, ?, ?)",
                (key, run_id, me, now, _now()),
            )
            return True

        return self._run(claim)

    def release_measurement(self, key: str, run_id: str | None = None) -> bool:
        """End this process's claim on ``key`` (only ``run_id``'s, when given) without storing a measurement.

        Call it when the measurement failed or was abandoned, so a waiting run measures instead.
        A claim held by another process is left alone. Returns whether a claim was released.
        """
        sql, args = "DELETE FROM claims WHERE key = ? AND owner_pid = ?", [key, os.getpid()]
        if run_id is not None:
            sql, args = sql + " AND run_id = ?", [*args, run_id]
        return self._run(lambda c: c.execute(sql, args)).rowcount > 0

    def measurement_claim(self, key: str) -> dict[str, Any] | None:
        """The claim held on ``key`` (``run_id``, ``owner_pid``, ``heartbeat_at``, ``created_at``), or None."""
        row = self._run(
            lambda c: c.execute("SELECT run_id, owner_pid, heartbeat_at, created_at FROM claims WHERE key = ?", (key,)).fetchone(),
            write=False,
        )
        return dict(zip(("run_id", "owner_pid", "heartbeat_at", "created_at"), row)) if row else None

    def wait_for_measurement(
        self, key: str, timeout_s: float, poll_s: float = 0.5, stale_s: float = CLAIM_STALE_S
    ) -> dict[str, Any] | None:
        """Wait while another run holds the claim on ``key``; the payload as soon as one is stored under ``key``.

        None, without waiting further, when no measurement came and the claim was released, its owner
        died or its heartbeat is older than ``stale_s``, or ``timeout_s`` passed. None means: call
        :meth:`claim_measurement` again and measure it yourself if it says True.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            payload = self.get_measurement(key)
            if payload is not None:
                return payload
            claim = self.measurement_claim(key)
            if claim is None or not _claim_live(claim["owner_pid"], claim["heartbeat_at"], stale_s, time.time()):
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(poll_s, left))

    # -- runs ----------------------------------------------------------------------------------

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
                (run_id, task_name, json.dumps(settings, default=str), created_at, _now(), os.getpid(), time.time()),
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
                (status, recommendation.get("model"), n, text, _now(), os.getpid(), time.time(), run_id),
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
                    "UPDATE runs SET status = 'interrupted', recommendation = ?, updated_at = ? WHERE run_id = ?", (rec, _now(), run_id)
                )
                done.append(run_id)
            return done

        return self._run(mark)

    def runs(self, limit: int = 50) -> list[RunRow]:
        """The newest ``limit`` runs, newest first."""
        rows = self._run(
            lambda c: c.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)).fetchall(),
            write=False,
        )
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
    #
    # A job's owner is the process measuring it: the server claims a job (owner: the server), then
    # the worker process it starts takes it over (:meth:`take_job`) and keeps its heartbeat fresh
    # (:meth:`heartbeat_job`). Writes naming an ``owner`` are refused once another process owns the job.

    def add_job(self, job_id: str, request: dict[str, Any]) -> None:
        """Queue a job."""
        now = _now()
        self._run(
            lambda c: c.execute(
                "INSERT INTO jobs (job_id, status, request, created_at, updated_at) VALUES (?, 'queued', ?, ?, ?)",
                (job_id, json.dumps(request), now, now),
            )
        )

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
                (owner, now, _now(), row[0]),
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
                "UPDATE jobs SET owner_pid = ?, heartbeat_at = ?, updated_at = ? WHERE job_id = ?", (owner_pid, time.time(), _now(), job_id)
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
            self._run(lambda c: c.execute(f"UPDATE jobs SET {sets}updated_at = ? WHERE job_id = ?", (*values.values(), _now(), job_id)))
            return
        owners = [owner] if isinstance(owner, int) else [int(o) for o in owner]
        marks = ", ".join("?" * len(owners))
        sql = f"UPDATE jobs SET {sets}heartbeat_at = ?, updated_at = ? WHERE job_id = ? AND owner_pid IN ({marks})"
        cur = self._run(lambda c: c.execute(sql, (*values.values(), time.time(), _now(), job_id, *owners)))
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
        args: list[Any] = [_now(), job_id]
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


def _claim_live(pid: int | None, heartbeat_at: float | None, stale_s: float, now: float) -> bool:
    return heartbeat_at is not None and now - heartbeat_at < stale_s and owner_alive(pid, heartbeat_at)


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
