"""The serving sweep: a model loaded once, measured over batch sizes, thread counts and runtimes.

Each configuration is measured with the candidates' own method (:func:`advisor.measure.windows.energy_windows`:
warm-up, then repeated metered windows of back-to-back batches), so its energy per query has the same
Student-t interval; the windows' batches are timed for the latency percentiles. The grid is adaptive:
a larger batch whose energy per query is clearly worse than a smaller one's ends that batch direction
(its latency is worse too); more threads that are clearly worse on energy and no faster end the
thread direction; a second runtime whose first thread count is clearly worse everywhere is not
pursued. The run's own configuration (its batch size, all threads, the model's runtime) is always
measured, as the point of comparison.

A sweep is a job like a candidate's measurement (:class:`SweepJob`): the run's executor runs it, in a fresh
process by default, on Ray with ``--executor ray``; :mod:`advisor.serving.run` chooses what to sweep and decides.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from advisor.core.results import CandidateResult, CandidateServing, Cost, ServingPoint
from advisor.core.stats import mean_interval
from advisor.measure.candidate import Job, ProgressFn, quiet_libraries, resolved_sources
from advisor.measure.metering import Meter
from advisor.measure.windows import energy_windows
from advisor.runners import Prediction, Runner, runner_class
from advisor.serving.choice import tied
from advisor.spec.runtimes import RUNTIMES, runtime_of, servable_as
from advisor.spec.schema import CandidateSpec
from advisor.spec.settings import Settings


@dataclass(frozen=True)
class SweepJob:
    """The serving sweep of one candidate, as a job any executor runs (the candidate's own measuring job inside)."""

    job: Job

    kind = "sweep"
    needs_idle = False

    @property
    def name(self) -> str:
        return self.job.spec.name

    @property
    def spec(self) -> CandidateSpec:
        return self.job.spec

    @property
    def settings(self) -> Settings:
        return self.job.settings

    @property
    def context(self):
        return self.job.context

    @property
    def meter_hook(self) -> str | None:
        return self.job.meter_hook

    @property
    def idle_power_w(self) -> dict[str, float]:
        return self.job.idle_power_w

    def replaced(self, **changes) -> SweepJob:
        return SweepJob(replace(self.job, **changes))

    def run(self, meter: Meter, progress: ProgressFn | None = None) -> CandidateServing:
        return sweep_candidate(self.job, meter, progress)

    def failed(self, why: str) -> CandidateServing:
        return CandidateServing(name=self.name, failed=why)

    @staticmethod
    def load(payload: dict) -> CandidateServing:
        return CandidateServing.model_validate(payload)

    @staticmethod
    def own_energy_j(result: CandidateServing) -> float:
        return result.cost.energy_j or 0.0


CLEARLY_WORSE = 1.2
"""A configuration is clearly worse on energy when its interval lies above the other's and its mean is this much higher."""

FIT_SAMPLES = 64
"""A trainable head is fitted on this many samples for the sweep: a head's inference cost does not depend on
how many samples trained it (its classes and features are the same)."""


def thread_counts(settings: Settings, device: str) -> list[int]:
    """The sweep's thread counts: as given, else 1, 2, 4, ... and the cores; on a GPU only the cores (threads then feed it)."""
    cores = os.cpu_count() or 1
    if settings.serve_threads:
        return sorted(set(settings.serve_threads))
    if device != "cpu":
        return [cores]
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return [*counts, cores]


class _Timed:
    """A runner whose predictions are timed, in ms, one figure per batch."""

    def __init__(self, runner: Runner):
        self.runner, self.times_ms = runner, []

    def predict(self, texts: Sequence[str]) -> Prediction:
        t0 = time.perf_counter()
        out = self.runner.predict(texts)
        self.times_ms.append((time.perf_counter() - t0) * 1000.0)
        return out


def _percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def measure_point(runner: Runner, job: Job, meter: Meter, runtime: str, batch: int, threads: int) -> ServingPoint:
    """One configuration: repeated metered windows at ``batch`` with ``threads``, each window's batches timed."""
    texts = list(job.texts)
    pool = (texts * (batch // max(1, len(texts)) + 2))[: max(batch, len(texts) // batch * batch)]  # whole batches only
    s = job.settings
    sub = replace(job, texts=pool, settings=s.model_copy(update={"batch_size": batch}))
    timed = _Timed(runner)
    energy, qps = energy_windows(timed, sub, meter, lambda *_: None)
    n_timed = energy.window_queries // batch * len(energy.window_durations_s)
    times = timed.times_ms[-n_timed:]
    energy = energy.model_copy(update={"ci_per_query_j": list(mean_interval(energy.repeats_per_query_j, s.confidence))})
    return ServingPoint(
        runtime=runtime,
        batch_size=batch,
        threads=threads,
        device=RUNTIMES[runtime].device(job.context.device),
        energy=energy,
        throughput_qps=qps,
        batch_p50_ms=_percentile(times, 50),
        batch_p95_ms=_percentile(times, 95),
        latency_p50_ms=_percentile(times, 50),
        latency_p95_ms=_percentile(times, 95),
        latency_batches=len(times),
    )


def clearly_worse(a: ServingPoint, b: ServingPoint) -> bool:
    """Whether ``a`` uses clearly more energy per query than ``b``: not tied, and :data:`CLEARLY_WORSE` times as much."""
    return not tied(a, b) and a.energy.per_query_j > CLEARLY_WORSE * b.energy.per_query_j


def _fit_subset(texts: list[str], labels: list[str]) -> tuple[list[str], list[str]]:
    """The first :data:`FIT_SAMPLES` samples, plus early ones of any label seen fewer than 3 times (the head's inner folds)."""
    keep = list(range(min(FIT_SAMPLES, len(texts))))
    for label in set(labels):
        have = [i for i in keep if labels[i] == label]
        keep += [i for i in range(len(texts)) if labels[i] == label and i not in keep][: max(0, 3 - len(have))]
    return [texts[i] for i in keep], [labels[i] for i in keep]


def _load(spec: CandidateSpec, job: Job, head=None, runtime: str | None = None) -> Runner:
    """A loaded runner for ``spec``; a trainable one is fitted (or given ``head``, fitted already by another runtime)."""
    found = resolved_sources(spec, job.registry_dir, job.context)
    if isinstance(found, CandidateResult):
        raise RuntimeError(found.reason)
    cls = runner_class(spec.kind, RUNTIMES[runtime].runner if runtime else None)
    runner = cls(spec, found[0], job.context, found[1])
    with warnings.catch_warnings():  # an ONNX export's tracer warnings say nothing about serving
        warnings.simplefilter("ignore")
        runner.load()
    if runner.trainable:
        if head is not None:
            runner.head = head
        else:
            runner.fit_for_serving(*_fit_subset(list(job.texts), list(job.labels)))
    return runner


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def sweep_candidate(job: Job, meter: Meter, progress: ProgressFn | None = None) -> CandidateServing:
    """Sweep one candidate's serving configurations (the goal is applied later, by :func:`advisor.serving.run.decide_serving`).

    Never raises for a model problem: a runtime that fails to load is listed in ``not_measured``; a model that
    fails altogether gives ``failed``.
    """
    from threadpoolctl import threadpool_limits

    progress = progress or (lambda *_: None)
    quiet_libraries()
    s, t0 = job.settings, time.perf_counter()
    threads = thread_counts(s, job.context.device)
    batches = sorted(set(s.serve_batches) | {s.batch_size})
    found, left = servable_as(job.spec, s.serve_runtimes)
    own = runtime_of(job.spec)
    default = (own, s.batch_size, max(threads))
    points: list[ServingPoint] = []
    spent = [0.0]
    total = len(found) * len(threads) * len(batches)

    def metered(fn: Callable):
        with meter.window("serving-load") as w:
            out = fn()
        spent[0] += w.reading.energy_j
        return out

    head, torch_threads = None, _torch_threads()
    try:
        with threadpool_limits(limits=None):  # restores the BLAS pools' sizes afterwards
            for runtime, spec in found.items():
                try:
                    runner = metered(lambda spec=spec, runtime=runtime, head=head: _load(spec, job, head, runtime))
                except Exception as exc:  # noqa: BLE001 - one runtime failing leaves the others
                    if runtime == own:
                        return CandidateServing(name=job.spec.name, failed=f"load failed: {_first_line(exc)}", not_measured=left)
                    left.append(f"{runtime}: could not be loaded ({_first_line(exc)})")
                    continue
                head = head if head is not None else getattr(runner, "head", None)
                try:
                    mine = _sweep_runtime(runner, job, meter, runtime, threads, batches, default, points, left, progress, total)
                finally:
                    runner.close()
                spent[0] += sum(p.energy.per_query_j * p.energy.window_queries * len(p.energy.window_durations_s) for p in mine)
    finally:
        _restore_torch_threads(torch_threads)
    return CandidateServing(
        name=job.spec.name, points=points, not_measured=left, cost=Cost(energy_j=spent[0], duration_s=time.perf_counter() - t0)
    )


def _sweep_runtime(runner, job, meter, runtime, threads, batches, default, points, left, progress, total) -> list[ServingPoint]:
    """The thread-by-batch grid of one runtime, adaptively; appends to ``points`` and ``left``, returns this runtime's points."""
    mine: list[ServingPoint] = []
    best_by_threads: dict[int, ServingPoint] = {}
    for t in threads:
        runner.set_threads(t)
        row: list[ServingPoint] = []
        for b in batches:
            is_default = (runtime, b, t) == default
            best = min(row, key=lambda p: p.energy.per_query_j) if row else None
            if best is not None and clearly_worse(row[-1], best) and not is_default:
                why = f"batch {row[-1].batch_size} already used clearly more energy than batch {best.batch_size}"
                left.append(f"{runtime}, batch {b}, {_threads(t)}: {why}")
                continue
            progress(f"serving {runtime} b{b} t{t}", len(points), total)
            p = measure_point(runner, job, meter, runtime, b, t).model_copy(update={"default": is_default})
            row.append(p)
            mine.append(p)
            points.append(p)
        best_by_threads[t] = min(row, key=lambda p: p.energy.per_query_j)
        earlier = [best_by_threads[u] for u in best_by_threads if u < t]
        fastest_now = min(p.batch_p95_ms for p in row)
        if earlier and all(clearly_worse(best_by_threads[t], e) for e in earlier):
            if all(fastest_now >= min(p.batch_p95_ms for p in mine if p.threads == e.threads) for e in earlier):
                rest = [u for u in threads if u > t]
                if rest:
                    why = f"{_threads(t)} used clearly more energy than fewer, and was no faster"
                    left.append(f"{runtime}, {', '.join(map(str, rest))} threads: {why}")
                break
        if runtime != default[0] and t == threads[0]:
            others = [p for p in points if p.runtime != runtime and p.threads == t]
            if others and all(any(clearly_worse(p, o) and p.batch_p95_ms >= o.batch_p95_ms for o in others) for p in row):
                if len(threads) > 1:
                    left.append(f"{runtime}: clearly worse than {default[0]} at {_threads(t)} on every batch size; not pursued")
                break
    return mine


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


def _torch_threads() -> int | None:
    import sys

    return sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None


def _restore_torch_threads(n: int | None) -> None:
    import sys

    if n is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
