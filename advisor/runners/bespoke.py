"""Models made by the advisor (fine-tuned on the samples, distilled from a parent), kept in the cache with their lineage.

A made model is written to a temporary folder beside its final place and renamed into place only
once complete, so an interrupted making leaves nothing a later run would take for finished work.
Its ``lineage.json`` says what it was made from and how, and the SHA-256 of every file; what making it
cost is added to the file once known (:func:`record_cost`). A copy whose files changed since is made
again; a file lock makes two processes asking for the same model make it once.
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


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of a made model but its lineage, by relative path."""
    from advisor.spec.package import sha256

    return {f.relative_to(folder).as_posix(): sha256(f) for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != LINEAGE)}


def damaged(folder: Path, facts: dict) -> str | None:
    """The first file of a made model that is missing or changed since it was made (its recorded hash), or None.

    A model made before hashes were recorded gets them now (from then on it is checked)."""
    recorded = facts.get("files")
    if not isinstance(recorded, dict):
        write_atomic(folder / LINEAGE, json.dumps({**facts, "files": file_hashes(folder)}, indent=2))
        return None
    found = file_hashes(folder)
    for rel, digest in recorded.items():
        if rel not in found:
            return f"{rel} is missing"
        if found[rel] != digest:
            return f"{rel} changed (its SHA-256 differs from when it was made)"
    return None


@contextmanager
def locked(final: Path) -> Iterator[None]:
    """Hold the lock of ``final``'s making (a file lock in the cache's ``locks/`` folder, never beside the model): two
    processes making the same model make it once."""
    import fcntl

    from advisor.paths import cache_dir

    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(str(final.resolve()).encode()).hexdigest()[:32]
    with open(locks / f"{name}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
        made = {**facts, "made_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "files": file_hashes(tmp)}
        (tmp / LINEAGE).write_text(json.dumps(made, indent=2), encoding="utf-8")
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
    """``final`` made by ``make(folder)`` unless a complete, intact copy is there already (one whose files were changed
    or truncated since it was made is made again, with a warning). Two processes asking at once make it once.

    Returns:
        The folder and, when it was made by an earlier run, that run's lineage (None when made now).
    """
    import logging

    with locked(final):
        earlier = lineage(final)
        if earlier is not None:
            why = damaged(final, earlier)
            if why is None:
                return final, lineage(final)
            logging.getLogger("advisor").warning("the made model %s is damaged (%s): made again", final, why)
            shutil.rmtree(final, ignore_errors=True)
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
