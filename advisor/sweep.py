"""The serving sweep: a model loaded once, measured over batch sizes, thread counts and runtimes.

Each configuration is measured with the candidates' own method (:func:`advisor.measure._energy_windows`:
warm-up, then repeated metered windows of back-to-back batches), so its energy per query has the same
Student-t interval; the windows' batches are timed for the latency percentiles. The grid is adaptive:
a larger batch whose energy per query is clearly worse than a smaller one's ends that batch direction
(its latency is worse too); more threads that are clearly worse on energy and no faster end the
thread direction; a second runtime whose first thread count is clearly worse everywhere is not
pursued. The run's own configuration (its batch size, all threads, the model's runtime) is always
measured, as the point of comparison.

:func:`serving_step` runs the sweep after a recommendation, in a fresh process by default.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace

from advisor.executor import _deaf_to_ctrl_c, _meter, _worker_context
from advisor.measure import Job, ProgressFn, _energy_windows, quiet_libraries, resolved_sources
from advisor.metering import Meter, test_meter_hook
from advisor.results import CandidateResult, CandidateServing, Cost, Recommendation, Serving, ServingPoint
from advisor.runners import Prediction, Runner, runner_class
from advisor.schema import CandidateSpec
from advisor.serving import choose, decide, energy_label, frontier, tied, with_goal
from advisor.settings import Settings
from advisor.stats import mean_interval

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


def runtime_of(spec: CandidateSpec) -> str:
    """The runtime a registry entry runs on as written."""
    if spec.backend == "onnx":
        return "onnxruntime"
    return "scikit-learn" if spec.kind == "tfidf-logreg" else "pytorch"


def openvino_available() -> bool:
    """Whether the OpenVINO runtime is installed (an optional extra)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def runtimes(spec: CandidateSpec, wanted: Sequence[str] | None = None) -> tuple[dict[str, CandidateSpec], list[str]]:
    """The runtimes ``spec`` can be served on (its own first), as registry entries, and those left out with why.

    A PyTorch sentence encoder also runs as its ONNX export; an encoder exported to ONNX from a PyTorch
    folder also runs on PyTorch; an ONNX graph also runs on OpenVINO when that is installed.
    """
    own = runtime_of(spec)
    found = {own: spec}
    if spec.kind == "encoder-head" and not spec.options.get("quantize"):
        opts = {k: v for k, v in spec.options.items() if k not in ("export", "threads")}
        if spec.backend != "onnx":
            found["onnxruntime"] = spec.model_copy(update={"backend": "onnx", "options": {**opts, "export": "fp32"}})
        elif spec.options.get("export"):
            found["pytorch"] = spec.model_copy(update={"backend": "sentence-transformers", "options": opts})
        onnx = found.get("onnxruntime")
        if onnx is not None:
            found["openvino"] = onnx
    left = []
    if "openvino" in found and not openvino_available():
        del found["openvino"]
        left.append("openvino: not installed (pip install openvino)")
    if wanted:
        left += [f"{r}: not asked for (--serve-runtimes)" for r in found if r not in wanted and r != own]
        left += [f"{r}: this model cannot run on it" for r in wanted if r not in found]
        found = {r: s for r, s in found.items() if r in wanted or r == own}
    return found, left


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
    energy, qps = _energy_windows(timed, sub, meter, lambda *_: None)
    n_timed = energy.window_queries // batch * len(energy.window_durations_s)
    times = timed.times_ms[-n_timed:]
    energy = energy.model_copy(update={"ci_per_query_j": list(mean_interval(energy.repeats_per_query_j, s.confidence))})
    return ServingPoint(
        runtime=runtime,
        batch_size=batch,
        threads=threads,
        device=job.context.device,
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
    if runtime == "openvino":
        from advisor.runners.openvino import OpenVinoEncoderHead as cls
    else:
        cls = runner_class(spec.kind)
    runner = cls(spec, found[0], job.context, found[1])
    with warnings.catch_warnings():  # an ONNX export's tracer warnings say nothing about serving
        warnings.simplefilter("ignore")
        runner.load()
    if runner.trainable:
        if head is not None:
            runner.head = head
        else:
            runner.fit(*_fit_subset(list(job.texts), list(job.labels)))
    return runner


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def sweep_candidate(job: Job, meter: Meter, progress: ProgressFn | None = None) -> CandidateServing:
    """Sweep one candidate's serving configurations (the goal is applied later, by :func:`decide_serving`).

    Never raises for a model problem: a runtime that fails to load is listed in ``not_measured``; a model that
    fails altogether gives ``failed``.
    """
    from threadpoolctl import threadpool_limits

    progress = progress or (lambda *_: None)
    quiet_libraries()
    s, t0 = job.settings, time.perf_counter()
    threads = thread_counts(s, job.context.device)
    batches = sorted(set(s.serve_batches) | {s.batch_size})
    found, left = runtimes(job.spec, s.serve_runtimes)
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


# -- after a recommendation: which models, where the sweep runs, and the decision -----------------------


def targets(rec: Recommendation, scope: str) -> list[str]:
    """The models to sweep: the recommended one, or with ``frontier`` every Pareto-frontier candidate meeting the goal."""
    if rec.decision != "recommended" or rec.model is None:
        return []
    if scope != "frontier":
        return [rec.model]
    meets = {c.name for c in rec.candidates if c.status == "ok" and c.verdict == "meets"}
    return [rec.model, *(n for n in rec.pareto if n in meets and n != rec.model)]


def wait_note(settings: Settings) -> str:
    """How a request's wait for its batch is counted, in one sentence."""
    qps = settings.queries_per_second
    if qps:
        return (
            f"A request waits for its batch to fill at {qps:g} queries/s, up to (batch - 1) / {qps:g} s (the first request's wait), "
            "added to the batch's compute time; a configuration slower than that rate cannot keep up."
        )
    return (
        "No request rate given (--queries-per-second): latency is the batch's compute time alone, as if full batches were "
        "waiting; at a real rate a batch of b also waits for b requests to arrive."
    )


def decide_serving(rec: Recommendation, sweeps: Sequence[CandidateServing], settings: Settings, total_j: float | None = None) -> Serving:
    """The goal applied to every measured point, each model's frontier and choice, and the pair to serve.

    ``total_j``: the whole sweep's energy from its meter (default: the sum of the models' metered windows).
    """
    goal, qps = settings.max_latency_ms, settings.queries_per_second
    done = []
    for sw in sweeps:
        pts = [with_goal(p, goal, qps) for p in sw.points]
        chosen, why = choose(pts, goal) if pts else (None, sw.failed or "no configuration was measured")
        done.append(sw.model_copy(update={"points": pts, "frontier": frontier(pts), "chosen": chosen, "reason": why}))
    order = [rec.model, *(s.name for s in done if s.name != rec.model)] if rec.model else [s.name for s in done]
    model, point, answer = decide(done, order, goal, energy_label(rec.method.energy))
    return Serving(
        scope="frontier" if settings.serving == "frontier" else "recommended",
        max_latency_ms=goal,
        queries_per_second=qps,
        wait_note=wait_note(settings),
        candidates=done,
        model=model,
        point=point,
        answer=answer,
        cost=Cost(
            energy_j=total_j if total_j is not None else sum(s.cost.energy_j for s in done), duration_s=sum(s.cost.duration_s for s in done)
        ),
    )


def serving_step(plan, observer=None) -> Callable[[Recommendation], Recommendation]:
    """What to apply to a complete recommendation: its serving sweep, decided against the latency goal.

    A Ctrl-C during the sweep ends the sweep only: the recommendation stands and says the sweep was interrupted.
    """
    s = plan.settings

    def step(rec: Recommendation) -> Recommendation:
        if s.serving == "off":
            return rec
        names = targets(rec, s.serving)
        if not names:
            why = "No serving sweep: no model was recommended."
            return rec.model_copy(update={"serving": Serving(scope=s.serving, max_latency_ms=s.max_latency_ms, answer=why)})
        idle = rec.idle_power_w.model_dump()
        by_name = {spec.name: spec for spec in plan.specs}
        jobs = [replace(plan.job(by_name[n]), idle_power_w=idle) for n in names if n in by_name]
        try:
            sweeps, total_j, _ = run_sweeps(jobs, observer)
        except KeyboardInterrupt:
            answer = "The serving sweep was interrupted; the recommendation above stands."
            return rec.model_copy(update={"serving": Serving(scope=s.serving, max_latency_ms=s.max_latency_ms, answer=answer)})
        serving = decide_serving(rec, sweeps, s, total_j)
        summary = f"{rec.summary} {serving.answer}".strip() if s.max_latency_ms is not None else rec.summary
        return rec.model_copy(update={"serving": serving, "summary": summary})

    return step


def run_sweeps(jobs: Sequence[Job], observer=None) -> tuple[list[CandidateServing], float | None, dict]:
    """Sweep each job's candidate: in one fresh worker process (the default), or in this process (``isolate`` off).

    Returns:
        The sweeps, the whole sweep's energy in joules from its meter (None when the worker died) and the meter's method.
    """
    if not jobs:
        return [], 0.0, {}
    specs = {j.spec.name: j.spec for j in jobs}

    def progress(name: str, phase: str, done: int, total: int) -> None:
        if observer is not None:
            observer.progress(specs[name], phase, done, total)

    s = jobs[0].settings
    if not s.isolate and s.executor == "local":
        meter = _meter(s, jobs[0].meter_hook)
        meter.start()
        try:
            sweeps = [sweep_candidate(j, meter, lambda ph, d, t, n=j.spec.name: progress(n, ph, d, t)) for j in jobs]
        finally:
            method, total_j = meter.method(), meter.stop()
        return sweeps, total_j, method
    return _in_worker(jobs, progress)


def _worker(jobs: list[Job], out) -> None:
    import signal

    from advisor.procs import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    die_with_parent()
    meter = _meter(jobs[0].settings, jobs[0].meter_hook)
    meter.start()
    for j in jobs:
        sw = sweep_candidate(j, meter, lambda ph, d, t, n=j.spec.name: out.put(("progress", n, ph, d, t)))
        out.put(("sweep", sw.to_dict()))
    method = meter.method()
    out.put(("done", meter.stop(), method))


def _in_worker(jobs: Sequence[Job], progress) -> tuple[list[CandidateServing], float | None, dict]:
    """Run :func:`_worker` in a fresh process (forked from the run's preloaded server where possible)."""
    import queue as queue_mod

    ctx = _worker_context(jobs[0].settings)
    jobs = [replace(j, meter_hook=test_meter_hook()) for j in jobs]
    out = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(jobs, out), daemon=True)
    if ctx.get_start_method() == "forkserver":
        proc.start()
    else:
        _deaf_to_ctrl_c(proc.start)
    got: list[CandidateServing] = []
    total_j, method = None, {}
    try:
        while True:
            try:
                msg = out.get(timeout=0.25)
            except queue_mod.Empty:
                if proc.is_alive():
                    continue
                try:
                    msg = out.get(timeout=1.0)
                except queue_mod.Empty:
                    break
            if msg[0] == "progress":
                progress(*msg[1:])
            elif msg[0] == "sweep":
                got.append(CandidateServing.model_validate(msg[1]))
            else:
                total_j, method = msg[1], msg[2]
                break
        proc.join(timeout=30)
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
    done = {g.name for g in got}
    code = proc.exitcode
    how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    died = [CandidateServing(name=j.spec.name, failed=f"the sweep's worker process died ({how})") for j in jobs if j.spec.name not in done]
    return got + died, total_j, method
