"""Models made by the advisor (fine-tuned on the samples, distilled from a parent), kept in the cache with their lineage.

A made model is written to a temporary folder beside its final place and renamed into place only
once complete, so an interrupted making leaves nothing a later run would take for finished work.
Its ``lineage.json`` says what it was made from and how; what making it cost is added to the file
once known (:func:`record_cost`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from advisor.paths import write_atomic

LINEAGE = "lineage.json"


def made_folder(what: str, name: str, key: Any) -> Path:
    """Where a model made as ``what`` (e.g. ``fine-tuned``) from ``name`` with everything in ``key`` is kept."""
    from advisor.paths import cache_dir, slug

    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return cache_dir() / "made" / what / f"{slug(name, 48)}-{digest}"


def samples_digest(texts: list[str], labels: list[str]) -> str:
    """A hash of the texts and labels a model is made from (their order included)."""
    h = hashlib.sha256()
    for t, lab in zip(texts, labels):
        h.update(f"{len(t)}:{t}|{lab}\n".encode())
    return h.hexdigest()


def lineage(folder: Path) -> dict | None:
    """The lineage of a complete made model in ``folder``, or None when there is none (never made, or unreadable)."""
    try:
        return json.loads((folder / LINEAGE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextmanager
def making(final: Path, facts: dict) -> Iterator[Path]:
    """Yield a fresh temporary folder to write a model into; on success it becomes ``final`` with ``facts`` as
    its lineage. On any error or interruption the temporary folder is removed and ``final`` is untouched.
    When another process finished the same model first, its copy is kept and this one discarded."""
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(final.parent)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        (tmp / LINEAGE).write_text(
            json.dumps({**facts, "made_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}, indent=2), encoding="utf-8"
        )
        try:
            tmp.rename(final)
        except OSError:
            if lineage(final) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def record_cost(folder: Path, energy_j: float | None, duration_s: float, method: str) -> None:
    """Add what making the model in ``folder`` cost to its lineage (replacing the file whole)."""
    facts = lineage(folder)
    if facts is None or "cost" in facts:
        return
    facts["cost"] = {"energy_j": energy_j, "duration_s": duration_s, "energy_method": method}
    write_atomic(folder / LINEAGE, json.dumps(facts, indent=2))


def cached(final: Path, make: Callable[[Path], None], facts: dict) -> tuple[Path, dict | None]:
    """``final`` made by ``make(folder)`` unless a complete copy is there already.

    Returns:
        The folder and, when it was made by an earlier run, that run's lineage (None when made now).
    """
    earlier = lineage(final)
    if earlier is not None:
        return final, earlier
    with making(final, facts) as tmp:
        make(tmp)
    return final, None


def _remove_stale(parent: Path) -> None:
    """Temporary folders left by a process that no longer runs (killed mid-making)."""
    for tmp in parent.glob(".*.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
