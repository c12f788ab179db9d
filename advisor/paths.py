"""Where the advisor keeps things: the project root (built-in tasks and registry) and its cache folder."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The project folder holding the built-in ``tasks/`` and ``registry.yaml``."""


def cache_dir() -> Path:
    """The advisor's cache folder (``$ADVISOR_CACHE``, else ``$XDG_CACHE_HOME/advisor``)."""
    env = os.environ.get("ADVISOR_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "advisor"


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(text: str, limit: int = 64) -> str:
    """``text`` as one safe path component: letters, digits, ``_ . -`` only, never ``.`` or ``..``."""
    out = _UNSAFE.sub("-", text).strip(".-")[:limit].strip(".-")
    return out or "task"


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file renamed into place: a reader sees the old file or the
    new one, never a part of either (also when the writer is killed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def replace_folder(new: Path, final: Path) -> Path:
    """Put the complete folder ``new`` in place of ``final``: the old one is moved aside, and removed only once the new
    one is in place, so a reader finds the old folder or the new one, never a part of either."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final
