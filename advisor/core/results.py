"""Typed results: what every candidate measured and the recommendation built from them.

One :class:`Recommendation` is what the CLI prints, ``results.json`` stores and the library call
returns. Units are in the names (``_j`` joules, ``_ms`` milliseconds, ``_s`` seconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.4"
"""Major.minor: a reader reads every file of its major version; fields it does not know are ignored."""

Status = Literal["ok", "dropped", "pruned", "skipped", "failed", "not run"]
"""``dropped``: stopped early, its quality's upper bound below the threshold on part of the samples;
``pruned``: not measured, a cheaper candidate already met the goal (adaptive search)."""


class ResultModel(BaseModel):
    """Base of every results model: fields added by a newer minor version are ignored, not refused."""

    model_config = ConfigDict(extra="ignore")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return self.model_dump(mode="json")

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent)


class Phase(ResultModel):
    """What one measured phase of a candidate cost (load, quality, energy, latency)."""

    energy_j: float | None = Field(default=None, description="metered energy in joules; None when the phase was not metered")
    duration_s: float


class Cost(ResultModel):
    """What measuring cost the advisor: energy in joules and wall time in seconds."""

    energy_j: float = 0.0
    duration_s: float = 0.0
    exhaustive_estimate_j: float | None = Field(default=None, description="adaptive runs: estimated energy of measuring everything")
    exhaustive_estimate_s: float | None = Field(default=None, description="adaptive runs: estimated time of measuring everything")
    not_estimated: list[str] = Field(
        default_factory=list, description="pruned candidates left out of the estimate (no measured peer of their kind)"
    )


class Comparison(ResultModel):
    """A paired comparison with the reference on the same samples."""

    reference: str
    difference: float = Field(description="this candidate's quality minus the reference's")
    ci: list[float] = Field(description="[low, high] paired bootstrap interval of the difference")
    mcnemar_p: float | None = Field(default=None, description="accuracy only: McNemar's test p-value")


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
    """A small model that answers when confident and defers the rest to a large one."""

    small: str
    large: str
    gate: float = Field(description="the small model answers when its probability is at least this")
    deferred_share: float
    quality: float
    quality_ci: list[float]
    energy_per_query_j: float = Field(description="expected: small's + deferred share x large's")


class Look(ResultModel):
    """One look at the data: how many samples, which candidates were measured on them, and what it cost."""

    samples: int
    measured: list[str] = Field(default_factory=list)
    energy_j: float = 0.0
    duration_s: float = 0.0
    phases: dict[str, Phase] = Field(default_factory=dict, description="what each phase of this measurement took")


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
    stopped: str | None = Field(default=None, description="why no more samples were drawn")


class BestBet(ResultModel):
    """When the data cannot decide: the candidate most likely to meet the goal. Not a confident recommendation."""

    name: str
    likelihood: float = Field(
        description="approximate probability that its quality meets the threshold (normal approximation of its interval)"
    )
    note: str


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


class EnergyStats(ResultModel):
    """Energy per query (joules) at the run's batch size, averaged over the repeated windows."""

    per_query_j: float
    cpu_per_query_j: float
    ram_per_query_j: float
    gpu_per_query_j: float
    marginal_per_query_j: float = Field(description="per_query_j minus the idle baseline's share")
    repeats_per_query_j: list[float]
    ci_per_query_j: list[float] | None = Field(default=None, description="Student-t interval of the mean over the repeats")
    window_queries: int
    window_durations_s: list[float]
    per_token_j: float | None = Field(default=None, description="generative runners: energy per generated token, real lengths")
    tokens_per_query: float | None = Field(default=None, description="generative runners: mean generated tokens per query")
    source: Literal["windows", "quality pass"] = Field(
        default="windows", description="repeated inference windows, or the one metered quality pass of a dead end"
    )


class FitStats(ResultModel):
    """Cost of training by cross-fitting plus the final fit of the deployed model (apart from inference)."""

    energy_j: float
    duration_s: float


class MakingStep(ResultModel):
    """One step of making a bespoke model (e.g. distilling, fine-tuning, fitting the head)."""

    what: str
    energy_j: float | None = None
    duration_s: float | None = None
    earlier: bool = Field(default=False, description="made by an earlier run and reused: the figures are that run's")


class Making(ResultModel):
    """How a bespoke model was made from its parent, and what making it cost (one-off, apart from inference)."""

    parent: str | None = Field(description="the candidate (or model folder) it was made from")
    method: str
    path: str | None = Field(default=None, description="the made model's folder in the cache (with its lineage.json)")
    steps: list[MakingStep] = Field(default_factory=list)
    energy_j: float | None = Field(default=None, description="all steps together (None when a step's cost is unknown)")
    duration_s: float | None = None
    payback_queries: float | None = Field(
        default=None, description="queries after which the energy of making it is repaid by its lower energy per query"
    )
    payback_against: str | None = Field(default=None, description="the candidate it would replace, for the payback")
    payback_note: str | None = None


