"""A sweep that pays for itself: configurations known already are never measured again (the run's own measurement,
stored sweeps, keyed like a measurement), new ones stay within a budget, windows stop once the intervals separate,
and the answer says what the sweep cost against what it saves."""

from __future__ import annotations

from dataclasses import replace

import pytest

from advisor.api import recommend
from advisor.core.results import CandidateServing, Serving
from advisor.measure.candidate import Job
from advisor.measure.metering import FakeMeter
from advisor.outputs.serving import payback
from advisor.runners import RunContext
from advisor.serving import sweep as sweep_module
from advisor.serving.points import measure_point, padding_ratio
from advisor.serving.sweep import SweepJob, sweep_candidate
from advisor.spec.schema import CandidateSpec, MetricSpec, PromptSpec
from advisor.spec.settings import Settings
from tests.conftest import FAST as _FAST
from tests.test_serving import point

FAST = {**_FAST, "exhaustive": True, "serving": "recommended"}


def _job(**settings) -> SweepJob:
    spec = CandidateSpec.model_validate(
        {"name": "tf", "tier": "small", "kind": "tfidf-logreg", "backend": "sklearn", "license": "x", "task_types": ["text-classification"]}
    )
    texts = [f"{w} movie {i}" for i, w in enumerate(["good", "bad"] * 16)]
    s = Settings(**{**_FAST, "batch_size": 4, "serve_batches": [1, 4, 8], "serve_threads": [1], **settings})
    job = Job(
        spec=spec,
        registry_dir=None,
        texts=texts,
        labels=["pos", "neg"] * 16,
        label_names=["neg", "pos"],
        metric=MetricSpec(name="accuracy"),
        folds=3,
        seed=0,
        measurement=s.measurement,
        context=RunContext(label_names=["neg", "pos"], prompt=PromptSpec(), batch_size=4),
    )
    return SweepJob(job, serving=s.serving, confidence=s.goal.confidence)


def test_the_padding_ratio_grows_with_uneven_texts():
    assert padding_ratio(["a b", "c d", "e f"], 3) == 1.0
    assert padding_ratio(["a", "b c d e f g h"], 1) == 1.0
    assert padding_ratio(["a", "b c d e f g h"], 2) == pytest.approx(14 / 8)


def test_known_configurations_are_used_as_they_are_and_nothing_loads(monkeypatch):
    job = _job()
    known = [
        point(0.5, 3.0, batch=b, runtime="scikit-learn").model_copy(update={"measured_in": "store", "reused_from": "r0"}) for b in (1, 4, 8)
    ]

    def no_load(*a, **k):
        raise AssertionError("a known configuration loaded the model")

    monkeypatch.setattr(sweep_module, "_load", no_load)
    got = sweep_candidate(replace(job, known=tuple(known)), FakeMeter())
    assert got.failed is None and {p.batch_size for p in got.points} == {1, 4, 8}
    assert all(p.measured_in == "store" and p.energy.per_query_j == 0.5 for p in got.points)
    assert [p.default for p in got.points].count(True) == 1 and got.cost.energy_j == 0


def test_new_configurations_stop_at_the_budget():
    job = _job()
    got = sweep_candidate(replace(job, budget_j=1e-12), FakeMeter())
    assert len(got.points) == 1  # the first is always measured; the next would go over
    over = [x for x in got.not_measured if "over the sweep's energy budget" in x]
    assert len(over) == 1 and over[0].startswith("2 configuration(s) over the sweep's energy budget") and got.budget_j == 1e-12
    free = sweep_candidate(job, FakeMeter())
    assert len(free.points) >= 2 and not any("budget" in x for x in free.not_measured)


def test_windows_stop_once_the_interval_lies_clearly_apart_from_the_best():
    from advisor.runners.tfidf import TfidfLogReg

    job = _job(repeats=5).job
    runner = TfidfLogReg(job.spec, None, job.context)
    runner.load()
    runner.fit(job.texts, job.labels)
    far = point(1e-9, 1.0, runtime="scikit-learn", half=1e-12)  # far below anything real: this one is clearly worse
    near = measure_point(runner, job, FakeMeter(), "scikit-learn", 4, 1, best=far, confidence=0.95)
    alone = measure_point(runner, job, FakeMeter(), "scikit-learn", 4, 1, confidence=0.95)
    assert len(near.energy.repeats_per_query_j) == 2 and len(alone.energy.repeats_per_query_j) == 5


@pytest.mark.slow
def test_a_repeated_run_sweeps_nothing_and_a_changed_key_measures_again(toy_task, tfidf_registry, tmp_path):
    kw = dict(registry=tfidf_registry, min_quality=0.5, reports_dir=tmp_path, store=tmp_path / "s.sqlite", serve_batches=[1, 8])
    first = recommend(toy_task, **kw, **FAST, sweep_budget=100)
    sw = first.serving
    assert sw.reused >= 1 and any(p.measured_in == "run" and p.default for p in sw.candidates[0].points)  # the run's own point
    assert any(p.measured_in == "sweep" for p in sw.candidates[0].points)
    again = recommend(toy_task, **kw, **FAST, sweep_budget=100)
    points = again.serving.candidates[0].points
    assert again.serving.reused == len(points) == len(sw.candidates[0].points) and again.serving.cost.energy_j == 0
    assert {p.measured_in for p in points} == {"run", "store"} and all(p.reused_from == first.run_id for p in points if p.reused_from)
    assert "nothing measured again" in payback(again.serving)
    changed = recommend(toy_task, **kw, **{**FAST, "repeats": 3}, sweep_budget=100)  # a key part changed: measured anew
    assert {p.measured_in for p in changed.serving.candidates[0].points} == {"run", "sweep"}


