"""The result store: an embedded SQLite database that keeps every measurement as soon as it completes.

A rerun finds a candidate's measurement by the fingerprint of everything that determines it and
reuses it; an interrupted run resumes from what was already stored. Several advisor processes may
write one store at the same time (WAL journal, busy timeout, short transactions).

One SQLite file (:mod:`advisor.store.database`: schema, upgrades, transactions) with a repository per
concept: :mod:`~advisor.store.measurements` (and their claims), :mod:`~advisor.store.runs`,
:mod:`~advisor.store.jobs`.

Owners. Runs, jobs and measurement claims record the pid of the process that owns them and a
heartbeat (``time.time()`` of its last sign of life); whether an owner is alive is
:func:`advisor.measure.supervisor.owner_alive`'s to say (a pid reused by a newer process is not the owner), and
:class:`advisor.measure.supervisor.Heartbeat` keeps the sign of life fresh. Opening a store marks runs left
``running`` by a dead owner ``interrupted``.
"""

from __future__ import annotations

from pathlib import Path

from advisor.core.results import Recommendation
from advisor.errors import AdvisorError
from advisor.store.database import (
    BUSY_TIMEOUT_S,
    CLAIM_STALE_S,
    HEARTBEAT_S,
    STORE_SCHEMA_VERSION,
    Database,
    StaleOwner,
    StoreError,
    default_store_path,
    measurement_key,
)
from advisor.store.jobs import Jobs
from advisor.store.measurements import Measurements
from advisor.store.runs import RunRow, Runs


class ResultStore(Measurements, Runs, Jobs, Database):
    """Measurements, runs, jobs and measurement claims in one SQLite file; open with ``ResultStore(path)``, use as a
    context manager.

    Raises:
        StoreError: the file is not a result store, was written by a newer advisor, or cannot be opened.
    """

    def __enter__(self) -> ResultStore:
        return self


def load_run(ref: str, store: Path | None = None) -> Recommendation:
    """A run from a results.json path, or by id from the result store.

    Raises:
        AdvisorError: a path that is missing or not a readable results.json.
        StoreError: no stored run has this id.
    """
    path = Path(ref)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise AdvisorError(f"{path}: file not found; give a results.json path or a stored run id (advisor history lists them)")
        try:
            return Recommendation.load(path)
        except ValueError as exc:
            raise AdvisorError(f"{path}: not a results.json this advisor can read ({str(exc).splitlines()[0]})") from None
    with ResultStore(store) as s:
        return Recommendation.model_validate(s.get_run(ref))


__all__ = [
    "load_run",
    "BUSY_TIMEOUT_S",
    "CLAIM_STALE_S",
    "HEARTBEAT_S",
    "STORE_SCHEMA_VERSION",
    "ResultStore",
    "RunRow",
    "StaleOwner",
    "StoreError",
    "default_store_path",
    "measurement_key",
]
