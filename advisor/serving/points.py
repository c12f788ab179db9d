"""The configurations of a serving sweep: one measured point (the candidates' own metered windows, sequential against
the best so far), and the walk that knows which configurations are known already, loads a runtime only when one must
be measured, and keeps within the sweep's budget."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from advisor.core.formats import duration, joules
from advisor.core.results import Cost, ServingPoint
from advisor.core.stats import mean_interval
from advisor.measure.candidate import Job, ProgressFn
from advisor.measure.metering import Meter
from advisor.measure.windows import energy_windows
from advisor.runners import Runner
from advisor.serving.choice import overlap
from advisor.spec.runtimes import RUNTIMES
from advisor.spec.schema import CandidateSpec

CLEARLY_WORSE = 1.2
"""A configuration is clearly worse on energy when its interval lies above the other's and its mean is this much higher."""


def config_key(runtime: str, batch: int, threads: int, batching: str = "plain") -> str:
    """A configuration as a key: ``onnxruntime/b4/t2`` (``/length`` for length-aware batching)."""
    return f"{runtime}/b{batch}/t{threads}" + ("" if batching == "plain" else f"/{batching}")


def point_key(p: ServingPoint) -> str:
    return config_key(p.runtime, p.batch_size, p.threads, p.batching)


WINDOW_BATCHES = 4
"""Length-aware batching gathers this many batches' worth of queued requests before grouping them by length."""


