"""The typed reasons of a run's decisions: why no cascade, why no more samples, the ranking's outcome, the best bet.

Each is data a pipeline can read; :mod:`advisor.core.sentences` words it, and results.json keeps both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from advisor.core.figures import ResultModel


class Unfit(ResultModel):
    """A cheaper candidate that cannot answer early in a cascade, and why."""

    candidate: str
    case: Literal["no_confidence", "constant_confidence", "foreign_labels"] = Field(
        description="no_confidence (it gives no score), constant_confidence (every answer the same score), foreign_labels "
        "(it answers labels the task does not have)"
    )
    detail: str | None = Field(default=None, description="the one confidence it gives, or the foreign labels")


class NoCascade(ResultModel):
    """Why a run has no cascade, as data (``no_cascade`` is this in words)."""

    case: Literal["off", "generative", "relative_goal", "nothing_cheaper", "none_can_gate", "none_certified"] = Field(
        description="off (--cascade off), generative (no classifier confidence), relative_goal (no fixed threshold), "
        "nothing_cheaper (no measured candidate costs less than the last stage), none_can_gate (every cheaper one is unfit), "
        "none_certified (none of those tried is certified to meet the goal for less energy)"
    )
    last: str | None = Field(default=None, description="the model a cascade would end in")
    tried: list[str] = Field(default_factory=list, description="none_certified: the cheaper candidates tried as early stages")
    unfit: list[Unfit] = Field(default_factory=list, description="the cheaper candidates that cannot gate, and why")


class Stop(ResultModel):
    """Why no more samples were drawn for one candidate."""

    candidate: str
    case: Literal["fixed_size", "relative_goal", "no_rows", "max_samples", "energy_budget", "time_budget"] = Field(
        description="fixed_size (--samples), relative_goal (--max-drop), no_rows (every row used), max_samples (--max-samples), "
        "energy_budget or time_budget (--budget spent)"
    )
    value: float | None = Field(default=None, description="the sample size, rows, joules or seconds the case names")


class BestBet(ResultModel):
    """When the data cannot decide: the candidate most likely to meet the goal. Not a confident recommendation."""

    name: str
    likelihood: float = Field(
        description="approximate probability that its quality meets the threshold (normal approximation of its interval)"
    )
    even_odds: bool = Field(default=True, description="the cheapest at even odds or better (False: none reaches even odds)")
    note: str = Field(default="", description="the bet in words")


class Outcome(ResultModel):
    """What the ranking decided, as data (``summary`` is this in words)."""

    case: Literal["only", "largest", "smaller", "none_measured", "all_stopped", "none_meets", "undecided"] = Field(
        description="recommended: only (the one candidate that meets the goal), largest (the largest that meets it), smaller "
        "(cheaper than the largest that meets it); none_measured; all_stopped (each stopped early, below the goal); "
        "none_meets; undecided (the samples cannot tell)"
    )
    by: Literal["energy", "params", "latency"] = "energy"
    chosen: str | None = Field(default=None, description="the recommended candidate")
    largest: str | None = Field(default=None, description="smaller: the largest candidate that also meets the goal")
    cost_ratio: float | None = Field(
        default=None, description="smaller: the chosen one's cost (by) over the largest's; None where either reads zero"
    )
    subject: str | None = Field(
        default=None, description="all_stopped: the highest quality stopped early; none_meets: the best; undecided: the cheapest undecided"
    )
