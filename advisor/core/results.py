"""Typed results: what every candidate measured and the recommendation built from them.

One :class:`Recommendation` is what the CLI prints, ``results.json`` stores and the library call
returns. Units are in the names (``_j`` joules, ``_ms`` milliseconds, ``_s`` seconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field

from advisor.core.figures import (  # re-exported: every results model is importable from here
    CandidateResult,
    CandidateServing,
    CascadeFacts,
    Comparison,
    Cost,
    EnergyStats,
    FitStats,
    Generation,
    Making,
    MakingStep,
    Node,
    Phase,
    ResultModel,
    Reuse,
    Serving,
    ServingChoice,
    ServingPoint,
    Status,
)
from advisor.core.reasons import BestBet, NoCascade, Outcome, Stop, Unfit  # re-exported too
from advisor.paths import write_atomic

SCHEMA_VERSION = "1.8"
"""Major.minor: a reader reads every file of its major version; fields it does not know are ignored."""


class Savings(ResultModel):
    """The recommendation against the reference: per query (J), and per year at the stated volume."""

    reference: str
    chosen: str
    saved_per_query_j: float
    saved_share: float | None = Field(
        description="share of the reference's energy per query saved (0..1); null when the reference's energy reads zero"
    )
    quality_change: float
    country: str
    queries_per_day: float | None = None
    saved_kwh_per_year: float | None = None
    carbon_intensity_g_per_kwh: float | None = None
    saved_kg_co2e_per_year: float | None = None
    saved_money_per_year: float | None = None
    price_per_kwh: float | None = None
    advisor_payback_days: float | None = Field(default=None, description="days of traffic after which the run's own energy is paid back")


class Cascade(ResultModel):
    """Cheaper models that answer when confident, in order of cost, and the last stage answering the rest.

    The gate is chosen on half of the samples all stages share (Learn-then-Test) and the cascade scored on the other
    half: ``quality`` and its interval are held-out figures. ``energy_per_query_j`` is computed from the stages'
    measured figures (a deferred query pays every stage it passed); the cascade is then run as one pipeline and
    metered like any candidate (its row in ``candidates``, named ``candidate``): only that measurement ranks.
    """

    small: str = Field(description="the first stage")
    large: str = Field(description="the last stage, which answers whatever the others defer")
    gate: float = Field(description="a stage answers when its probability is at least this (the same gate for every early stage)")
    deferred_share: float = Field(description="share of queries the first stage does not answer")
    quality: float = Field(description="on the held-out samples")
    quality_ci: list[float]
    energy_per_query_j: float = Field(description="computed: each stage's share x the energy of the stages it passed through")
    stages: list[str] = Field(default_factory=list, description="every stage, cheapest first")
    shares: list[float] = Field(default_factory=list, description="share of the held-out queries each stage answers")
    samples_calibration: int | None = Field(default=None, description="samples the gate was chosen on")
    samples_held_out: int | None = Field(default=None, description="other samples the cascade was scored on")
    certified_at: float | None = Field(
        default=None, description="level at which the gate was certified to meet the threshold (the run's, split over the cascades tried)"
    )
    method: str | None = None
    verdict: Literal["meets", "undecided"] | None = Field(
        default=None, description="meets when the held-out interval's lower bound reaches the threshold too, else undecided"
    )
    candidate: str | None = Field(default=None, description="the cascade's measured row in candidates (None: not measured)")
    measured_energy_per_query_j: float | None = Field(default=None, description="the pipeline's metered windows (None: not measured)")
    measured_shares: list[float] = Field(default_factory=list, description="share of the windows' queries each stage answered")
    queries_from: str | None = Field(default=None, description="the windows' queries: fresh rows of the task, or the samples")
    not_measured: str | None = Field(default=None, description="why the pipeline has no measurement")


class Look(ResultModel):
    """One look at the data: how many samples, which candidates were measured on them, and what it cost."""

    samples: int
    measured: list[str] = Field(default_factory=list)
    energy_j: float = 0.0
    duration_s: float = 0.0
    phases: dict[str, Phase] = Field(default_factory=dict, description="what each phase of this measurement took")
    for_cascade: bool = Field(default=False, description="drawn to decide a cascade, or the cascade's own measurement")


class RunAhead(ResultModel):
    """First looks started ahead on free measuring slots (Ray nodes) so every slot is busy; the decisions are those of
    a search measuring one candidate at a time (:mod:`advisor.search.ahead`)."""

    slots: int = Field(description="measurements that could run at once (one per measuring node)")
    used: list[str] = Field(default_factory=list, description="candidates whose first look ran ahead and was used")
    unused: list[str] = Field(default_factory=list, description="candidates run ahead that the search then did not need")
    unused_energy_j: float = Field(0.0, description="metered energy of the unneeded looks that finished (in the run's cost)")
    cancelled_s: float = Field(0.0, description="seconds the unneeded looks still running had run when cancelled (no energy reported)")


class Search(ResultModel):
    """How the candidates were searched: adaptive or exhaustive, in which order, and why; and the looks at the data."""

    strategy: Literal["adaptive", "exhaustive"] = "exhaustive"
    note: str | None = None
    order: list[str] = Field(default_factory=list)
    first_shard: int | None = None
    planned_samples: list[int] = Field(default_factory=list, description="the sample sizes the run may look at, in order")
    look_confidence: float | None = Field(
        default=None,
        description="the level of each look's intervals (Bonferroni over the "
        "planned looks), so that the stated confidence holds over all of them",
    )
    rows_available: int | None = Field(default=None, description="rows of the task's data that could be drawn")
    looks: list[Look] = Field(default_factory=list)
    stopped: str | None = Field(default=None, description="why no more samples were drawn (stops, in words)")
    stops: list[Stop] = Field(default_factory=list, description="why no more samples were drawn, per candidate")
    ahead: RunAhead | None = Field(default=None, description="measurements run ahead on a cluster's free slots (Ray)")


class Method(ResultModel):
    """How energy was obtained: measured or estimated, by which meter, on which hardware."""

    model_config = ConfigDict(extra="allow")

    energy: str = Field(default="unknown", description="'measured', 'estimated', 'not measured' or 'fake'")
    meter: str | None = None
    codecarbon_version: str | None = None
    tracking_mode: str | None = None
    cpu: str | None = None
    gpu: str | None = None
    ram: str | None = None
    cpu_tdp_w: float | None = Field(default=None, description="older results only; CodeCarbon does not publish the TDP it uses")
    cpu_power_w: float | None = Field(default=None, description="CPU power stated by the user (--cpu-power-w), in watts")
    ram_power_w: float | None = Field(default=None, description="RAM power stated by the user (--ram-power-w), in watts")
    cpu_model: str | None = None
    cpu_count: int | None = None
    gpu_model: str | None = None
    ram_total_gb: float | None = None
    country_iso_code: str | None = None


class IdlePower(ResultModel):
    """Average power of the measuring process while idle, in watts, per component."""

    total: float = 0.0
    cpu: float = 0.0
    ram: float = 0.0
    gpu: float = 0.0


class Environment(ResultModel):
    """Hardware and software facts recorded with every run."""

    python: str | None = None
    platform: str | None = None
    machine: str | None = None
    processor: str | None = None
    versions: dict[str, str | None] = Field(default_factory=dict)


class RegistryInfo(ResultModel):
    """The registry file used and the selected candidates' entries."""

    path: str | None = None
    candidates: list[dict[str, Any]] = Field(default_factory=list)


