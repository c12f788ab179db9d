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
from collections.abc import Sequence
from dataclasses import dataclass, replace

from advisor.core.results import CandidateResult, CandidateServing, Cost, ServingPoint
from advisor.measure.candidate import Job, ProgressFn, quiet_libraries, resolved_sources
from advisor.measure.metering import Meter
from advisor.runners import Runner, runner_class
from advisor.serving.points import UNEVEN, Walk, clearly_worse, earlier_spend, padding_ratio, threads_text
from advisor.spec.runtimes import RUNTIMES, runtime_of, servable_as
from advisor.spec.schema import CandidateSpec
from advisor.spec.settings import Goal
from advisor.spec.settings import Serving as ServingSettings


@dataclass(frozen=True)
class SweepJob:
    """The serving sweep of one candidate, as a job any executor runs (the candidate's own measuring job inside)."""

    job: Job
    known: tuple[ServingPoint, ...] = ()
    """Configurations measured already (the run's own, stored sweeps): used as they are, never measured again."""
    budget_j: float | None = None
    """The most energy new configurations (and loading for them) may take, in joules (None: no limit)."""
    budget_s: float | None = None
    """The most time they may take, in seconds (None: no limit)."""
    serving: ServingSettings = ServingSettings()
    """The configurations to try (batch sizes, threads, runtimes); the measurement settings are the job's."""
    confidence: float = Goal().confidence
    """The level of each configuration's energy interval."""

    kind = "sweep"
    needs_idle = False

    @property
    def name(self) -> str:
        return self.job.spec.name

    @property
    def spec(self) -> CandidateSpec:
        return self.job.spec

    @property
    def measurement(self):
        return self.job.measurement

    @property
    def context(self):
        return self.job.context

    @property
    def meter_hook(self) -> str | None:
        return self.job.meter_hook

    @property
    def idle_power_w(self) -> dict[str, float]:
        return self.job.idle_power_w

    @property
    def settled(self) -> bool:
        """Whether nothing can be measured: earlier sweeps of this model spent its budget (then no worker is needed)."""
        spent_j, spent_s = earlier_spend(self.known)
        return (self.budget_j is not None and spent_j >= self.budget_j) or (self.budget_s is not None and spent_s >= self.budget_s)

    def replaced(self, **changes) -> SweepJob:
        return replace(self, job=replace(self.job, **changes))

    def run(self, meter: Meter, progress: ProgressFn | None = None) -> CandidateServing:
        return sweep_candidate(self, meter, progress)

    def failed(self, why: str) -> CandidateServing:
        return CandidateServing(name=self.name, failed=why)

    @staticmethod
    def load(payload: dict) -> CandidateServing:
        return CandidateServing.model_validate(payload)

    @staticmethod
    def own_energy_j(result: CandidateServing) -> float:
        return result.cost.energy_j or 0.0


FIT_SAMPLES = 64
"""A trainable head is fitted on this many samples for the sweep: a head's inference cost does not depend on
how many samples trained it (its classes and features are the same)."""


def thread_counts(serving: ServingSettings, device: str) -> list[int]:
    """The sweep's thread counts: as given, else 1, 2, 4, ... and the cores; on a GPU only the cores (threads then feed it)."""
    cores = os.cpu_count() or 1
    if serving.threads:
        return sorted(set(serving.threads))
    if device != "cpu":
        return [cores]
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return [*counts, cores]


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


