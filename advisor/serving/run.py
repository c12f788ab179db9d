"""After a recommendation: which models the serving sweep measures, where it runs, and the decision.

Each model's sweep is a job run by the same executors as a candidate's measurement (a fresh worker process with
its own meter by default, this process with ``isolate`` off, a Ray task with ``--executor ray``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from advisor.core.results import CandidateServing, Cost, Recommendation, Serving
from advisor.core.sentences import serving_answer
from advisor.measure.candidate import Job
from advisor.measure.executor import make_executor
from advisor.measure.metering import NullMeter
from advisor.serving.choice import choose, decide, energy_label, frontier, with_goal
from advisor.serving.stored import budget, keep_points, known_points
from advisor.serving.sweep import SweepJob
from advisor.spec.settings import Settings


def scope_of(rec: Recommendation, settings: Settings) -> str:
    """The sweep's scope: ``auto`` is ``frontier`` where the joint ranking can change the answer (two candidates or more
    meet the goal, or a latency goal is given), else ``recommended``."""
    if settings.serving.mode != "auto":
        return settings.serving.mode
    meets = [c for c in rec.candidates if c.status == "ok" and c.verdict == "meets" and c.kind != "cascade"]
    return "frontier" if len(meets) >= 2 or settings.serving.max_latency_ms is not None else "recommended"


def targets(rec: Recommendation, scope: str) -> list[str]:
    """The models to sweep: the recommended one, or with ``frontier`` every Pareto-frontier candidate meeting the goal."""
    if rec.decision != "recommended" or rec.model is None:
        return []
    singles = {c.name for c in rec.candidates if c.kind != "cascade"}
    if scope != "frontier":
        return [rec.model] if rec.model in singles else []
    meets = {c.name for c in rec.candidates if c.status == "ok" and c.verdict == "meets" and c.name in singles}
    first = [rec.model] if rec.model in singles else []
    return [*first, *(n for n in rec.pareto if n in meets and n != rec.model)]


def wait_note(settings: Settings) -> str:
    """How a request's wait for its batch is counted, in one sentence."""
    qps = settings.serving.queries_per_second
    if qps:
        return (
            f"A request waits for its batch to fill at {qps:g} queries/s, up to (batch - 1) / {qps:g} s (the first request's wait), "
            "added to the batch's compute time; a configuration slower than that rate cannot keep up."
        )
    return (
        "No request rate given (--queries-per-second): latency is the batch's compute time alone, as if full batches were "
        "waiting; at a real rate a batch of b also waits for b requests to arrive."
    )


def decide_serving(
    rec: Recommendation, sweeps: Sequence[CandidateServing], settings: Settings, total_j: float | None = None, scope: str | None = None
) -> Serving:
    """The goal applied to every measured point, each model's frontier and choice, and the pair to serve.

    ``total_j``: the whole sweep's energy from its meter (default: the sum of the models' metered windows).
    """
    goal, qps = settings.serving.max_latency_ms, settings.serving.queries_per_second
    done = []
    for sw in sweeps:
        pts = [with_goal(p, goal, qps) for p in sw.points]
        chosen, why = choose(pts, goal) if pts else (None, sw.failed or "no configuration was measured")
        done.append(sw.model_copy(update={"points": pts, "frontier": frontier(pts), "chosen": chosen, "reason": why}))
    order = [rec.model, *(s.name for s in done if s.name != rec.model)] if rec.model else [s.name for s in done]
    model, point, choice = decide(done, order, goal)
    cost_j = total_j if total_j is not None else sum(s.cost.energy_j for s in done)
    chosen = next((c for c in done if c.name == model), None)
    default = next((p for p in chosen.points if p.default), None) if chosen else None
    saved = default.energy.per_query_j - point.energy.per_query_j if default is not None and point is not None else None
    return Serving(
        saved_per_query_j=saved,
        payback_queries=cost_j / saved if saved and saved > 0 else None,
        reused=sum(p.measured_in != "sweep" for c in done for p in c.points),
        scope=scope or ("frontier" if settings.serving.mode == "frontier" else "recommended"),
        max_latency_ms=goal,
        queries_per_second=qps,
        wait_note=wait_note(settings),
        candidates=done,
        model=model,
        point=point,
        answer=serving_answer(choice, model, point, goal, energy_label(rec.method.energy)),
        choice=choice,
        cost=Cost(energy_j=cost_j, duration_s=sum(s.cost.duration_s for s in done)),
    )


