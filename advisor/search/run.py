"""Execute a plan: measure the candidates in order, judging after each, and feed the outputs.

The adaptive search's two stopping rules live here: once a candidate meets the goal, costlier ones
are ``pruned``; in a check, nothing costlier than the deployed model is measured.
"""

from __future__ import annotations

import shutil
import time
from typing import Protocol

from advisor.core import sentences
from advisor.core.cascades import cascade_name
from advisor.core.results import CandidateResult, Cascade, Cost, IdlePower, Look, Method, Recommendation, Stop
from advisor.measure.candidate import base_result
from advisor.measure.cascade import CascadeJob, window_texts
from advisor.measure.executor import Executor, Measured
from advisor.search.adaptive import cost_rank
from advisor.search.ahead import Ahead
from advisor.search.judge import cascade_to_grow, judge
from advisor.search.plan import Plan
from advisor.spec.kinds import KINDS
from advisor.spec.schema import CandidateSpec


class Output(Protocol):
    """Receives the recommendation as it grows."""

    def update(self, rec: Recommendation) -> None:
        """After each candidate (status ``running``)."""

    def finish(self, rec: Recommendation) -> None:
        """Once, with status ``complete`` or ``interrupted``."""


class Observer(Protocol):
    """Receives progress; the CLI draws bars with it."""

    def candidate_started(self, spec: CandidateSpec, index: int, total: int) -> None: ...
    def progress(self, spec: CandidateSpec, phase: str, done: int, total: int) -> None: ...
    def candidate_finished(self, result: CandidateResult) -> None: ...


class Silent:
    """An observer that ignores everything."""

    def candidate_started(self, spec, index, total):
        pass

    def progress(self, spec, phase, done, total):
        pass

    def candidate_finished(self, result):
        pass


def execute(plan: Plan, executor: Executor, output: Output, observer: Observer | None = None) -> Recommendation:
    """Measure the plan's candidates one at a time, cheapest first, judging after each; a candidate the samples
    cannot decide, and whose verdict could change the answer, is measured again on more samples (the next rows
    of the same draw) before any costlier candidate is tried.

    ``output`` is updated after each candidate. On any interruption it is finished with what was measured
    (status ``interrupted``); on completion finishing it is the caller's, after whatever it adds (the serving
    sweep, a distillation's lineage).

    Returns:
        The complete recommendation (status ``complete``).
    """
    state = _State(plan, executor, output, observer or Silent())
    try:
        output.update(state.rec)  # the run exists (results.json, the store's row with its owner) before anything is measured
        for i, spec in enumerate(plan.specs):
            state.measure(spec, i, len(plan.specs))
        state.measure_cascade()
    except BaseException:
        state.finish("interrupted")
        raise
    return state.finish("complete")