class CandidateResult(ResultModel):
    """Everything measured about one candidate; quality and energy are None unless status is ok."""

    name: str
    tier: str
    kind: str
    backend: str
    source: str
    license: str
    status: Status
    reason: str | None = None
    quality: float | None = None
    quality_ci: list[float] | None = Field(default=None, description="[low, high] at the run's confidence level")
    verdict: Literal["meets", "fails", "undecided"] | None = Field(default=None, description="against the quality goal, with confidence")
    samples_needed: int | None = Field(default=None, description="when undecided: about how many samples would decide")
    vs_reference: Comparison | None = Field(default=None, description="paired comparison with the reference model")
    energy: EnergyStats | None = None
    latency_p50_ms: float | None = Field(default=None, description="single-query (batch 1) latency, median")
    latency_p95_ms: float | None = None
    throughput_qps: float | None = Field(default=None, description="queries per second at the run's batch size")
    peak_rss_mb: float | None = None
    parameters: int | None = None
    size_bytes: int | None = None
    load_s: float | None = None
    fit: FitStats | None = None
    derived_from: str | None = Field(default=None, description="a derived candidate's parent in the registry")
    device: str | None = Field(default=None, description="where its inference ran: cpu, or a CUDA device such as cuda:0")
    making: Making | None = Field(default=None, description="a bespoke model: how it was made and the one-off cost")
    samples_evaluated: int | None = Field(default=None, description="samples scored (fewer than the task's when dropped early)")
    phases: dict[str, Phase] = Field(default_factory=dict, description="energy (J) and duration (s) per measured phase")
    cost: Cost | None = Field(default=None, description="what measuring this candidate cost the advisor")
    predictions: list[str] | None = None
    probabilities: list[float] | None = Field(
        default=None,
        validation_alias=AliasChoices("probabilities", "confidence"),
        description="per sample: the probability the model gave its predicted label",
    )
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def energy_per_query_j(self) -> float | None:
        """Total energy per query in joules (None when not measured)."""
        return self.energy.per_query_j if self.energy else None


class ServingPoint(ResultModel):
    """One serving configuration of a model, measured with the same repeated metered windows as the candidates."""

    runtime: str = Field(description="pytorch, onnxruntime, openvino, scikit-learn or model2vec")
    batch_size: int
    threads: int = Field(description="intra-op threads")
    device: str = "cpu"
    energy: EnergyStats = Field(description="energy per query at this configuration (repeated windows, Student-t interval)")
    throughput_qps: float = Field(description="queries per second at this configuration, back to back")
    batch_p50_ms: float = Field(description="compute time of one batch, median over the windows' batches")
    batch_p95_ms: float
    fill_wait_ms: float = Field(default=0.0, description="a request's longest wait for its batch to fill: (batch - 1) / queries_per_second")
    latency_p50_ms: float = Field(description="one request: its batch's compute time plus the fill wait")
    latency_p95_ms: float
    latency_batches: int = Field(description="batches timed for the latency percentiles")
    keeps_up: bool | None = Field(default=None, description="throughput at least queries_per_second (None: no rate given)")
    meets_goal: bool | None = Field(default=None, description="p95 within max_latency_ms and keeps up (None: no latency goal)")
    default: bool = Field(default=False, description="the run's own configuration (its batch size, all threads, the model's runtime)")


class CandidateServing(ResultModel):
    """The serving sweep of one model: every configuration measured, the frontier and the choice."""

    name: str
    points: list[ServingPoint] = Field(default_factory=list)
    frontier: list[int] = Field(default_factory=list, description="indices of points not beaten on both energy and p95, fastest first")
    chosen: int | None = Field(default=None, description="index of the chosen point (None: none meets the goal)")
    reason: str = ""
    not_measured: list[str] = Field(default_factory=list, description="configurations left out and why (adaptive grid, runtimes)")
    failed: str | None = None
    cost: Cost = Field(default_factory=Cost, description="wall time, and the energy of its metered windows (loading, each configuration)")


class Serving(ResultModel):
    """How to serve: the serving sweep, the latency goal and the (model, configuration) chosen."""

    scope: Literal["recommended", "frontier"]
    max_latency_ms: float | None = None
    queries_per_second: float | None = None
    wait_note: str = Field(default="", description="how a request's wait for its batch is counted")
    candidates: list[CandidateServing] = Field(default_factory=list)
    model: str | None = Field(default=None, description="the model chosen with its configuration (None: no configuration meets the goal)")
    point: ServingPoint | None = None
    answer: str = Field(default="", description="which model and configuration, and why, in one sentence")
    cost: Cost = Field(default_factory=Cost, description="what the whole sweep cost (the meter's total, wall time); not in advisor_cost")


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
    summary: str = ""
    best_bet: BestBet | None = Field(default=None, description="undecided runs: the candidate most likely to meet the goal")
    pareto: list[str] = Field(default_factory=list, description="non-dominated on quality and energy, cheapest first")
    savings: Savings | None = Field(default=None, description="the recommendation against the reference, per query and per year")
    cascade: Cascade | None = Field(default=None, description="a cheaper small->large confidence cascade, when one meets the goal")
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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
        return path


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
