"""Candidate kinds behind one small protocol (:class:`~advisor.runners.base.Runner`).

Which kinds exist is defined once, in :mod:`advisor.spec.kinds`; a kind's runner module (and its heavy
libraries) is imported only when that kind is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_BASE = ("ModelInfo", "Prediction", "RunContext", "Runner")


def runner_class(kind: str, runtime_runner: str | None = None) -> type[Runner]:
    """The runner class for a registry ``kind``, or ``runtime_runner`` (``module:Class``) where a runtime brings its
    own (see :mod:`advisor.spec.runtimes`). Imported lazily: heavy libraries load only when used."""
    from advisor.spec.kinds import KINDS

    module, name = (runtime_runner or KINDS[kind].runner).split(":")
    return getattr(import_module(module), name)


def __getattr__(name: str) -> Any:
    if name in _BASE:
        return getattr(import_module("advisor.runners.base"), name)
    raise AttributeError(f"module 'advisor.runners' has no attribute '{name}'")


if TYPE_CHECKING:
    from advisor.runners.base import ModelInfo, Prediction, RunContext, Runner

__all__ = [*_BASE, "runner_class"]
