"""Where the advisor keeps things: the project root (built-in tasks and registry) and its cache folder."""

from __future__ import annotations

import os
import re
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