def test_the_answer_says_what_the_sweep_cost_against_what_it_saves():
    base = point(0.4, 5.0).model_copy(update={"default": True})
    best = point(0.1, 3.0, batch=4)
    s = Serving(
        scope="recommended",
        candidates=[CandidateServing(name="m", points=[base, best])],
        model="m",
        point=best,
        saved_per_query_j=0.3,
        payback_queries=1000.0,
        reused=1,
    )
    line = payback(s, queries_per_day=500)
    assert line.startswith("1 of 2 configurations were known already")
    assert "saves 0.3 J/query: the sweep pays for itself after 1,000 queries (about 2 days at 500 queries a day)" in line
    assert "saves no energy per query" in payback(s.model_copy(update={"saved_per_query_j": 0.0, "payback_queries": None}))


def test_auto_sweeps_the_frontier_where_the_joint_ranking_can_change_the_answer():
    from advisor.serving.run import scope_of
    from tests.synthetic import synthetic_recommendation

    base = synthetic_recommendation(6)
    ok = [c.name for c in base.candidates if c.status == "ok"]

    def with_meeting(n: int):
        cands = [c.model_copy(update={"verdict": "meets" if c.name in ok[:n] else "fails"}) for c in base.candidates]
        return base.model_copy(update={"candidates": cands})

    assert scope_of(with_meeting(2), Settings()) == "frontier"
    assert scope_of(with_meeting(1), Settings()) == "recommended"
    assert scope_of(with_meeting(1), Settings(max_latency_ms=50)) == "frontier"
    assert scope_of(with_meeting(2), Settings(serving="recommended")) == "recommended"


def test_the_budget_is_the_models_not_the_runs():
    job = _job()
    first = sweep_candidate(replace(job, budget_j=1e6), FakeMeter())
    stored = [p.model_copy(update={"measured_in": "store"}) for p in first.points[:1]]
    spent = stored[0].energy.per_query_j * stored[0].energy.window_queries * len(stored[0].energy.window_durations_s)
    again = sweep_candidate(replace(job, known=tuple(stored), budget_j=spent / 2), FakeMeter())  # earlier runs spent it already
    assert [p.measured_in for p in again.points] == ["store"]
    assert any("J of it by earlier runs" in x for x in again.not_measured)


def test_length_aware_batches_group_requests_of_similar_length_within_a_window():
    from advisor.serving.points import WINDOW_BATCHES, config_key, length_batches

    texts = [" ".join(["w"] * n) for n in [1, 30, 2, 29, 3, 28, 1, 2, 40, 1, 2, 3, 1, 1, 2, 50]]
    batches, window = length_batches(texts, 4)
    assert window == WINDOW_BATCHES * 4 and sorted(t for b in batches for t in b) == sorted(texts)
    assert all(1 <= len(b) <= 4 for b in batches)
    lengths = [[len(t.split()) for t in b] for b in batches]
    assert all(b == sorted(b) for b in lengths)  # similar lengths together
    assert len(batches[-1]) < 4  # the longest go in a smaller batch: the token budget
    assert config_key("onnxruntime", 4, 2, "length") != config_key("onnxruntime", 4, 2)


def test_length_aware_waits_for_its_window_and_is_measured_where_texts_are_uneven():
    from advisor.serving.choice import with_goal

    p = point(0.1, 10.0, batch=4).model_copy(update={"batching": "length", "wait_queries": 16})
    assert with_goal(p, None, 100.0).fill_wait_ms == pytest.approx(150.0)  # 15 requests at 100/s, not 3
    uneven = _job()
    uneven = replace(uneven, job=replace(uneven.job, texts=[("word " * (1 + (i % 7) * 9)).strip() for i in range(32)]))
    got = sweep_candidate(uneven, FakeMeter())
    grouped = [p for p in got.points if p.batching == "length"]
    assert len(grouped) == 1 and grouped[0].batch_size > 1 and grouped[0].wait_queries == 4 * grouped[0].batch_size
    even = sweep_candidate(_job(), FakeMeter())
    assert not any(p.batching == "length" for p in even.points)
    assert any("the texts are of even length" in x for x in even.not_measured)


def test_a_sweep_whose_budget_earlier_runs_spent_starts_no_worker(monkeypatch):
    from advisor.serving import run as serving_run

    job = _job()
    first = sweep_candidate(replace(job, budget_j=1e6), FakeMeter())
    stored = tuple(p.model_copy(update={"measured_in": "store"}) for p in first.points)
    spent = sum(p.cost.energy_j for p in stored)
    assert all(p.cost and p.cost.energy_j > 0 for p in stored) and spent >= sum(p.energy.per_query_j for p in stored)
    monkeypatch.setattr(serving_run, "make_executor", lambda *_: pytest.fail("a settled sweep started an executor"))
    sweeps, total_j, _ = serving_run.run_sweeps([replace(job, known=stored, budget_j=spent)], Settings())
    assert [p.measured_in for p in sweeps[0].points] == ["store"] * len(stored) and total_j is None
    assert not replace(job, known=stored, budget_j=spent * 2).settled
