"""What the choice is worth: savings against the reference at the user's volume, and a cascade.

Pure functions over measured results (carbon intensity comes from CodeCarbon's bundled data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from advisor.core.results import CandidateResult, Cascade, Savings
from advisor.core.stats import Resampled

J_PER_KWH = 3.6e6


def carbon_intensity(country_iso3: str) -> float | None:
    """Grid carbon intensity in gCO2e/kWh for a country (CodeCarbon's energy-mix data), or None if unknown."""
    from codecarbon.input import DataSource

    row = DataSource().get_global_energy_mix_data().get(country_iso3.upper())
    return float(row["carbon_intensity"]) if row and row.get("carbon_intensity") is not None else None


def savings(
    chosen: CandidateResult,
    reference: CandidateResult,
    queries_per_day: float | None,
    country: str,
    price_per_kwh: float | None,
    advisor_energy_j: float,
) -> Savings:
    """Energy, CO2 and money saved by serving ``chosen`` instead of ``reference``.

    Per query in joules; per year in kWh, kg CO2e (at ``country``'s grid intensity) and money when
    a price is given; and the days of traffic after which the advisor's own energy is paid back.
    """
    saved_j = reference.energy.per_query_j - chosen.energy.per_query_j
    out: dict = {
        "reference": reference.name,
        "chosen": chosen.name,
        "saved_per_query_j": saved_j,
        "saved_share": saved_j / reference.energy.per_query_j if reference.energy.per_query_j > 0 else None,
        "quality_change": (chosen.quality or 0) - (reference.quality or 0),
        "country": country,
    }
    if queries_per_day:
        kwh = saved_j * queries_per_day * 365 / J_PER_KWH
        intensity = carbon_intensity(country)
        out.update(
            {
                "queries_per_day": queries_per_day,
                "saved_kwh_per_year": kwh,
                "carbon_intensity_g_per_kwh": intensity,
                "saved_kg_co2e_per_year": kwh * intensity / 1000 if intensity is not None else None,
                "saved_money_per_year": kwh * price_per_kwh if price_per_kwh is not None else None,
                "price_per_kwh": price_per_kwh,
                "advisor_payback_days": advisor_energy_j / (saved_j * queries_per_day) if saved_j > 0 else None,
            }
        )
    return Savings(**out)


def cascade(
    small: CandidateResult,
    large: CandidateResult,
    labels: Sequence[str],
    metric: Resampled,
    threshold: float,
    interval: Callable[[Sequence[str]], Sequence[float]],
    max_checks: int = 25,
) -> Cascade | None:
    """The least-energy confidence gate at which ``small`` answers and defers the rest to ``large``, meeting ``threshold``.

    Expected energy per query = small's + (deferred share) x large's. A gate qualifies when the lower
    bound of ``interval(cascade predictions)`` reaches the threshold. The gate is chosen on the same
    samples it is scored on, so the figures are optimistic until confirmed on fresh samples. Only
    gates cheaper than ``large`` alone are considered, and at most ``max_checks`` intervals computed.

    The quality at every gate comes from one pass: ``metric``'s per-sample tables of both models,
    the small one's rows taken for the samples it answers (running sums in order of its confidence),
    so only the gates whose point quality reaches the threshold cost an interval.
    """
    if small.probabilities is None or large.predictions is None or small.energy is None or large.energy is None:
        return None
    labels = list(labels)
    n = len(labels)
    conf = np.asarray(small.probabilities, dtype=float)
    names = sorted(set(labels) | set(small.predictions) | set(large.predictions))
    t_small, t_large = metric.table(small.predictions, labels, names), metric.table(large.predictions, labels, names)
    gates = np.unique(np.concatenate([conf, [np.inf]]))
    answered = n - np.searchsorted(np.sort(conf), gates, side="left")  # samples the small model answers at each gate
    gain = np.cumsum((t_small - t_large)[np.argsort(-conf, kind="stable")], axis=0)
    gain = np.vstack([np.zeros((1, gain.shape[1])), gain])
    quality = metric.from_sums(t_large.sum(axis=0) + gain[answered], n)
    deferred = 1 - answered / n
    energy = small.energy.per_query_j + deferred * large.energy.per_query_j
    sp, lp = np.asarray(small.predictions, dtype=object), np.asarray(large.predictions, dtype=object)
    checked = 0
    for i in np.argsort(energy, kind="stable"):
        if energy[i] >= large.energy.per_query_j or checked >= max_checks:
            break
        if quality[i] < threshold:
            continue
        checked += 1
        lo, hi = interval(list(np.where(conf >= gates[i], sp, lp)))
        if lo >= threshold:
            return Cascade(
                small=small.name,
                large=large.name,
                gate=float(gates[i]),
                deferred_share=float(deferred[i]),
                quality=float(quality[i]),
                quality_ci=[lo, hi],
                energy_per_query_j=float(energy[i]),
            )
    return None
