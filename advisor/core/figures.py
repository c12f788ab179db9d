"""The figures of one candidate: its energy, fit, making, quality comparison and serving sweep, and the base
of every results model. Units are in the names (``_j`` joules, ``_ms`` milliseconds, ``_s`` seconds)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

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
    batch_p50_ms: float | None = Field(default=None, description="compute time of one batch in the windows, median")
    batch_p95_ms: float | None = Field(default=None, description="compute time of one batch in the windows, 95th percentile")
    batches_timed: int | None = Field(default=None, description="batches the percentiles are over")


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
    payback_case: Literal["no_candidate", "unknown", "same_architecture", "overlap", "never", "repays"] | None = Field(
        default=None,
        description="what making it buys against payback_against: no_candidate (none to replace), unknown (the making's energy), "
        "same_architecture or overlap (quality, not energy), never (it uses as much per query or more), repays",
    )
    payback_saved_j: float | None = Field(default=None, description="repays: the energy per query it saves against payback_against")
    payback_note: str | None = Field(default=None, description="payback_case in words")


class Reuse(ResultModel):
    """A measurement taken from the result store instead of measured again."""

    run_id: str = Field(description="the run that measured it")
    key: str = Field(description="the start of its key in the store")


class Node(ResultModel):
    """Where a measurement ran on a cluster (Ray), and when."""

    host: str
    node_id: str | None = None
    started: float = Field(description="seconds since the epoch, on the node's clock")
    ended: float


class Generation(ResultModel):
    """What a generating model really generated on the samples (a verbose model pays for its verbosity)."""

    tokens_mean: float
    tokens_max: int
    truncated_share: float = Field(description="share of answers cut off at max_new_tokens")

    @classmethod
    def of(
        cls, tokens: list[int] | None, truncated: list[bool] | None, before: Generation | None = None, known: int = 0
    ) -> Generation | None:
        """The figures of answers of ``tokens`` tokens (``truncated``: cut off), after ``known`` answers summed up in
        ``before``; None when nothing was generated."""
        if not tokens:
            return before
        n, cut = known + len(tokens), sum(truncated or [])
        if before is None or not known:
            return cls(tokens_mean=sum(tokens) / len(tokens), tokens_max=max(tokens), truncated_share=cut / len(tokens))
        return cls(
            tokens_mean=(before.tokens_mean * known + sum(tokens)) / n,
            tokens_max=max(before.tokens_max, *tokens),
            truncated_share=(before.truncated_share * known + cut) / n,
        )


class CascadeFacts(ResultModel):
    """A cascade's pipeline: its stages, the gate and how the queries were routed."""

    stages: list[str]
    gate: float = Field(description="a stage answers when its confidence is at least this")
    window_shares: list[float] = Field(default_factory=list, description="share of the energy windows' queries each stage answered")
    held_out_shares: list[float] = Field(default_factory=list, description="the same on the held-out samples")
    computed_per_query_j: float | None = Field(default=None, description="shares x the stages' own measured energies")
    queries_from: str | None = Field(default=None, description="fresh rows, or the samples when the draw had too few")
    window_texts: int | None = None
    states: list[bool] = Field(default_factory=list, description="per stage: loaded from the fitted state that was measured")