def length_batches(texts: Sequence[str], batch: int) -> tuple[list[list[str]], int]:
    """Requests grouped by length, as a server would: each gathering window of :data:`WINDOW_BATCHES` x ``batch``
    requests is sorted by length (whitespace tokens) and cut into batches of at most ``batch`` requests whose padded
    size (requests x longest) stays within a token budget of ``batch`` x the window's median length, so long requests
    go in smaller batches. Returns the batches and the window (the requests one may wait for)."""
    window, out = WINDOW_BATCHES * batch, []
    for i in range(0, len(texts), window):
        chunk = sorted(texts[i : i + window], key=lambda t: len(t.split()))
        lengths = [max(1, len(t.split())) for t in chunk]
        budget = batch * sorted(lengths)[len(lengths) // 2]
        current: list[str] = []
        longest = 0
        for t, n in zip(chunk, lengths):
            if current and (len(current) == batch or max(longest, n) * (len(current) + 1) > budget):
                out.append(current)
                current, longest = [], 0
            current.append(t)
            longest = max(longest, n)
        if current:
            out.append(current)
    return out, window


def measure_point(
    runner: Runner,
    job: Job,
    meter: Meter,
    runtime: str,
    batch: int,
    threads: int,
    best: ServingPoint | None = None,
    batching: str = "plain",
    *,
    confidence: float,
) -> ServingPoint:
    """One configuration: metered windows at ``batch`` with ``threads``, each batch timed. Sequential: after two
    windows it stops when every window so far used :data:`CLEARLY_WORSE` times the upper end of ``best``'s interval
    (the least-energy point so far): a loser needs no tight interval, a contender gets every window. ``confidence``: the
    level of the energy interval."""
    texts = list(job.texts)
    pool = (texts * (batch // max(1, len(texts)) + 2))[: max(batch, len(texts) // batch * batch)]  # whole batches only
    sub = replace(job, texts=pool, measurement=job.measurement.model_copy(update={"batch_size": batch}))

    def enough(per_query: list[float]) -> bool:  # every window so far clearly above the best's interval: a loser
        if best is None or best.energy.ci_per_query_j is None:
            return False
        return min(per_query) > CLEARLY_WORSE * best.energy.ci_per_query_j[1]

    grouped, window = length_batches(pool, batch) if batching == "length" else (None, None)
    energy, qps = energy_windows(runner, sub, meter, lambda *_: None, enough=enough, batches=grouped)
    energy = energy.model_copy(update={"ci_per_query_j": list(mean_interval(energy.repeats_per_query_j, confidence))})
    return ServingPoint(
        runtime=runtime,
        batch_size=batch,
        threads=threads,
        device=RUNTIMES[runtime].device(job.context.device),
        energy=energy,
        throughput_qps=qps,
        batch_p50_ms=energy.batch_p50_ms,
        batch_p95_ms=energy.batch_p95_ms,
        latency_p50_ms=energy.batch_p50_ms,
        latency_p95_ms=energy.batch_p95_ms,
        latency_batches=energy.batches_timed or 0,
        batching=batching,
        wait_queries=window,
    )


def clearly_worse(a: ServingPoint, b: ServingPoint) -> bool:
    """Whether ``a`` uses clearly more energy per query than ``b``: intervals apart, and :data:`CLEARLY_WORSE` times as
    much (the grid ends a direction on this, so it asks for more than a choice between two points does)."""
    return not overlap(a, b) and a.energy.per_query_j > CLEARLY_WORSE * b.energy.per_query_j


def threads_text(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


def padding_ratio(texts: Sequence[str], batch: int) -> float:
    """Tokens a batch computes over the real ones when each batch is padded to its longest text (whitespace tokens as a
    cheap proxy): 1.0 at batch 1; uneven texts make larger batches pay for padding."""
    lengths = [max(1, len(t.split())) for t in texts]
    if not lengths:
        return 1.0
    padded = sum(max(lengths[i : i + batch]) * len(lengths[i : i + batch]) for i in range(0, len(lengths), batch))
    return padded / sum(lengths)


UNEVEN = 1.5
"""A padding ratio above this at the run's batch size makes small batches the likelier winners (probed first)."""


def _windows_j(p: ServingPoint) -> float:
    """The energy a point's windows took, in joules."""
    return p.energy.per_query_j * p.energy.window_queries * len(p.energy.window_durations_s)


def earlier_spend(known: Sequence[ServingPoint]) -> tuple[float, float]:
    """Energy (J) and time (s) that earlier sweeps spent on the stored configurations among ``known``, loading included."""
    stored = [p for p in known if p.measured_in == "store"]
    energy = sum(p.cost.energy_j if p.cost else _windows_j(p) for p in stored)
    return energy, sum(p.cost.duration_s if p.cost else sum(p.energy.window_durations_s) for p in stored)


class Lazy:
    """A runtime's runner, loaded (and metered) only when a configuration not known already has to be measured."""

    def __init__(self, load: Callable[[], Runner]):
        self._load, self.runner, self.threads = load, None, None

    def set_threads(self, threads: int) -> None:
        self.threads = threads
        if self.runner is not None:
            self.runner.set_threads(threads)

    def get(self) -> Runner:
        if self.runner is None:
            self.runner = self._load()
            if self.threads is not None:
                self.runner.set_threads(self.threads)
        return self.runner

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()


class Walk:
    """One model's sweep in progress: the configurations known or measured, what was spent against the budget."""

    def __init__(
        self, job: Job, meter: Meter, progress: ProgressFn, known, budget_j, budget_s, total: int, loader: Callable, confidence: float
    ):
        """``loader(spec, job, head, runtime)`` loads a runtime's runner (fitting a trainable head, or taking ``head``);
        ``confidence``: the level of each configuration's energy interval."""
        self.job, self.meter, self.progress, self.total, self.loader = job, meter, progress, total, loader
        self.confidence = confidence
        self.known = {point_key(p): p for p in known}
        self.earlier_j, self.earlier_s = earlier_spend(known)
        """What earlier sweeps of this model (the same key) spent, loading included: the budget is the model's, not the run's."""
        self.budget_j, self.budget_s, self.t0 = budget_j, budget_s, time.perf_counter()
        self.points: list[ServingPoint] = []
        self.left: list[str] = []
        self.over: list[str] = []  # configurations left out for the budget (said in one line)
        self.over_why = ""
        self.spent_j, self.measured = 0.0, 0
        self.runners: dict[str, Lazy] = {}
        self.head = None

    def metered(self, fn: Callable):
        with self.meter.window("serving-load") as w:
            out = fn()
        self.spent_j += w.reading.energy_j
        return out

    def runner(self, runtime: str, spec: CandidateSpec) -> Lazy:
        if runtime not in self.runners:

            def load(spec=spec, runtime=runtime) -> Runner:
                r = self.metered(lambda: self.loader(spec, self.job, self.head, runtime))
                self.head = self.head if self.head is not None else getattr(r, "head", None)
                return r

            self.runners[runtime] = Lazy(load)
        return self.runners[runtime]

    def best(self) -> ServingPoint | None:
        return min(self.points, key=lambda p: p.energy.per_query_j) if self.points else None

    def _affordable(self) -> str | None:
        """Why one more configuration would go over the budget, or None (the first one is always measured)."""
        if not self.measured and not self.earlier_j and not self.earlier_s:
            return None
        per_j = self.spent_j / self.measured if self.measured else 0.0
        per_s = (time.perf_counter() - self.t0) / self.measured if self.measured else 0.0
        spent = self.spent_j + self.earlier_j
        if self.budget_j is not None and spent + per_j > self.budget_j:
            earlier = f", {joules(self.earlier_j)} of it by earlier runs" if self.earlier_j else ""
            return f"over the sweep's energy budget ({joules(spent, '')} of {joules(self.budget_j)} spent{earlier})"
        took = time.perf_counter() - self.t0 + self.earlier_s
        if self.budget_s is not None and took + per_s > self.budget_s:
            return f"over the sweep's time budget ({duration(took)} of {duration(self.budget_s)} spent)"
        return None

    def point(
        self, runtime: str, spec: CandidateSpec, batch: int, threads: int, default: tuple, batching: str = "plain"
    ) -> ServingPoint | None:
        """The configuration, known or measured now; None when it is over the budget (said in ``left``)."""
        key = config_key(runtime, batch, threads, batching)
        done = next((p for p in self.points if point_key(p) == key), None)
        if done is not None:
            return done
        if key in self.known:
            p = self.known[key]
        else:
            why = self._affordable()
            if why is not None:
                self.over.append(f"{runtime} b{batch} t{threads}" + (" by length" if batching != "plain" else ""))
                self.over_why = why
                return None
            j0, t0 = self.spent_j, time.perf_counter()
            lazy = self.runner(runtime, spec)
            lazy.set_threads(threads)
            runner = lazy.get()  # loading it, if this is its runtime's first configuration, is this point's cost too
            self.progress(f"serving {runtime} b{batch} t{threads}", len(self.points), self.total)
            p = measure_point(runner, self.job, self.meter, runtime, batch, threads, self.best(), batching, confidence=self.confidence)
            self.spent_j += _windows_j(p)
            self.measured += 1
            p = p.model_copy(update={"cost": Cost(energy_j=self.spent_j - j0, duration_s=time.perf_counter() - t0)})
        p = p.model_copy(update={"default": (runtime, batch, threads) == default and batching == "plain"})
        self.points.append(p)
        return p

    def not_measured(self) -> list[str]:
        """What was left out and why; the configurations over the budget in one line."""
        over = list(dict.fromkeys(self.over))
        if not over:
            return self.left
        return [*self.left, f"{len(over)} configuration(s) {self.over_why}: {', '.join(over)}"]

    def close(self) -> None:
        for lazy in self.runners.values():
            lazy.close()