class _State:
    """A run in progress: the plan (extended to the most samples drawn so far), the results and what was spent."""

    def __init__(self, plan: Plan, executor: Executor, output: Output, observer: Observer):
        self.first, self.plan, self.executor, self.output, self.observer = plan, plan, executor, output, observer
        self.t0, self.spent, self.results = time.perf_counter(), 0.0, {}
        self.rec, self.looks, self.stops = plan.skeleton(), [], {}
        self.ahead = Ahead(executor, plan)  # with several measuring slots, the next first looks start early
        self.closed = False

    def cost(self) -> Cost:
        return Cost(energy_j=self.spent, duration_s=time.perf_counter() - self.t0)

    def measure(self, spec: CandidateSpec, index: int, total: int) -> None:
        """Measure ``spec`` on the first samples, then on more while it stays undecided and could change the answer."""
        self.observer.candidate_started(spec, index, total)
        self._fill(index)
        plan = self.first
        result = self._once(plan, spec)
        while result.status == "ok" and self._open(spec.name):
            why = self._why_stop(plan, spec.name)
            if why is not None:
                self.stops[spec.name] = why
                break
            plan = self.plan.extended(plan.next_size())  # the same draw order: the samples so far come first
            self.plan = plan if len(plan.samples) > len(self.plan.samples) else self.plan
            self._fill(index + 1)  # a slot freed while this candidate grows starts the next first look
            self.observer.candidate_started(spec, index, total)
            result = self._once(plan, spec)
        self.observer.candidate_finished(result)

    def _fill(self, start: int) -> None:
        """Start first looks ahead on free measuring slots, from the ``start``-th candidate, for those measured now."""
        self.ahead.fill(self.first.specs[start:], lambda later: _not_measured(self.first, later, self.rec) is not None)

    def _once(self, plan: Plan, spec: CandidateSpec, for_cascade: bool = False) -> CandidateResult:
        """One measurement of ``spec`` on ``plan``'s samples, judged and handed to the outputs."""
        t0, j0 = time.perf_counter(), self.spent
        previous = self.results.get(spec.name)
        first_look = plan is self.first and previous is None
        m = _next(plan, spec, self.rec, self.ahead if first_look else self.executor, self.observer, previous)
        self.spent += m.energy_j + self.ahead.drop(spec.name)  # run ahead, then not needed: its energy is the run's all the same
        if self.rec.method.meter is None and m.method:  # the first candidate measured says how energy is obtained
            self.rec = self.rec.model_copy(
                update={"method": Method.model_validate(m.method), "idle_power_w": IdlePower.model_validate(m.idle_power_w)}
            )
        self.results[spec.name] = m.result
        if m.result.status in ("ok", "dropped"):
            self.looks.append(
                Look(
                    samples=len(plan.samples),
                    measured=[spec.name],
                    energy_j=self.spent - j0,
                    duration_s=time.perf_counter() - t0,
                    phases=m.result.phases,
                    for_cascade=for_cascade,
                )
            )
        self._judge("running")
        self.output.update(self.rec)
        return self.rec.candidate(spec.name)

    def measure_cascade(self) -> None:
        """Run the certified cascade, if any, as one pipeline metered like a candidate: its row ranks by that measurement."""
        if self.first.settings.search.cascade == "off":
            return
        self._judge("complete")  # the cascade is searched once every candidate is measured
        self._grow_cascade()
        found = self.rec.cascade
        if found is None or found.candidate is not None:
            return
        job = cascade_job(self.plan, found, self.results)
        total = len(self.first.specs) + 1
        self.observer.candidate_started(job, total - 1, total)
        t0 = time.perf_counter()
        m = self.executor.run(job, lambda ph, d, t: self.observer.progress(job, ph, d, t))
        self.spent += m.energy_j
        self.results[job.name] = m.result
        self.looks.append(
            Look(
                samples=len(self.plan.samples),
                measured=[job.name],
                energy_j=m.energy_j,
                duration_s=time.perf_counter() - t0,
                phases=m.result.phases,
                for_cascade=True,
            )
        )
        self._judge("running")
        self.output.update(self.rec)
        self.observer.candidate_finished(self.rec.candidate(job.name))

    def _grow_cascade(self) -> None:
        """While a cascade could meet the goal for less energy but is not confirmed, measure its stages on more samples
        (first those behind the others, then the next rows of the draw), within --max-samples and the budgets."""
        by_name = {spec.name: spec for spec in self.first.specs}
        while (names := cascade_to_grow(self.plan, self.rec)) is not None:
            shared = min(len(self.results[n].predictions or []) for n in names)
            plan = self.plan
            if shared >= len(plan.samples):
                who = f"cascade {cascade_name(names)}"
                why = self._why_stop(plan, who)
                if why is not None:
                    self.stops[who] = why
                    return
                plan = self.plan = plan.extended(plan.next_size())
            for i, name in enumerate(names):
                if len(self.results[name].predictions or []) < len(plan.samples):
                    self.observer.candidate_started(by_name[name], i, len(names))
                    self.observer.candidate_finished(self._once(plan, by_name[name], for_cascade=True))
            self._judge("complete")
            if min(len(self.results[n].predictions or []) for n in names) <= shared:
                return  # a stage could not be measured on more samples: nothing more to learn here

    def _judge(self, status: str) -> None:
        self.rec = judge(self.plan, list(self.results.values()), self.cost(), status, self.rec, self.looks, list(self.stops.values()))
        if (ahead := self.ahead.figures()) is not None:
            self.rec = self.rec.model_copy(update={"search": self.rec.search.model_copy(update={"ahead": ahead})})
        self.results = {c.name: c for c in self.rec.candidates if c.status != "not run"}  # assessed: intervals are computed once

    def _open(self, name: str) -> bool:
        """Whether ``name`` is undecided and could change the answer (no recommendation yet, or it is cheaper)."""
        rec, order = self.rec, self.first.search.order
        c = rec.candidate(name)
        if c.status != "ok" or c.verdict != "undecided":
            return False
        return rec.model not in order or order.index(name) < order.index(rec.model)

    def _why_stop(self, plan: Plan, who: str) -> Stop | None:
        """Why no more samples are drawn for ``who``, measured on ``plan``, or None to draw more."""
        s = plan.settings.search
        if plan.next_size() is None:
            rows = plan.search.rows_available or 0
            if s.sample_size is not None:
                return Stop(candidate=who, case="fixed_size", value=s.sample_size)
            if plan.settings.goal.max_drop is not None:
                return Stop(candidate=who, case="relative_goal")
            used = len(plan.samples)
            return Stop(candidate=who, case="no_rows", value=rows) if used >= rows else Stop(candidate=who, case="max_samples", value=used)
        extra = [lk for lk in self.looks if lk.samples > len(self.first.samples)]
        if s.budget_j is not None and sum(lk.energy_j for lk in extra) >= s.budget_j:
            return Stop(candidate=who, case="energy_budget", value=s.budget_j)
        if s.budget_s is not None and sum(lk.duration_s for lk in extra) >= s.budget_s:
            return Stop(candidate=who, case="time_budget", value=s.budget_s)
        return None

    def finish(self, status: str) -> Recommendation:
        if not self.closed:
            self.closed = True
            self.spent += self.ahead.close()
            self.spent += self.executor.close()
            if self.first.context.work_dir:
                shutil.rmtree(self.first.context.work_dir, ignore_errors=True)
        self._judge(status)
        if status != "complete":
            self.output.finish(self.rec)
        return self.rec


