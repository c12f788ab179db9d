"""The command line run as a real process, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

CLI = [sys.executable, "-m", "advisor.cli"]
"""The command that starts the advisor's command line (prefix for a ``subprocess.Popen`` a test drives itself)."""


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, a terminal 250 columns wide (Rich breaks no row), plus ``extra``."""
    return {**os.environ, "COLUMNS": "250", **(extra or {})}


def cli(*args: Any, cwd=None, env: Mapping[str, str] | None = None, timeout: float = 300, **popen: Any) -> subprocess.CompletedProcess:
    """Run ``python -m advisor.cli ARGS`` to the end; output captured as text.

    ``env``: variables added to :func:`cli_env`'s; ``popen``: further keywords for :func:`subprocess.run`.
    """
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=cli_env(env), **popen)
