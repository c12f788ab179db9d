"""The one configuration object of a run; the CLI and the library both build it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """How candidates are measured and ranked. Every field has a safe default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_quality: float | None = Field(default=None, gt=0, le=1, description="threshold; None: the task's default")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="level of the quality and energy intervals")
    max_drop: float | None = Field(default=None, ge=0, lt=1, description="largest quality loss allowed against the reference")
    reference: str | None = Field(default=None, description="reference candidate for max_drop (default: the highest quality)")
    by: Literal["energy", "params", "latency"] = "energy"
    candidates: list[str] | None = Field(default=None, description="only these registry names")
    sample_size: int | None = Field(default=None, ge=2, description="override the task's sample size")
    seed: int | None = Field(default=None, description="override the task's sampling seed")
    batch_size: int = Field(default=16, ge=1, description="queries per batch in the energy windows")
    repeats: int = Field(default=3, ge=1, description="energy windows per candidate")
    min_window_s: float = Field(default=2.0, gt=0, description="least duration of an energy window, seconds")
    warmup_batches: int = Field(default=2, ge=0)
    latency_queries: int = Field(default=20, ge=0, description="single queries timed for latency p50/p95")
    idle_s: float = Field(default=1.0, ge=0, description="idle baseline window, seconds (0: none)")
    meter: Literal["codecarbon", "null", "fake"] = "codecarbon"
    country: str = Field(default="USA", description="ISO 3166 alpha-3 code for CodeCarbon's offline carbon intensity")
    isolate: bool = Field(default=True, description="measure each candidate in its own process")
    executor: Literal["local", "ray"] = Field(default="local", description="local: this machine (isolate says how); ray: one Ray task per candidate")
    ray_address: str | None = Field(default=None, description="an existing Ray cluster (e.g. ray://head:10001); None: a local instance")
    queries_per_day: float | None = Field(default=None, gt=0, description="expected volume, for yearly savings")
    price_per_kwh: float | None = Field(default=None, ge=0, description="electricity price, for yearly savings in money")
    exhaustive: bool = Field(default=False, description="measure every candidate on every sample (default: adaptive search)")
    first_shard: int = Field(default=32, ge=8, description="adaptive search: samples in the first shard; later shards double")
    store: Path | None = Field(default=None, description="result store (SQLite); None: results.sqlite in the advisor's cache folder")
    fresh: bool = Field(default=False, description="measure again even when the store holds a matching measurement")
    deployed: str | None = Field(default=None, description="the model in production (advisor check): measured first; nothing costlier is measured")
    mlflow: str | None = Field(default=None, description="MLflow tracking URI to log the run to (e.g. file:./mlruns); None: no tracking")
    mlflow_experiment: str | None = Field(default=None, description="MLflow experiment (default: advisor-<task>)")
    reports_dir: Path = Path("reports")
    run_id: str | None = None
