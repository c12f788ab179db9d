"""What the choice is worth: savings against the reference at the user's volume, and a cascade.

Pure functions over measured results (carbon intensity comes from CodeCarbon's bundled data).
"""

from __future__ import annotations

from advisor.core.results import CandidateResult, Savings

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