def sweep_candidate(sweep: SweepJob, meter: Meter, progress: ProgressFn | None = None) -> CandidateServing:
    """Sweep one candidate's serving configurations (the goal is applied later, by :func:`advisor.serving.run.decide_serving`).

    ``known`` configurations are used as they are (the run's own measurement, stored sweeps); new ones are measured
    within ``budget_j`` / ``budget_s``: first one probe per runtime (all threads, at the batch size the texts' padding
    makes likelier to win), then the adaptive grid, the runtime whose probe used least energy first. Never raises for
    a model problem: a runtime that fails to load is listed in ``not_measured``; a model that fails altogether gives
    ``failed``.
    """
    from threadpoolctl import threadpool_limits

    progress = progress or (lambda *_: None)
    quiet_libraries()
    job, sv, run_batch = sweep.job, sweep.serving, sweep.job.measurement.batch_size
    threads = thread_counts(sv, job.context.device)
    batches = sorted(set(sv.batches) | {run_batch})
    found, left = servable_as(job.spec, sv.runtimes)
    own = runtime_of(job.spec)
    default = (own, run_batch, max(threads))
    total = len(found) * len(threads) * len(batches)
    walk = Walk(job, meter, progress, sweep.known, sweep.budget_j, sweep.budget_s, total, _load, sweep.confidence)
    walk.left += left
    probe = 1 if padding_ratio(job.texts, run_batch) > UNEVEN else run_batch
    torch_threads = _torch_threads()
    try:
        with threadpool_limits(limits=None):  # restores the BLAS pools' sizes afterwards
            first: dict[str, float] = {}
            unknown_first = sorted(found, key=lambda r: any(k.startswith(f"{r}/") for k in walk.known))  # nothing known: probe it first
            for runtime in unknown_first:
                spec = found[runtime]
                probes = [run_batch, probe] if runtime == own else [probe]  # the own runtime's run configuration is known
                try:
                    got = [walk.point(runtime, spec, b, max(threads), default) for b in dict.fromkeys(probes)]
                except Exception as exc:  # noqa: BLE001 - one runtime failing leaves the others
                    if runtime == own:
                        return CandidateServing(name=job.spec.name, failed=f"load failed: {_first_line(exc)}", not_measured=walk.left)
                    walk.left.append(f"{runtime}: could not be loaded ({_first_line(exc)})")
                    del found[runtime]
                    continue
                first[runtime] = min((p.energy.per_query_j for p in got if p is not None), default=float("inf"))
            for runtime in sorted(found, key=lambda r: first.get(r, float("inf"))):
                _sweep_runtime(walk, runtime, found[runtime], threads, batches, default)
            _length_aware(walk, found, job.texts, default)
    finally:
        walk.close()
        _restore_torch_threads(torch_threads)
    return CandidateServing(
        name=job.spec.name,
        points=walk.points,
        not_measured=walk.not_measured(),
        cost=Cost(energy_j=walk.spent_j, duration_s=time.perf_counter() - walk.t0),
        budget_j=sweep.budget_j,
    )


LENGTH_GAIN = 1.1
"""Length-aware batching is measured only where plain batches pay at least this much padding (tokens computed over real)."""


def _length_aware(walk: Walk, found: dict[str, CandidateSpec], texts: Sequence[str], default: tuple) -> None:
    """One more configuration: the least-energy plain one with batches larger than 1, its requests grouped by length."""
    plain = [p for p in walk.points if p.batching == "plain" and p.batch_size > 1 and p.runtime in found]
    if not plain:
        return
    best = min(plain, key=lambda p: p.energy.per_query_j)
    padding = padding_ratio(texts, best.batch_size)
    if padding <= LENGTH_GAIN:
        walk.left.append(f"length-aware batching: the texts are of even length (padding {padding:.2f}x at batch {best.batch_size})")
        return
    walk.point(best.runtime, found[best.runtime], best.batch_size, best.threads, default, "length")


def _sweep_runtime(walk: Walk, runtime: str, spec: CandidateSpec, threads: list[int], batches: list[int], default: tuple) -> None:
    """The thread-by-batch grid of one runtime, adaptively (known and probed configurations are not measured again)."""
    best_by_threads: dict[int, ServingPoint] = {}
    for t in threads:
        row: list[ServingPoint] = []
        for b in batches:
            best = min(row, key=lambda p: p.energy.per_query_j) if row else None
            if best is not None and clearly_worse(row[-1], best) and (runtime, b, t) != default:
                why = f"batch {row[-1].batch_size} already used clearly more energy than batch {best.batch_size}"
                walk.left.append(f"{runtime}, batch {b}, {threads_text(t)}: {why}")
                continue
            p = walk.point(runtime, spec, b, t, default)
            if p is not None:
                row.append(p)
        if not row:
            continue
        best_by_threads[t] = min(row, key=lambda p: p.energy.per_query_j)
        mine = [p for p in walk.points if p.runtime == runtime]
        earlier = [best_by_threads[u] for u in best_by_threads if u < t]
        fastest_now = min(p.batch_p95_ms for p in row)
        if earlier and all(clearly_worse(best_by_threads[t], e) for e in earlier):
            if all(fastest_now >= min(p.batch_p95_ms for p in mine if p.threads == e.threads) for e in earlier):
                rest = [u for u in threads if u > t]
                if rest:
                    why = f"{threads_text(t)} used clearly more energy than fewer, and was no faster"
                    walk.left.append(f"{runtime}, {', '.join(map(str, rest))} threads: {why}")
                break
        if runtime != default[0] and t == threads[0]:
            others = [p for p in walk.points if p.runtime != runtime and p.threads == t]
            if others and all(any(clearly_worse(p, o) and p.batch_p95_ms >= o.batch_p95_ms for o in others) for p in row):
                if len(threads) > 1:
                    walk.left.append(f"{runtime}: clearly worse than {default[0]} at {threads_text(t)} on every batch size; not pursued")
                break


def _torch_threads() -> int | None:
    import sys

    return sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None


def _restore_torch_threads(n: int | None) -> None:
    import sys

    if n is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
