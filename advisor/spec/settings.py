"""The one configuration object of a run; the CLI, the service and the library all build it.

Every field belongs to one group (``measurement``, ``goal``, ``search``, ``output``,
``infrastructure``) and has a description; the CLI's help and the service's request limits are
derived from these fields, so a default or a bound is written once, here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from advisor.spec import runtimes

RUNTIMES = runtimes.NAMES
"""Runtimes the serving sweep knows (:mod:`advisor.spec.runtimes`); a candidate is swept on those it can run on."""


def _f(default: Any, group: str, description: str, measures: bool = False, job: bool = False, **bounds: Any) -> Any:
    """A settings field: its group, its description and, as markers read by :meth:`Settings.marked`, whether it
    changes what a measurement is (``measures``: part of the stored measurement's key) and whether a service job
    may choose it (``job``)."""
    extra = {"group": group, "measures": measures, "job": job}
    return Field(default=default, description=description, json_schema_extra=extra, **bounds)


class Settings(BaseModel):
    """How candidates are measured, judged and reported. Every field has a safe default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- goal: what counts as good enough --------------------------------------------------------
    min_quality: float | None = _f(None, "goal", "Quality threshold (default: the task's).", gt=0, le=1, job=True)
    max_drop: float | None = _f(None, "goal", "Largest quality loss allowed against the reference (paired test).", ge=0, lt=1, job=True)
    reference: str | None = _f(None, "goal", "Reference candidate for max_drop (default: the highest quality).", job=True)
    confidence: float = _f(0.95, "goal", "Confidence level of the intervals and decisions.", gt=0.5, lt=1, job=True)
    by: Literal["energy", "params", "latency"] = _f(
        "energy", "goal", "Rank candidates that meet the goal by: energy, params or latency.", job=True
    )
    deployed: str | None = _f(None, "goal", "The model in production (advisor check): measured first; nothing costlier is measured.")
    max_latency_ms: float | None = _f(
        None,
        "goal",
        "Serving goal: p95 latency of one request in ms, its batch's wait to fill included (at --queries-per-second); "
        "picks the least-energy serving configuration that meets it.",
        gt=0,
        job=True,
    )
    queries_per_second: float | None = _f(
        None, "goal", "Expected request rate: a request waits for its batch to fill, and a configuration must keep up.", gt=0, job=True
    )

    # -- measurement: what is measured and how ------------------------------------------------------
    candidates: list[str] | None = _f(None, "measurement", "Only these registry names (default: all that serve the task).")
    sample_size: int | None = _f(
        None,
        "measurement",
        "Fix the number of samples (default: a first look sized to the goal, then more for undecided candidates, up to "
        "the task's sample.size or every row).",
        ge=2,
        job=True,
    )
    seed: int | None = _f(None, "measurement", "Sampling seed (default: the task's).", job=True)
    batch_size: int = _f(16, "measurement", "Queries per batch in the energy windows.", ge=1, le=4096, measures=True)
    repeats: int = _f(3, "measurement", "Energy windows per candidate.", ge=1, le=100, measures=True)
    min_window_s: float = _f(2.0, "measurement", "Least duration of one energy window, in seconds.", gt=0, le=600, measures=True)
    warmup_batches: int = _f(2, "measurement", "Batches run before the energy windows (not metered).", ge=0, le=100, measures=True)
    latency_queries: int = _f(20, "measurement", "Single queries timed for latency p50/p95.", ge=0, le=10_000, measures=True)
    idle_s: float = _f(1.0, "measurement", "Idle baseline window, in seconds (0: none).", ge=0, le=600, measures=True)
    meter: Literal["codecarbon", "null"] = _f("codecarbon", "measurement", "Energy meter: codecarbon, or null (time only).", measures=True)
    cpu_power_w: float | None = _f(
        None,
        "measurement",
        "State the CPU's power in watts where CodeCarbon cannot identify the CPU (most VMs).",
        gt=0,
        le=5000,
        measures=True,
    )
    ram_power_w: float | None = _f(
        None, "measurement", "State the RAM's power in watts instead of CodeCarbon's constant model.", gt=0, le=5000, measures=True
    )
    country: str = _f(
        "USA",
        "measurement",
        "ISO 3166 alpha-3 country for CodeCarbon's offline carbon intensity.",
        min_length=3,
        max_length=3,
        measures=True,
    )

    # -- search: which candidates are measured, on how many samples --------------------------------
    exhaustive: bool = _f(False, "search", "Measure every candidate on every sample (default: adaptive search, cheapest first).", job=True)
    first_shard: int = _f(32, "search", "Adaptive search: samples in the first shard; later shards double.", ge=8)
    fresh: bool = _f(False, "search", "Measure again even when the store holds a matching measurement.")
    max_samples: int | None = _f(
        None,
        "search",
        "When the samples cannot decide, draw more, up to this many (default: every row, or the task's "
        "sample.size; a fixed --samples never draws more).",
        ge=2,
        job=True,
    )
    finetune_within: float = _f(
        0.10,
        "search",
        "Adaptive search: fine-tune a sentence encoder only when its frozen parent's quality is at most this far below the goal.",
        ge=0,
        le=1,
    )
    budget_j: float | None = _f(None, "search", "Most energy, in joules, to spend on drawing more samples (default: no limit).", gt=0)
    budget_s: float | None = _f(None, "search", "Most time, in seconds, to spend on drawing more samples (default: no limit).", gt=0)

    serving: Literal["auto", "recommended", "frontier", "off"] = _f(
        "auto",
        "search",
        "Serving sweep (batch size, threads, runtime): recommended (the recommended model), frontier (every Pareto-frontier "
        "candidate that meets the goal; model and configuration ranked together), auto (frontier where it matters: two "
        "candidates or more meet the goal, or a latency goal is given; else recommended) or off.",
        job=True,
    )
    cascade: Literal["auto", "off"] = _f(
        "auto",
        "search",
        "Cascades (classification): auto searches the cheaper candidates that could answer before the recommended model, "
        "with gates certified on held-out samples, and meters the best as one pipeline; off leaves them out.",
        job=True,
    )
    sweep_budget: float | None = _f(
        0.25,
        "search",
        "Most the serving sweep may spend on configurations not measured before, as a share of the energy and time that "
        "measuring the run's candidates took (none: no limit).",
        ge=0,
        le=100,
    )
    serve_batches: list[Annotated[int, Field(ge=1, le=4096)]] = _f(
        [1, 4, 16, 64], "search", "Batch sizes the serving sweep tries, comma-separated (default: 1,4,16,64).", min_length=1, max_length=16
    )
    serve_threads: list[Annotated[int, Field(ge=1)]] | None = _f(
        None,
        "search",
        "Intra-op thread counts the serving sweep tries, comma-separated (default: 1, doubling, up to the cores).",
        min_length=1,
    )
    serve_runtimes: list[Literal[RUNTIMES]] | None = _f(  # type: ignore[valid-type]
        None, "search", "Runtimes the serving sweep tries: pytorch, onnxruntime, openvino (default: all the model can run on)."
    )

    # -- output: what is written and where ----------------------------------------------------------
    reports_dir: Path = _f(Path("reports"), "output", "Where reports/<run-id>/ are written.")
    run_id: str | None = _f(
        None, "output", "The run's id (default: time, a random part and the task name).", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
    )
    keep_texts: bool = _f(True, "output", "Keep the samples' texts in results.json (labels and predictions are always kept).")
    queries_per_day: float | None = _f(None, "output", "Expected volume, for yearly savings in the report.", gt=0)
    price_per_kwh: float | None = _f(None, "output", "Electricity price per kWh, for yearly savings in money.", ge=0)
    mlflow: str | None = _f(None, "output", "Log the run to MLflow at this tracking URI, e.g. file:./mlruns (needs advisor[mlflow]).")
    mlflow_experiment: str | None = _f(None, "output", "MLflow experiment (default: advisor-<task>).")

    # -- infrastructure: where the work runs and what it remembers ------------------------------
    isolate: bool = _f(True, "infrastructure", "Measure each candidate in a fresh process of its own.", measures=True)
    executor: Literal["local", "ray"] = _f("local", "infrastructure", "Where candidates run: local, or ray (one Ray task per candidate).")
    ray_address: str | None = _f(None, "infrastructure", "An existing Ray cluster's address (default: a local Ray instance).")
    store: Path | None = _f(
        None, "infrastructure", "Result store (SQLite) reused across runs (default: results.sqlite in the cache folder)."
    )
    device: str = _f(
        "auto",
        "infrastructure",
        "Where models run: auto (a CUDA GPU when there is one), cpu, cuda or cuda:N.",
        pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$",
    )

    @field_validator("serve_threads")
    @classmethod
    def _threads_within_cores(cls, value: list[int] | None) -> list[int] | None:
        cores = os.cpu_count() or 1
        if value and max(value) > cores:
            raise ValueError(f"{max(value)} threads is more than the {cores} cores of this machine")
        return value

    @classmethod
    def merged(cls, base: Settings | None = None, **values: Any) -> Settings:
        """``base`` (default: the defaults) with the given values on top; None values are ignored.

        Raises:
            pydantic.ValidationError: a value out of its bounds.
        """
        given = {k: v for k, v in values.items() if v is not None}
        return cls.model_validate({**(base or cls()).model_dump(), **given})

    @classmethod
    def marked(cls, marker: str) -> tuple[str, ...]:
        """The fields carrying ``marker`` (``measures`` or ``job``, see :func:`_f`), in declaration order."""
        return tuple(n for n, f in cls.model_fields.items() if (f.json_schema_extra or {}).get(marker))

    @classmethod
    def help(cls, name: str) -> str:
        """The description of field ``name`` (the CLI's help text)."""
        return cls.model_fields[name].description or ""
