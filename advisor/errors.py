"""Errors raised for user mistakes: one line, naming the file, the field and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class AdvisorError(Exception):
    """A problem with the user's input or environment, reported as one line without a traceback."""


class SpecError(AdvisorError):
    """A task or registry file is invalid.

    The message reads ``<file>: <field>: <problem>; <fix>`` so a user can go straight to it.
    """

    def __init__(self, path: str | Path | None, field: str | None, problem: str, fix: str | None = None):
        self.path = str(path) if path is not None else None
        self.field = field
        self.problem = problem
        self.fix = fix
        parts = [p for p in (self.path, field) if p]
        head = ": ".join(parts)
        msg = f"{head}: {problem}" if head else problem
        if fix:
            msg += f"; {fix}"
        super().__init__(msg)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or an empty string."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def failure(phase: str, exc: BaseException) -> str:
    """Why a measurement failed, in one line: the phase, the error's first line and where it was raised."""
    import traceback

    last = traceback.extract_tb(exc.__traceback__)[-1]
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{phase} failed: {type(exc).__name__}: {first} ({Path(last.filename).name}:{last.lineno})"