class Distillation(ResultModel):
    """``advisor distill``: the student's lineage and how close it comes to its teacher."""

    name: str
    teacher: str
    student: str
    task: str
    task_samples_sha256: str
    unlabelled: str = Field(description="where the unlabelled texts came from")
    texts: int
    teacher_label_counts: dict[str, int] = Field(default_factory=dict)
    teacher_fitted_on_task_samples: bool = False
    caveat: str | None = None
    seconds: float = 0.0
    state: str = Field(description="path of the distilled model's fitted state")
    agreement: float | None = None
    quality_change: float | None = None
    energy_ratio: float | None = None
    note: str | None = None


class SampleSet(ResultModel):
    """The samples measured: reference labels always, texts unless the run was told not to keep them."""

    texts: list[str] | None = None
    labels: list[str] = Field(default_factory=list)


class TaskInfo(ResultModel):
    """The task as used in the run."""

    name: str
    path: str
    type: str
    metric: str
    metric_label: str
    samples: int
    source_rows: int
    seed: int
    folds: int
    data_sha256: str
    spec: dict[str, Any]


class Recommendation(ResultModel):
    """The answer and its evidence. ``model`` is None when no candidate meets the threshold."""

    schema_version: str = SCHEMA_VERSION
    run_id: str
    created_at: str
    status: Literal["running", "complete", "interrupted"] = "complete"
    task: TaskInfo
    threshold: float | None = Field(description="the absolute quality goal, when there is one")
    confidence: float = Field(default=0.95, description="level of every interval and decision")
    max_drop: float | None = None
    reference: str | None = None
    ranked_by: Literal["energy", "params", "latency"]
    decision: Literal["recommended", "none", "undecided"] = "none"
    model: str | None = None
    best: str | None = None
    summary: str = Field(default="", description="outcome (and, when undecided, the stops and the best bet) in words")
    outcome: Outcome | None = Field(default=None, description="what the ranking decided, as data")
    best_bet: BestBet | None = Field(default=None, description="undecided runs: the candidate most likely to meet the goal")
    pareto: list[str] = Field(default_factory=list, description="non-dominated on quality and energy, cheapest first")
    savings: Savings | None = Field(default=None, description="the recommendation against the reference, per query and per year")
    cascade: Cascade | None = Field(default=None, description="a cheaper small->large confidence cascade, when one meets the goal")
    no_cascade: str | None = Field(default=None, description="why there is no cascade (once the run is over), in words")
    why_no_cascade: NoCascade | None = Field(default=None, description="why there is no cascade, as data")
    candidates: list[CandidateResult]
    settings: dict[str, Any] = Field(description="the run's Settings, as given")
    method: Method = Field(default_factory=Method)
    idle_power_w: IdlePower = Field(default_factory=IdlePower)
    environment: Environment = Field(default_factory=Environment)
    registry: RegistryInfo = Field(default_factory=RegistryInfo)
    advisor_cost: Cost = Field(
        default_factory=Cost, description="energy (J) and time (s) the run spent, and estimates of an exhaustive run's"
    )
    distillation: Distillation | None = Field(
        default=None, description="advisor distill: lineage and how close the student comes to its teacher"
    )
    serving: Serving | None = Field(default=None, description="how to serve the recommended model (serving sweep), when run")
    search: Search = Field(default_factory=Search, description="adaptive or exhaustive, the order candidates were measured in, and why")
    samples: SampleSet = Field(default_factory=SampleSet)

    def candidate(self, name: str) -> CandidateResult:
        """The result of the candidate called ``name``."""
        for c in self.candidates:
            if c.name == name:
                return c
        raise KeyError(name)

    @classmethod
    def load(cls, path: str | Path) -> Recommendation:
        """Read a saved ``results.json``.

        Raises:
            ValueError: the file was written by an incompatible schema version.
            pydantic.ValidationError: the file is not an advisor results file.
        """
        text = Path(path).read_text(encoding="utf-8")
        try:
            version = str(json.loads(text).get("schema_version", ""))
        except (json.JSONDecodeError, AttributeError):
            version = ""
        if version and version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise ValueError(f"schema_version {version} is not readable by this advisor (reads {SCHEMA_VERSION.split('.')[0]}.x)")
        return cls.model_validate_json(text)

    def save(self, path: str | Path) -> Path:
        """Write ``results.json`` atomically (a partial file never replaces a complete one)."""
        return write_atomic(Path(path), self.to_json())

    def export(self, to: str | Path, candidate: str | None = None, **kw: Any) -> Any:
        """Export the recommended model (or ``candidate``) as a checked package: :func:`advisor.deploy.build.export`."""
        from advisor.deploy.build import export

        return export(self, to, candidate=candidate, **kw)