def cascade_job(plan: Plan, found: Cascade, results: dict[str, CandidateResult]) -> CascadeJob:
    """The job that meters ``found`` as one pipeline: each stage as it was measured (its kept state, else fitted again
    on the samples it was measured on), queried with rows beyond the samples where the draw has enough."""
    by_name = {spec.name: spec for spec in plan.specs}
    stages = tuple(plan.extended(len(results[n].predictions or [])).job(by_name[n]) for n in found.stages)
    texts, where = window_texts(plan.samples.texts, plan.samples.pool_texts)
    held = {
        "quality": found.quality,
        "quality_ci": found.quality_ci,
        "verdict": found.verdict,
        "shares": found.shares,
        "computed_j": found.energy_per_query_j,
        "samples": found.samples_held_out,
    }
    return CascadeJob(stages, tuple(results[n].state for n in found.stages), found.gate, texts, where, held)


def _next(
    plan: Plan,
    spec: CandidateSpec,
    rec: Recommendation,
    executor: Executor | Ahead,
    observer: Observer,
    previous: CandidateResult | None = None,
) -> Measured:
    """Measure ``spec`` (reusing what ``previous`` measured on fewer samples where it can), or say why it is not measured."""
    skipped = _not_measured(plan, spec, rec)
    if skipped is not None:
        return Measured(skipped, {}, {}, 0.0)
    return executor.run(plan.job(spec, previous), lambda ph, d, t: observer.progress(spec, ph, d, t))


def _not_measured(plan: Plan, spec: CandidateSpec, rec: Recommendation) -> CandidateResult | None:
    """The row of a candidate the search does not measure now (unavailable, pruned), or None to measure it."""
    if spec.name in plan.unavailable:
        return plan.unavailable[spec.name]
    passed = _passed(plan, rec, spec)
    if passed is not None:
        return _pruned(spec, passed, plan.params)
    limit = _deployed_rank(plan)
    if limit is not None and plan.specs.index(spec) > limit:
        return _pruned(spec, plan.settings.goal.deployed, plan.params, "the deployed model")
    far = _too_far_to_tune(plan, rec, spec)
    if far is not None:
        case, reason = far
        update = {"parameters": plan.params.get(spec.name), "pruned_by": spec.derived_from, "pruned_as": case}
        return base_result(spec, "pruned", reason).model_copy(update=update)
    return None


def _passed(plan: Plan, rec: Recommendation, spec: CandidateSpec) -> str | None:
    """Adaptive search: a candidate earlier in the cost order than ``spec`` that meets the goal (the reference and deployed model aside)."""
    s = plan.settings
    if plan.rules is None and not (s.goal.reference and not s.search.exhaustive):
        return None
    order = plan.search.order
    before = set(order[: order.index(spec.name)]) if spec.name in order else set(order)
    return next(
        (
            c.name
            for c in rec.candidates
            if c.status == "ok" and c.verdict == "meets" and c.name in before and c.name not in (s.goal.reference, s.goal.deployed)
        ),
        None,
    )


def _too_far_to_tune(plan: Plan, rec: Recommendation, spec: CandidateSpec) -> tuple[str, str] | None:
    """Adaptive search: why a model whose body would be trained on the samples is not worth making (its frozen
    parent failed, or scored more than ``finetune_within`` below the goal), as (``pruned_as``, reason), or None to
    measure it."""
    s = plan.settings
    if plan.rules is None or plan.threshold is None or not KINDS[spec.kind].trains_body or not spec.derived_from:
        return None
    parent = next((c for c in rec.candidates if c.name == spec.derived_from), None)
    if parent is None:
        return None  # the parent is not in this run: nothing to judge by
    if parent.status != "ok" or parent.quality is None:
        return "parent_unmeasured", sentences.parent_not_measured(parent)
    if plan.threshold - parent.quality > s.search.finetune_within:
        return "parent_too_far", sentences.parent_too_far(parent, plan.threshold, s.search.finetune_within)
    return None


def _deployed_rank(plan: Plan) -> int | None:
    """For a check: the deployed model's place in the cost order (candidates costlier than it are not needed)."""
    s = plan.settings
    if not s.goal.deployed or s.search.exhaustive:
        return None
    order = [n for n in plan.search.order if n != s.goal.deployed]
    return 1 + cost_rank(order, plan.params, s.goal.deployed)  # the deployed model runs first, then the cheaper ones


def _pruned(spec: CandidateSpec, passed: str, params: dict[str, int | None], role: str | None = None) -> CandidateResult:
    mine, theirs = params.get(spec.name), params.get(passed)
    reason = sentences.pruned(passed, role, mine, theirs)
    update = {"parameters": mine, "pruned_by": passed, "pruned_as": "deployed" if role else "goal_met"}
    return base_result(spec, "pruned", reason).model_copy(update=update)
