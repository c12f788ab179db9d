"""The result store's SQLite file: opening it, its schema and upgrades, and short transactions.

Each concept has its own table, created with ``CREATE TABLE IF NOT EXISTS``; the schema version
lives in ``PRAGMA user_version`` and is checked on every open. Opening an older store upgrades it
in place (missing tables and columns are added; nothing is dropped). Writes are short transactions
retried while another process holds the file (WAL journal, busy timeout). A new store file is created
readable by its owner only (0600, whatever the umask); SQLite gives its ``-wal`` and ``-shm`` files
the same mode. What the store keeps, and its owners, are in :mod:`advisor.store`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from advisor.errors import AdvisorError
from advisor.paths import cache_dir

STORE_SCHEMA_VERSION = 3  # 2: jobs (the service's queue); 3: owners and heartbeats of runs and jobs, measurement claims
BUSY_TIMEOUT_S = 30.0
HEARTBEAT_S = 5.0
"""How often an owner should refresh its heartbeat (see :class:`advisor.measure.supervisor.Heartbeat`)."""
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

T = TypeVar("T")


class StoreError(AdvisorError):
    """The result store cannot be used; the message names the file and the fix."""


class StaleOwner(StoreError):
    """A write by a process that no longer owns the job (it was requeued, or another worker claimed it)."""


def default_store_path() -> Path:
    """The store used when none is named: ``results.sqlite`` in the advisor's cache folder."""
    return cache_dir() / "results.sqlite"


def measurement_key(fingerprint: dict[str, Any]) -> str:
    """The sha256 of the fingerprint's canonical JSON: equal dicts give equal keys, whatever their key order."""
    text = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class Database:
    """The SQLite file: opening (schema checks, upgrades), short transactions with retries, closing.

    :class:`advisor.store.ResultStore` adds the measurements, runs and jobs repositories to it.

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
            self.mark_orphaned_runs()  # the runs repository's (advisor.store.runs)
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
                if is_busy(exc) and time.monotonic() < deadline:
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
        if "disk is full" in text or "disk I/O error" in text:
            return f"{self.path}: the result store cannot be written ({text}); free space on its disk, or choose another --store path"
        if "readonly" in text or "read-only" in text:
            return f"{self.path}: the result store is read-only ({text}); make it writable, or choose another --store path"
        if is_busy(exc):
            return f"{self.path}: the result store stayed locked by another process for {BUSY_TIMEOUT_S:.0f} s; retry when it is done"
        return f"{self.path}: result store error ({text}); check the disk and permissions, or choose another --store path"

    def close(self) -> None:
        """Close the connection; further calls raise :class:`StoreError`."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
