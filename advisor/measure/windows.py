"""Metered windows: the inference a measurement and the serving sweep meter alike (fixed batch size, warm-up,
repeated windows of back-to-back batches, Student-t interval), the idle baseline and single-query latency."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from advisor.core.results import EnergyStats
from advisor.measure.metering import Meter, Reading
from advisor.runners import Prediction, Runner

if TYPE_CHECKING:
    from advisor.measure.candidate import Job, ProgressFn


def idle_power(meter: Meter, seconds: float) -> dict[str, float]:
    """Average power in watts of this process while idle, per component."""
    if seconds <= 0:
        return {"total": 0.0, "cpu": 0.0, "ram": 0.0, "gpu": 0.0}
    with meter.window("idle") as w:
        time.sleep(seconds)
    r, d = w.reading, max(w.reading.duration_s, 1e-9)
    return {"total": r.energy_j / d, "cpu": r.cpu_j / d, "ram": r.ram_j / d, "gpu": r.gpu_j / d}


def _batches(texts: Sequence[str], size: int) -> list[list[str]]:
    return [list(texts[i : i + size]) for i in range(0, len(texts), size)]


def predict_all(runner: Runner, texts: Sequence[str], bs: int, progress: ProgressFn, phase: str) -> Prediction:
    """The runner's predictions for many texts, in batches of ``bs``, reporting ``phase`` progress."""
    parts, done = [], 0
    for batch in _batches(texts, bs):
        parts.append(runner.predict(batch))
        done += len(batch)
        progress(phase, done, len(texts))
    return Prediction.concat(parts)


SHORT_WINDOWS = 2
"""Inference windows given to a trainable candidate cut short (each half the usual length): its fitting
energy is never counted as inference, and two windows still give an interval (a wide one)."""


def energy_windows(
    runner: Runner,
    job: Job,
    meter: Meter,
    progress: ProgressFn,
    short: bool = False,
    seen: list[Prediction] | None = None,
    enough: Callable[[list[float]], bool] | None = None,
    batches: list[list[str]] | None = None,
) -> tuple[EnergyStats, float]:
    """Repeated metered windows of inference at the run's batch size, each batch timed; ``short``:
    :data:`SHORT_WINDOWS` half-length windows without warm-up (for a candidate already warm from its quality pass).
    The first window's answers to the first pass over the samples are appended to ``seen``, when given: what the
    deployed model predicts, at no cost. ``enough(per_query_j)``, when given, is asked after each window from the
    :data:`SHORT_WINDOWS`-th on: True stops before the run's number of repeats (sequential windows). ``batches``:
    batches formed otherwise (e.g. by length), used in their order instead of the samples cut at the batch size."""
    s = job.measurement
    repeats, window_s = (SHORT_WINDOWS, s.min_window_s / 2) if short else (s.repeats, s.min_window_s)
    mean_batch = sum(len(b) for b in batches) / len(batches) if batches else s.batch_size
    batches = batches or _batches(job.texts, s.batch_size)
    for b in batches[: 0 if short else s.warmup_batches]:
        runner.predict(b)
    t0 = time.perf_counter()
    runner.predict(batches[0])
    per_query = max((time.perf_counter() - t0) / len(batches[0]), 1e-6)
    n_batches = max(1, math.ceil(window_s / (per_query * mean_batch)))
    readings: list[Reading] = []
    tokens = 0  # generated tokens in the windows (generative runners)
    queries = sum(len(batches[i % len(batches)]) for i in range(n_batches))
    batch_ms: list[float] = []
    for r in range(repeats):
        with meter.window(f"inference-{r}") as w:
            for i in range(n_batches):
                t1 = time.perf_counter()
                out = runner.predict(batches[i % len(batches)])
                batch_ms.append((time.perf_counter() - t1) * 1000.0)
                tokens += sum(out.tokens) if out.tokens is not None else 0
                if seen is not None and r == 0 and i < len(batches):
                    seen.append(out)
        readings.append(w.reading)
        progress("energy", r + 1, repeats)
        if enough is not None and r + 1 >= SHORT_WINDOWS and r + 1 < repeats and enough([x.energy_j / queries for x in readings]):
            break
    idle_w = job.idle_power_w.get("total", 0.0)
    per = [r.energy_j / queries for r in readings]
    mean = statistics.fmean
    stats = EnergyStats(
        per_query_j=mean(per),
        cpu_per_query_j=mean(r.cpu_j for r in readings) / queries,
        ram_per_query_j=mean(r.ram_j for r in readings) / queries,
        gpu_per_query_j=mean(r.gpu_j for r in readings) / queries,
        marginal_per_query_j=max(0.0, mean((r.energy_j - idle_w * r.duration_s) / queries for r in readings)),
        repeats_per_query_j=per,
        window_queries=queries,
        window_durations_s=[r.duration_s for r in readings],
        per_token_j=sum(r.energy_j for r in readings) / tokens if tokens else None,
        tokens_per_query=tokens / (queries * len(readings)) if tokens else None,
        batch_p50_ms=float(np.percentile(batch_ms, 50)),
        batch_p95_ms=float(np.percentile(batch_ms, 95)),
        batches_timed=len(batch_ms),
    )
    throughput = queries / mean(r.duration_s for r in readings) if readings else 0.0
    return stats, throughput


def latency_percentiles(runner: Runner, texts: Sequence[str], n: int) -> tuple[float | None, float | None]:
    if n <= 0:
        return None, None
    times = []
    for t in list(texts)[:n]:
        t0 = time.perf_counter()
        runner.predict([t])
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def from_quality_pass(r: Reading, n: int, idle_w: dict[str, float], tokens: list[int] | None = None) -> EnergyStats:
    """Energy per query read from the quality pass's single metered window (no repeats)."""
    per = r.energy_j / n
    n_tokens = sum(tokens) if tokens else 0
    return EnergyStats(
        per_query_j=per,
        cpu_per_query_j=r.cpu_j / n,
        ram_per_query_j=r.ram_j / n,
        gpu_per_query_j=r.gpu_j / n,
        marginal_per_query_j=max(0.0, (r.energy_j - idle_w.get("total", 0.0) * r.duration_s) / n),
        repeats_per_query_j=[per],
        window_queries=n,
        window_durations_s=[r.duration_s],
        source="quality pass",
        per_token_j=r.energy_j / n_tokens if n_tokens else None,
        tokens_per_query=n_tokens / n if n_tokens else None,
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    import resource
    import sys

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20
