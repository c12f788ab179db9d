"""Running ahead: where the executor has several measuring slots (Ray nodes, one measurement each), the next
candidates' first looks start while the search still judges the current one, so that every slot is busy.

The search still takes results one candidate at a time, in its cost order, and judges exactly as it would measuring
one at a time: a first look run ahead is the job it would have run, so the decisions are the same. A candidate the
search then prunes was measured for nothing: a finished one is kept in the store (a later run with --exhaustive reuses
it) and its energy counted in the run's cost; a running one is cancelled, and the seconds it ran are stated, since a
cancelled task reports no energy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from advisor.core.results import RunAhead
from advisor.measure.executor import Executor, Measured, Pending
from advisor.spec.schema import CandidateSpec


def _quiet(phase: str, done: int, total: int) -> None:
    """Progress of a job run ahead: not shown (the bars follow the candidate the search is judging)."""


class Ahead:
    """The first looks started ahead on ``executor``'s free slots, for ``plan`` (the search's first samples)."""

    def __init__(self, executor: Executor, plan) -> None:
        can = getattr(executor, "submit", None) is not None and plan.settings.search.run_ahead
        self.executor, self.plan = executor, plan
        self.slots = getattr(executor, "slots", 1) if can else 1
        self.pending: dict[str, Pending] = {}
        self.started: set[str] = set()
        self.used: list[str] = []
        self.unused: list[str] = []
        self.unused_energy_j = 0.0
        self.cancelled_s = 0.0

    def fill(self, specs: Sequence[CandidateSpec], skip: Callable[[CandidateSpec], bool]) -> None:
        """Start the first looks of ``specs``, in order, that ``skip`` does not rule out, while a slot is free."""
        if self.slots < 2:
            return
        for spec in specs:
            if sum(not p.done() for p in self.pending.values()) >= self.slots:
                return
            if spec.name in self.started or skip(spec):
                continue
            self.started.add(spec.name)
            pending = self.executor.submit(self.plan.job(spec), _quiet)
            if pending is not None:
                self.pending[spec.name] = pending

    def run(self, job, progress) -> Measured:
        """``job``'s result: the one run ahead where there is one, else measured now."""
        pending = self.pending.pop(job.name, None)
        if pending is None:
            return self.executor.run(job, progress)
        self.used.append(job.name)
        return pending.result()

    def drop(self, name: str) -> float:
        """The search does not need ``name``'s first look: keep it if finished, else cancel it; returns its energy in joules."""
        pending = self.pending.pop(name, None)
        if pending is None:
            return 0.0
        self.unused.append(name)
        if pending.done():
            energy = pending.result().energy_j
            self.unused_energy_j += energy
            return energy
        self.cancelled_s += pending.cancel()
        return 0.0

    def close(self) -> float:
        """Drop every first look not taken; returns their energy in joules."""
        return sum(self.drop(name) for name in list(self.pending))

    def figures(self) -> RunAhead | None:
        """What running ahead did, for the results (None where jobs ran one at a time)."""
        if self.slots < 2:
            return None
        return RunAhead(
            slots=self.slots,
            used=list(self.used),
            unused=list(self.unused),
            unused_energy_j=self.unused_energy_j,
            cancelled_s=self.cancelled_s,
        )
