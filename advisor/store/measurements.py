"""Measurements and the claims on them: two runs sharing a store never measure one candidate at once."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any

from advisor.measure.supervisor import owner_alive
from advisor.store.database import CLAIM_STALE_S, now_text


class Measurements:
    """Stored measurements, keyed by the fingerprint of everything that determines them, and their claims."""

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
                (key, run_id, candidate_name, text, now_text()),
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
        ``run_id`` keeps it fresh, so a measurement longer than ``stale_s`` needs a :class:`advisor.measure.supervisor.Heartbeat`.
        """
        me, now = os.getpid(), time.time()

        def claim(c: sqlite3.Connection) -> bool:
            row = c.execute("SELECT run_id, owner_pid, heartbeat_at FROM claims WHERE key = ?", (key,)).fetchone()
            if row is not None and (row[0], row[1]) != (run_id, me) and _claim_live(row[1], row[2], stale_s, now):
                return False
            c.execute(
                "INSERT OR REPLACE INTO claims (key, run_id, owner_pid, heartbeat_at, created_at) VALUES (?, ?, ?, ?, ?)",
                (key, run_id, me, now, now_text()),
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


def _claim_live(pid: int | None, heartbeat_at: float | None, stale_s: float, now: float) -> bool:
    return heartbeat_at is not None and now - heartbeat_at < stale_s and owner_alive(pid, heartbeat_at)