SCHEMA_FILE = Path(__file__).with_name("results.schema.json")
"""The published JSON Schema of results.json (regenerated from these models; a test keeps it current)."""


def json_schema() -> dict[str, Any]:
    """The JSON Schema of results.json at this :data:`SCHEMA_VERSION`."""
    schema = Recommendation.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"advisor-results-{SCHEMA_VERSION}",
        "title": f"advisor results.json, schema {SCHEMA_VERSION}",
        **schema,
    }


__all__ = [
    "BestBet",
    "CandidateResult",
    "CandidateServing",
    "Cascade",
    "CascadeFacts",
    "Comparison",
    "Cost",
    "Distillation",
    "EnergyStats",
    "Environment",
    "FitStats",
    "Generation",
    "IdlePower",
    "Look",
    "Making",
    "MakingStep",
    "Method",
    "NoCascade",
    "Node",
    "Outcome",
    "Phase",
    "Recommendation",
    "RegistryInfo",
    "ResultModel",
    "Reuse",
    "RunAhead",
    "SCHEMA_FILE",
    "SCHEMA_VERSION",
    "SampleSet",
    "Savings",
    "Search",
    "Serving",
    "ServingChoice",
    "ServingPoint",
    "Status",
    "Stop",
    "TaskInfo",
    "Unfit",
    "json_schema",
]
