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
from advisor.results import CandidateResult, Cost, IdlePower, Look, Method, Recommendation
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
    """Measure the plan's candidates one at a time, then, while the samples cannot decide and rows remain,
    draw more and measure again only the candidates whose verdict could change the answer.

    On any interruption the outputs get what was measured.

    Args:
        annotate: applied to the complete recommendation before the outputs finish (e.g. a distillation's lineage).

    Returns:
        The complete recommendation (also given to ``output.finish``).
    """
    state = _State(plan, executor, output, observer or Silent())
    try:
        state.look(plan.specs)
        while (why := state.why_stop()) is None:
            state.plan = state.plan.extended(state.plan.next_size())
            state.look(state.open_candidates())
        state.stopped = why
    except BaseException:
        state.finish("interrupted")
        raise
    rec = state.finish("complete")
    if annotate is not None:
        rec = annotate(rec)
    output.finish(rec)
    return rec


class _State:
    """A run in progress: the plan (as extended), the results so far and what was spent."""

    def __init__(self, plan: Plan, executor: Executor, output: Output, observer: Observer):
        self.plan, self.executor, self.output, self.observer = plan, executor, output, observer
        self.t0, self.spent, self.results = time.perf_counter(), 0.0, {}
        self.rec, self.looks, self.stopped = plan.skeleton(), [], None
        self.closed = False

    def cost(self) -> Cost:
        return Cost(energy_j=self.spent, duration_s=time.perf_counter() - self.t0)

    def look(self, specs: list[CandidateSpec]) -> None:
        """Measure ``specs`` (in order) on the current samples, judging after each."""
        t0, j0, measured = time.perf_counter(), self.spent, []
        for i, spec in enumerate(specs):
            self.observer.candidate_started(spec, i, len(specs))
            m = _next(self.plan, spec, self.rec, self.executor, self.observer, self.results.get(spec.name))
            self.spent += m.energy_j
            if self.rec.method.meter is None and m.method:  # the first candidate measured says how energy is obtained
                self.rec = self.rec.model_copy(update={"method": Method.model_validate(m.method),
                                                       "idle_power_w": IdlePower.model_validate(m.idle_power_w)})
            if m.result.status != "pruned" or spec.name not in self.results:  # a pruned re-look keeps the earlier result
                self.results[spec.name] = m.result
                if m.result.status in ("ok", "dropped"):
                    measured.append(spec.name)
            self._judge("running")
            self.output.update(self.rec)
            self.observer.candidate_finished(m.result)
        self.looks.append(Look(samples=len(self.plan.samples), measured=measured, energy_j=self.spent - j0,
                               duration_s=time.perf_counter() - t0))

    def _judge(self, status: str) -> None:
        self.rec = judge(self.plan, list(self.results.values()), self.cost(), status, self.rec, self.looks, self.stopped)
        self.results = {c.name: c for c in self.rec.candidates if c.status != "not run"}  # assessed: intervals are computed once

    def open_candidates(self) -> list[CandidateSpec]:
        """Undecided candidates that could change the answer: all of them without a recommendation, else those
        cheaper than the recommended one. Cheapest first."""
        rec, order = self.rec, self.plan.search.order
        limit = order.index(rec.model) if rec.model in order else len(order)
        names = {c.name for c in rec.candidates if c.status == "ok" and c.verdict == "undecided"}
        return [s for s in self.plan.specs if s.name in names and order.index(s.name) < limit]

    def why_stop(self) -> str | None:
        """Why no more samples are drawn, or None to draw more."""
        s, nxt = self.plan.settings, self.plan.next_size()
        if not self.open_candidates():
            return "decided"
        if nxt is None:
            return "no more rows to draw" if len(self.plan.samples) >= (self.plan.search.rows_available or 0) else "the planned samples are used"
        extra = self.looks[1:]
        if s.budget_j is not None and sum(lk.energy_j for lk in extra) >= s.budget_j:
            return f"the energy budget ({s.budget_j:g} J) is spent"
        if s.budget_s is not None and sum(lk.duration_s for lk in extra) >= s.budget_s:
            return f"the time budget ({s.budget_s:g} s) is spent"
        return None

    def finish(self, status: str) -> Recommendation:
        if not self.closed:
            self.closed = True
            self.spent += self.executor.close()
        self._judge(status)
        if status != "complete":
            self.output.finish(self.rec)
        return self.rec


def _next(plan: Plan, spec: CandidateSpec, rec: Recommendation, executor: Executor, observer: Observer,
          previous: CandidateResult | None = None) -> Measured:
    """Measure ``spec`` (reusing what ``previous`` measured on fewer samples where it can), or say why it is not measured."""
    if spec.name in plan.unavailable:
        return Measured(plan.unavailable[spec.name], {}, {}, 0.0)
    s = plan.settings
    passed = _passed(plan, rec, spec)
    if passed is not None:
        return Measured(_pruned(spec, passed, plan.params), {}, {}, 0.0)
    limit = _deployed_rank(plan)
    if limit is not None and plan.specs.index(spec) > limit:
        return Measured(_pruned(spec, s.deployed, plan.params, "the deployed model"), {}, {}, 0.0)
    return executor.run(plan.job(spec, previous), lambda ph, d, t: observer.progress(spec, ph, d, t))


def _passed(plan: Plan, rec: Recommendation, spec: CandidateSpec) -> str | None:
    """Adaptive search: a candidate earlier in the cost order than ``spec`` that meets the goal (the reference and deployed model aside)."""
    s = plan.settings
    if plan.rules is None and not (s.reference and not s.exhaustive):
        return None
    order = plan.search.order
    before = set(order[: order.index(spec.name)]) if spec.name in order else set(order)
    return next((c.name for c in rec.candidates if c.status == "ok" and c.verdict == "meets" and c.name in before
                 and c.name not in (s.reference, s.deployed)), None)


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
