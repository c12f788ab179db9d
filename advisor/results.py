"""Typed results: what every candidate measured and the recommendation built from them.

One :class:`Recommendation` is what the CLI prints, ``results.json`` stores and the library call
returns. Units are in the names (``_j`` joules, ``_ms`` milliseconds, ``_s`` seconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.1"

Status = Literal["ok", "dropped", "pruned", "skipped", "failed", "not run"]
"""``dropped``: stopped early, its quality's upper bound below the threshold on part of the samples;
``pruned``: not measured, a cheaper candidate already met the goal (adaptive search)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return self.model_dump(mode="json")

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent)


class EnergyStats(_Model):
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
    source: Literal["windows", "quality pass"] = Field(default="windows", description="repeated inference windows, or the one metered quality pass of a dead end")


class FitStats(_Model):
    """Cost of fitting the trainable head by cross-fitting plus the final fit (apart from inference)."""

    energy_j: float
    duration_s: float


class CandidateResult(_Model):
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
    vs_reference: dict[str, Any] | None = Field(default=None, description="paired comparison with the reference model")
    energy: EnergyStats | None = None
    latency_p50_ms: float | None = Field(default=None, description="single-query (batch 1) latency, median")
    latency_p95_ms: float | None = None
    throughput_qps: float | None = Field(default=None, description="queries per second at the run's batch size")
    peak_rss_mb: float | None = None
    parameters: int | None = None
    size_bytes: int | None = None
    load_s: float | None = None
    fit: FitStats | None = None
    samples_evaluated: int | None = Field(default=None, description="samples scored (fewer than the task's when dropped early)")
    phases: dict[str, dict[str, float | None]] = Field(default_factory=dict, description="energy (J) and duration (s) per measured phase")
    cost: dict[str, float] | None = Field(default=None, description="what measuring this candidate cost the advisor, and the estimated full cost")
    predictions: list[str] | None = None
    confidence: list[float] | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def energy_per_query_j(self) -> float | None:
        """Total energy per query in joules (None when not measured)."""
        return self.energy.per_query_j if self.energy else None


class TaskInfo(_Model):
    """The task as used in the run."""

    name: str
    path: str
    type: str
    metric: str
    metric_label: str
    threshold: float | None
    samples: int
    source_rows: int
    seed: int
    folds: int
    data_sha256: str
    spec: dict[str, Any]


class Recommendation(_Model):
    """The answer and its evidence. ``model`` is None when no candidate meets the threshold."""

    schema_version: str = SCHEMA_VERSION
    run_id: str
    created_at: str
    status: Literal["running", "complete", "interrupted"] = "complete"
    task: TaskInfo
    threshold: float | None
    confidence: float = 0.95
    max_drop: float | None = None
    reference: str | None = None
    ranked_by: Literal["energy", "params", "latency"]
    decision: Literal["recommended", "none", "undecided"] = "none"
    model: str | None = None
    best: str | None = None
    summary: str = ""
    pareto: list[str] = Field(default_factory=list, description="non-dominated on quality and energy, cheapest first")
    savings: dict[str, Any] | None = Field(default=None, description="the recommendation against the reference, per query and per year")
    cascade: dict[str, Any] | None = Field(default=None, description="a cheaper small->large confidence cascade, when one meets the goal")
    candidates: list[CandidateResult]
    settings: dict[str, Any]
    method: dict[str, Any]
    idle_power_w: dict[str, float] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    registry: dict[str, Any] = Field(default_factory=dict)
    advisor_cost: dict[str, float] = Field(default_factory=dict, description="energy (J) and time (s) the run spent, and estimates of an exhaustive run's")
    distillation: dict[str, Any] | None = Field(default=None, description="advisor distill: lineage and how close the student comes to its teacher")
    search: dict[str, Any] = Field(default_factory=dict, description="adaptive or exhaustive, the order candidates were measured in, and why")
    samples: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def met(self) -> bool:
        """True when a candidate meets the threshold."""
        return self.model is not None

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
