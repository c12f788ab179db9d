"""What a sweep need not measure again, and what it may spend: configurations known from the run's own measurement and
from stored sweeps (keyed like a measurement, so a later run reuses them), and the sweep's budget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from advisor.core.results import CandidateResult, CandidateServing, Recommendation, ServingPoint
from advisor.core.stats import mean_interval
from advisor.measure.candidate import Job
from advisor.search.cache import fingerprint
from advisor.serving.points import config_key
from advisor.spec.runtimes import RUNTIMES, runtime_of, servable_as
from advisor.spec.settings import Serving as ServingSettings

SWEEP_VERSION = 1
"""Version of how a sweep point is measured: part of its stored key (bump it when a point would be measured otherwise)."""


def point_store_key(job: Job, runtime: str, batch: int, threads: int, batching: str = "plain") -> str:
    """The result store's key of one configuration of ``job``'s model: its measurement's fingerprint (model files,
    samples, machine, measuring settings, method version) with the runtime, batch, threads, batching and device."""
    from advisor.store import measurement_key

    where = {"runtime": runtime, "batch": batch, "threads": threads, "device": job.context.device}
    if batching != "plain":
        where["batching"] = batching
    return measurement_key({"sweep_point": SWEEP_VERSION, "job": fingerprint(job), **where})


def _grid(job: Job, sv: ServingSettings) -> Iterator[tuple[str, int, int, str]]:
    from advisor.serving.sweep import thread_counts

    found, _ = servable_as(job.spec, sv.runtimes)
    for runtime in found:
        for batch in sorted(set(sv.batches) | {job.measurement.batch_size}):
            for threads in thread_counts(sv, job.context.device):
                yield runtime, batch, threads, "plain"
                if batch > 1:
                    yield runtime, batch, threads, "length"


def run_point(c: CandidateResult, job: Job, sv: ServingSettings, confidence: float) -> ServingPoint | None:
    """The run's own configuration as the run measured it (the same windows, batch timings included), or None when
    the measurement has no batch timings (made before they were kept) or was not from repeated windows."""
    from advisor.serving.sweep import thread_counts

    e = c.energy
    if e is None or e.source != "windows" or e.batch_p50_ms is None or c.throughput_qps is None:
        return None
    runtime = runtime_of(job.spec)
    energy = e if e.ci_per_query_j else e.model_copy(update={"ci_per_query_j": list(mean_interval(e.repeats_per_query_j, confidence))})
    return ServingPoint(
        runtime=runtime,
        batch_size=job.measurement.batch_size,
        threads=max(thread_counts(sv, job.context.device)),
        device=RUNTIMES[runtime].device(job.context.device),
        energy=energy,
        throughput_qps=c.throughput_qps,
        batch_p50_ms=e.batch_p50_ms,
        batch_p95_ms=e.batch_p95_ms or e.batch_p50_ms,
        latency_p50_ms=e.batch_p50_ms,
        latency_p95_ms=e.batch_p95_ms or e.batch_p50_ms,
        latency_batches=e.batches_timed or 0,
        measured_in="run",
    )


def known_points(c: CandidateResult, job: Job, sv: ServingSettings, confidence: float, store, run_id: str) -> list[ServingPoint]:
    """Configurations of ``c``'s model known already: the run's own, and those a store holds for this very key, among
    those ``sv`` asks for (``confidence``: the level of the run's own point's energy interval)."""
    out = [p for p in [run_point(c, job, sv, confidence)] if p is not None]
    if store is None:
        return out
    have = {config_key(p.runtime, p.batch_size, p.threads) for p in out}
    for runtime, batch, threads, batching in _grid(job, sv):
        if config_key(runtime, batch, threads, batching) in have:
            continue
        hit = store.get_measurement(point_store_key(job, runtime, batch, threads, batching))
        if hit is not None and isinstance(hit.get("point"), dict):
            point = ServingPoint.model_validate(hit["point"])
            out.append(point.model_copy(update={"measured_in": "store", "reused_from": hit.get("run_id")}))
    return out


def keep_points(store, job: Job, sweep: CandidateServing, run_id: str) -> None:
    """Store the configurations this sweep measured, each under its own key."""
    for p in sweep.points:
        if p.measured_in == "sweep":
            payload: dict[str, Any] = {"point": p.model_dump(mode="json", exclude={"default"}), "run_id": run_id}
            store.put_measurement(point_store_key(job, p.runtime, p.batch_size, p.threads, p.batching), run_id, job.spec.name, payload)


def budget(rec: Recommendation, sv: ServingSettings) -> tuple[float | None, float | None]:
    """The most energy (J) and time (s) the sweep may spend on new configurations: ``sweep_budget`` times what
    measuring the run's candidates took (as first measured: a reused measurement counts at its own cost). None: no
    limit (``sweep_budget`` off, or a figure that reads zero, e.g. energy under a null meter)."""
    if sv.budget is None:
        return None, None
    phases = [p for c in rec.candidates for p in c.phases.values()]
    run_j = sum(p.energy_j or 0.0 for p in phases)
    run_s = sum(p.duration_s or 0.0 for p in phases)
    return (sv.budget * run_j if run_j > 0 else None), (sv.budget * run_s if run_s > 0 else None)
