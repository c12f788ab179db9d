"""Measured results built by hand, without running a model: one place for the fields a test does not care about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from advisor.core.results import CandidateResult, EnergyStats


def energy(
    j: float,
    *,
    ci: Sequence[float] | None = None,
    repeats: int | Sequence[float] = 1,
    cpu_share: float = 1.0,
    marginal: float | None = None,
    window_queries: int = 10,
    durations: Sequence[float] | None = None,
) -> EnergyStats:
    """Energy of ``j`` joules per query, split between CPU (``cpu_share``) and RAM (the rest), no GPU.

    ``repeats``: the per-window figures, or how many windows each measured exactly ``j``; ``durations``: each
    window's seconds (default 1.0 each); ``marginal``: above the idle baseline (default all of ``j``);
    ``ci``: the Student-t interval, when the test needs one.
    """
    per_window = [j] * repeats if isinstance(repeats, int) else list(repeats)
    return EnergyStats(
        per_query_j=j,
        cpu_per_query_j=cpu_share * j,
        ram_per_query_j=(1 - cpu_share) * j,
        gpu_per_query_j=0.0,
        marginal_per_query_j=j if marginal is None else marginal,
        repeats_per_query_j=per_window,
        ci_per_query_j=None if ci is None else list(ci),
        window_queries=window_queries,
        window_durations_s=[1.0] * len(per_window) if durations is None else list(durations),
    )


def candidate(
    name: str,
    *,
    quality: float | None = None,
    energy_j: float | None = None,
    status: str = "ok",
    tier: str = "small",
    kind: str = "tfidf-logreg",
    backend: str = "sklearn",
    source: str = "built in",
    license: str = "MIT",
    **update: Any,
) -> CandidateResult:
    """A candidate's result: a small scikit-learn TF-IDF model unless told otherwise.

    ``energy_j``: energy per query with :func:`energy`'s defaults (pass ``energy=`` for anything else); every
    other :class:`~advisor.core.results.CandidateResult` field goes through ``update``.
    """
    if energy_j is not None:
        if "energy" in update:
            raise TypeError("candidate() takes energy_j or energy, not both")
        update["energy"] = energy(energy_j)
    return CandidateResult(
        name=name,
        tier=tier,
        kind=kind,
        backend=backend,
        source=source,
        license=license,
        status=status,
        quality=quality,
        **update,
    )
