"""Running ahead on free measuring slots, without a cluster: what starts, what is used, kept or cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from advisor.measure.executor import Measured
from advisor.search.ahead import Ahead
from advisor.spec.settings import Settings


@dataclass
class FakePending:
    name: str
    finished: bool
    energy: float
    cancelled: bool = False

    def result(self) -> Measured:
        return Measured(SimpleNamespace(name=self.name), {}, {}, self.energy)

    def done(self) -> bool:
        return self.finished

    def cancel(self) -> float:
        self.cancelled = True
        return 3.0


class FakeExecutor:
    def __init__(self, slots: int, finished: set[str]):
        self.slots, self.finished, self.started, self.ran = slots, finished, {}, []

    def submit(self, job, progress):
        self.started[job.name] = FakePending(job.name, job.name in self.finished, 2.0)
        return self.started[job.name]

    def run(self, job, progress):
        self.ran.append(job.name)
        return Measured(SimpleNamespace(name=job.name), {}, {}, 1.0)


PLAN = SimpleNamespace(job=lambda spec: SimpleNamespace(name=spec.name), settings=Settings())
SPECS = [SimpleNamespace(name=n) for n in ("a", "b", "c", "d")]


def test_first_looks_start_on_free_slots_and_are_used_in_order():
    ex = FakeExecutor(slots=2, finished=set())
    ahead = Ahead(ex, PLAN)
    ahead.fill(SPECS, skip=lambda spec: False)
    assert list(ex.started) == ["a", "b"]  # two slots, two running
    assert ahead.run(SimpleNamespace(name="a"), None).energy_j == 2.0 and ex.ran == []
    ex.started["a"].finished = True
    ahead.fill(SPECS[1:], skip=lambda spec: spec.name == "c")  # c would not be measured now: d takes the free slot
    assert list(ex.started) == ["a", "b", "d"]
    assert ahead.run(SimpleNamespace(name="c"), None).energy_j == 1.0 and ex.ran == ["c"]  # nothing ahead: measured now


def test_looks_not_needed_are_kept_when_finished_and_cancelled_when_running():
    ex = FakeExecutor(slots=3, finished={"b"})
    ahead = Ahead(ex, PLAN)
    ahead.fill(SPECS, skip=lambda spec: False)
    ahead.run(SimpleNamespace(name="a"), None)
    assert ahead.drop("b") == 2.0 and not ex.started["b"].cancelled  # finished: its energy counts, it is stored
    assert ahead.drop("c") == 0.0 and ex.started["c"].cancelled  # running: cancelled, no energy reported
    assert ahead.drop("a") == 0.0  # taken already: nothing to drop
    figures = ahead.figures()
    assert (figures.slots, figures.used, figures.unused) == (3, ["a"], ["b", "c"])
    assert figures.unused_energy_j == 2.0 and figures.cancelled_s == 3.0


def test_one_slot_runs_nothing_ahead():
    ex = FakeExecutor(slots=1, finished=set())
    ahead = Ahead(ex, PLAN)
    ahead.fill(SPECS, skip=lambda spec: False)
    assert ex.started == {} and ahead.figures() is None


def test_running_ahead_can_be_switched_off():
    ex = FakeExecutor(slots=4, finished=set())
    ahead = Ahead(ex, SimpleNamespace(job=PLAN.job, settings=Settings(run_ahead=False)))
    ahead.fill(SPECS, skip=lambda spec: False)
    assert ex.started == {} and ahead.figures() is None
    assert ahead.run(SimpleNamespace(name="a"), None).energy_j == 1.0 and ex.ran == ["a"]  # measured when its turn comes