LIFTED = {"derived": "derivation", "answer_parser": "answer_parser", "inference_from": "inference_from"}
LIFTED |= {"extended_from": "extended_from", "reused_from": "reused_from"}
"""Keys results of schema 1.6 and earlier kept in ``details`` that are typed fields now."""


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
    state: str | None = Field(default=None, description="folder of the deployed model's fitted state, kept for export (None: not kept)")
    predictions: list[str] | None = None
    probabilities: list[float] | None = Field(
        default=None,
        validation_alias=AliasChoices("probabilities", "confidence"),
        description="per sample: the probability the model gave its predicted label",
    )
    pruned_by: str | None = Field(
        default=None, description="a pruned candidate: the one whose result made measuring it unnecessary (met the goal, deployed, parent)"
    )
    pruned_as: Literal["goal_met", "deployed", "parent_unmeasured", "parent_too_far"] | None = Field(
        default=None,
        description="a pruned candidate: why pruned_by made measuring it unnecessary (pruned_by met the goal and this one costs "
        "more; it is the deployed model and this one costs more; the frozen parent was not measured in full, or scored too far "
        "below the goal to fine-tune)",
    )
    derivation: str | None = Field(default=None, description="how a variant or derived model was made from its parent, in words")
    answer_parser: str | None = Field(default=None, description="how a generated answer is read as a label")
    generation: Generation | None = None
    inference_from: int | None = Field(default=None, description="a model reused from a look on this many samples, not refitted")
    extended_from: int | None = Field(default=None, description="measured on this many samples before, then on the rest")
    reused_from: Reuse | None = None
    node: Node | None = Field(default=None, description="the cluster node it ran on (--executor ray)")
    isolated: bool | None = Field(default=None, description="measured in a process of its own (false: peak memory is a shared process's)")
    cascade: CascadeFacts | None = None
    details: dict[str, Any] = Field(
        default_factory=dict, description="what the runner reports about the loaded model, for people (the advisor reads none of it)"
    )

    @model_validator(mode="before")
    @classmethod
    def _lift_details(cls, data: Any) -> Any:
        """Read a result of schema 1.6 or earlier: the facts it kept in ``details`` become the typed fields."""
        if not isinstance(data, dict) or not isinstance(data.get("details"), dict):
            return data
        details, data = dict(data["details"]), dict(data)
        for old, new in LIFTED.items():
            if old in details and data.get(new) is None:
                data[new] = details.pop(old)
        if "generated_tokens_mean" in details and data.get("generation") is None:
            data["generation"] = {
                "tokens_mean": details.pop("generated_tokens_mean"),
                "tokens_max": details.pop("generated_tokens_max", 0),
                "truncated_share": details.pop("truncated_share", 0.0),
            }
        if data.get("kind") == "cascade" and "stages" in details and data.get("cascade") is None:
            keys = CascadeFacts.model_fields
            data["cascade"] = {k: details.pop(k) for k in list(details) if k in keys}
        if "node" in details and data.get("node") is None and "window" in details:
            window = details.pop("window")
            data["node"] = {"host": details.pop("node"), "node_id": details.pop("node_id", None), "started": window[0], "ended": window[1]}
        data["details"] = details
        return data

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
    batching: Literal["plain", "length"] = Field(
        default="plain", description="plain: requests in arrival order; length: grouped by length within a gathering window"
    )
    wait_queries: int | None = Field(
        default=None, description="requests one may wait for before its batch is formed (None: the batch size; length: the window)"
    )
    measured_in: Literal["sweep", "run", "store"] = Field(
        default="sweep",
        description="this sweep; the run's own measurement of the model (its configuration: the same windows); or a stored earlier sweep",
    )
    reused_from: str | None = Field(default=None, description="the run whose sweep measured it, when stored")
    cost: Cost | None = Field(default=None, description="what measuring it took, loading its runtime included when it came first")


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
    budget_j: float | None = Field(
        default=None, description="the most energy this sweep could spend on new configurations (None: no limit)"
    )


class ServingChoice(ResultModel):
    """The serving decision as data (``Serving.answer`` is this in words)."""

    case: Literal["chosen", "none_meets", "none_measured"] = Field(
        description="chosen (a model and configuration), none_meets (no configuration meets the latency goal), none_measured"
    )
    configurations: int = Field(default=0, description="chosen: the configurations it was chosen among (those meeting the goal)")
    models: int = Field(default=0, description="chosen: the models those belong to; none_meets: the models swept")
    ties: int = Field(
        default=0, description="chosen: other configurations tied with it on energy (intervals overlapping); the fastest of them wins"
    )
    energy_measured: bool = Field(default=True, description="False: every configuration read 0 J, so the fastest was chosen")
    fastest: str | None = Field(default=None, description="none_meets: the model of the fastest configuration")
    fastest_point: ServingPoint | None = Field(default=None, description="none_meets: that configuration")
    recommended: str | None = Field(default=None, description="chosen: the recommended model, when another model was chosen")
    recommended_best_j: float | None = Field(
        default=None, description="its least energy per query at a configuration meeting the goal (None: it meets it at none)"
    )


class Serving(ResultModel):
    """How to serve: the serving sweep, the latency goal and the (model, configuration) chosen."""

    scope: Literal["recommended", "frontier"]
    max_latency_ms: float | None = None
    queries_per_second: float | None = None
    wait_note: str = Field(default="", description="how a request's wait for its batch is counted")
    candidates: list[CandidateServing] = Field(default_factory=list)
    model: str | None = Field(default=None, description="the model chosen with its configuration (None: no configuration meets the goal)")
    point: ServingPoint | None = None
    answer: str = Field(default="", description="which model and configuration, and why, in one sentence (choice in words)")
    choice: ServingChoice | None = Field(default=None, description="the serving decision, as data")
    cost: Cost = Field(default_factory=Cost, description="what the whole sweep cost (the meter's total, wall time); not in advisor_cost")
    saved_per_query_j: float | None = Field(
        default=None, description="the run's configuration's J/query minus the chosen one's (same model)"
    )
    payback_queries: float | None = Field(default=None, description="queries after which the sweep's energy is repaid (None: no saving)")
    reused: int = Field(default=0, description="configurations taken from the run's measurement or a stored sweep instead of measured")