def serve(plan, rec: Recommendation, observer=None, store=None) -> Recommendation:
    """``rec`` with its serving sweep, decided against the latency goal (``rec`` as it is with ``--serving off``).

    Configurations known already are not measured again: the run's own (its measurement of the model, the same
    windows) and, with a result ``store``, those an earlier sweep measured with the same key; new ones are stored.
    New ones are measured within the budget (:func:`budget`). A Ctrl-C during the sweep ends the sweep only: the
    recommendation stands and says the sweep was interrupted.
    """
    s = plan.settings
    if s.serving.mode == "off":
        return rec
    scope = scope_of(rec, s)
    names = targets(rec, scope)
    if not names:
        why = (
            f"No serving sweep: the recommendation is a cascade, measured at the run's batch size ({s.measurement.batch_size}); "
            "its stages are not swept apart."
            if rec.model and rec.candidate(rec.model).kind == "cascade"
            else "No serving sweep: no model was recommended."
        )
        return rec.model_copy(update={"serving": Serving(scope=scope, max_latency_ms=s.serving.max_latency_ms, answer=why)})
    idle = rec.idle_power_w.model_dump()
    by_name = {spec.name: spec for spec in plan.specs}
    plain = [replace(plan.job(by_name[n]), idle_power_w=idle) for n in names if n in by_name]
    budget_j, budget_s = budget(rec, s.serving)
    share = max(1, len(plain))
    jobs = [
        SweepJob(
            j,
            tuple(known_points(rec.candidate(j.spec.name), j, s.serving, s.goal.confidence, store, plan.run_id)),
            None if budget_j is None else budget_j / share,
            None if budget_s is None else budget_s / share,
            s.serving,
            s.goal.confidence,
        )
        for j in plain
    ]
    try:
        sweeps, total_j, _ = run_sweeps(jobs, s, observer)
    except KeyboardInterrupt:
        answer = "The serving sweep was interrupted; the recommendation above stands."
        return rec.model_copy(update={"serving": Serving(scope=scope, max_latency_ms=s.serving.max_latency_ms, answer=answer)})
    if store is not None:
        for job, sw in zip(jobs, sweeps):
            keep_points(store, job.job, sw, plan.run_id)
    serving = decide_serving(rec, sweeps, s, total_j, scope)
    summary = f"{rec.summary} {serving.answer}".strip() if s.serving.max_latency_ms is not None else rec.summary
    return rec.model_copy(update={"serving": serving, "summary": summary})


def run_sweeps(jobs: Sequence[Job | SweepJob], settings: Settings, observer=None) -> tuple[list[CandidateServing], float | None, dict]:
    """Sweep each job's candidate, each as a :class:`SweepJob` (a plain :class:`Job` swept as ``settings`` ask) on the
    executor the settings ask for (a fresh worker process by default, this process with ``isolate`` off, a Ray task
    with ``--executor ray``).

    Returns:
        The sweeps, their energy in joules from their meters (None when none reported) and the meter's method.
    """
    if not jobs:
        return [], 0.0, {}
    executor, extra = None, 0.0
    sweeps, total_j, method = [], None, {}
    try:
        for j in jobs:
            sj = j if isinstance(j, SweepJob) else SweepJob(j, serving=settings.serving, confidence=settings.goal.confidence)
            if sj.settled:  # its budget was spent by earlier sweeps: the known configurations decide, no worker starts
                sweeps.append(sj.run(NullMeter()))
                continue
            executor = executor or make_executor(settings)
            m = executor.run(sj, lambda ph, d, t, spec=sj.spec: observer and observer.progress(spec, ph, d, t))
            sweeps.append(m.result)
            if m.method:
                total_j, method = (total_j or 0.0) + m.energy_j, m.method
    finally:
        if executor is not None:
            extra = executor.close()
    return sweeps, (total_j + extra if total_j is not None else None), method
