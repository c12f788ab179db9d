"""Execute a plan: measure the candidates in order, judging after each, and feed the outputs.

The adaptive search's two stopping rules live here: once a candidate meets the goal, costlier ones
are ``pruned``; in a check, nothing costlier than the deployed model is measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from advisor.adaptive import cost_rank
from advisor.executor import Executor, Measured
from advisor.judge import judge
from advisor.measure import base_result
from advisor.outputs import Output
from advisor.plan import Plan
from advisor.results import CandidateResult, Cost, IdlePower, Method, Recommendation
from advisor.schema import CandidateSpec
from advisor.text import human_count


class Observer(Protocol):
    """Receives progress; the CLI draws bars with it."""

    def candidate_started(self, spec: CandidateSpec, index: int, total: int) -> None: ...
    def progress(self, spec: CandidateSpec, phase: str, done: int, total: int) -> None: ...
    def candidate_finished(self, result: CandidateResult) -> None: ...


class Silent:
    """An observer that ignores everything."""

    def candidate_started(self, spec, index, total): pass
    def progress(self, spec, phase, done, total): pass
    def candidate_finished(self, result): pass


def execute(plan: Plan, executor: Executor, output: Output, observer: Observer | None = None,
            annotate: Callable[[Recommendation], Recommendation] | None = None) -> Recommendation:
    """Measure the plan's candidates one at a time; on any interruption the outputs get what was measured.

    Args:
        annotate: applied to the complete recommendation before the outputs finish (e.g. a distillation's lineage).

    Returns:
        The complete recommendation (also given to ``output.finish``).
    """
    observer = observer or Silent()
    t0, spent, results = time.perf_counter(), 0.0, []
    rec = plan.skeleton()
    try:
        for i, spec in enumerate(plan.specs):
            observer.candidate_started(spec, i, len(plan.specs))
            m = _next(plan, spec, rec, executor, observer)
            spent += m.energy_j
            if rec.method.meter is None and m.method:  # the first candidate measured says how energy is obtained
                rec = rec.model_copy(update={"method": Method.model_validate(m.method), "idle_power_w": IdlePower.model_validate(m.idle_power_w)})
            rec = judge(plan, [*results, m.result], Cost(energy_j=spent, duration_s=time.perf_counter() - t0), "running", rec)
            results = [c for c in rec.candidates if c.status != "not run"]  # assessed: intervals are computed once
            output.update(rec)
            observer.candidate_finished(m.result)
    except BaseException:
        spent += executor.close()
        output.finish(judge(plan, results, Cost(energy_j=spent, duration_s=time.perf_counter() - t0), "interrupted", rec))
        raise
    spent += executor.close()
    rec = judge(plan, results, Cost(energy_j=spent, duration_s=time.perf_counter() - t0), "complete", rec)
    if annotate is not None:
        rec = annotate(rec)
    output.finish(rec)
    return rec


def _next(plan: Plan, spec: CandidateSpec, rec: Recommendation, executor: Executor, observer: Observer) -> Measured:
    """Measure ``spec``, or say why it is not measured."""
    if spec.name in plan.unavailable:
        return Measured(plan.unavailable[spec.name], {}, {}, 0.0)
    s = plan.settings
    passed = _passed(plan, rec)
    if passed is not None:
        return Measured(_pruned(spec, passed, plan.params), {}, {}, 0.0)
    limit = _deployed_rank(plan)
    if limit is not None and plan.specs.index(spec) > limit:
        return Measured(_pruned(spec, s.deployed, plan.params, "the deployed model"), {}, {}, 0.0)
    return executor.run(plan.job(spec), lambda ph, d, t: observer.progress(spec, ph, d, t))


def _passed(plan: Plan, rec: Recommendation) -> str | None:
    """Adaptive search: the cheapest candidate so far that meets the goal (the reference and deployed model aside)."""
    s = plan.settings
    if plan.rules is None and not (s.reference and not s.exhaustive):
        return None
    return next((c.name for c in rec.candidates if c.status == "ok" and c.verdict == "meets" and c.name not in (s.reference, s.deployed)), None)


def _deployed_rank(plan: Plan) -> int | None:
    """For a check: the deployed model's place in the cost order (candidates costlier than it are not needed)."""
    s = plan.settings
    if not s.deployed or s.exhaustive:
        return None
    order = [n for n in plan.search.order if n != s.deployed]
    return 1 + cost_rank(order, plan.params, s.deployed)  # the deployed model runs first, then the cheaper ones


def _pruned(spec: CandidateSpec, passed: str, params: dict[str, int | None], role: str | None = None) -> CandidateResult:
    mine, theirs = params.get(spec.name), params.get(passed)
    why = f"{human_count(mine)} vs {human_count(theirs)} parameters" if mine is not None and theirs is not None else "later in the cost order"
    if role:
        reason = f"not measured: expected to cost more than {role}, {passed} ({why}); --exhaustive measures it"
    else:
        reason = f"not measured: {passed} already meets the goal and this candidate is expected to cost more ({why}); --exhaustive measures it"
    return base_result(spec, "pruned", reason).model_copy(update={"parameters": mine})
