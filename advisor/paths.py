"""Where the advisor keeps things: the project root (built-in tasks and registry) and its cache folder."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from advisor.errors import AdvisorError

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


class WriteError(AdvisorError, OSError):
    """A file that cannot be written (a full disk, a read-only folder): the message names it and the fix. An
    :class:`OSError` too, so code that keeps going without a file (a fitted state) still does."""


def cannot_write(path: Path, exc: OSError) -> WriteError:
    """The one-line error for ``path`` failing with ``exc``."""
    why = exc.strerror or str(exc) or type(exc).__name__
    return WriteError(f"{path}: cannot be written ({why}); free space on its disk or make it writable, or choose another folder")


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file renamed into place: a reader sees the old file or the
    new one, never a part of either (also when the writer is killed, or the disk fills up).

    Raises:
        WriteError: the file cannot be written (the old one, if any, is left as it was).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except WriteError:
        raise
    except OSError as exc:
        raise cannot_write(path, exc) from None
    finally:
        with contextlib.suppress(OSError):  # nothing to remove where the folder itself could not be made
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
