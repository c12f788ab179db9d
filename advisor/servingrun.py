"""After a recommendation: which models the serving sweep measures, where it runs, and the decision.

The sweep runs in one fresh worker process (forked from the run's preloaded server where possible), with its own
meter, like a candidate's measurement; with ``isolate`` off it runs in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from advisor.executor import _deaf_to_ctrl_c, _meter, _worker_context
from advisor.measure import Job
from advisor.metering import test_meter_hook
from advisor.results import CandidateServing, Cost, Recommendation, Serving
from advisor.serving import choose, decide, energy_label, frontier, with_goal
from advisor.settings import Settings
from advisor.sweep import sweep_candidate


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
