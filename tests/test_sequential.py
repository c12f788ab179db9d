"""Deciding with more samples: nested draws, re-measuring only what can change the answer, and an error
rate that holds over the repeated looks (simulated)."""

from __future__ import annotations

import random

import pytest

from advisor.measure.candidate import base_result
from advisor.measure.executor import Measured
from advisor.outputs.files import Outputs
from advisor.search.plan import make_plan
from advisor.search.run import execute
from advisor.spec.settings import Measurement, Settings
from advisor.spec.tasks import load_task
from tests.conftest import write_task
from tests.factories import energy


def _rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{"text": f"row {i} {rng.random():.6f}", "label": "pos" if i % 3 else "neg"} for i in range(n)]


class BernoulliExecutor:
    """Each candidate answers sample i correctly with its own probability; the same sample always gets the same
    answer (so a larger sample extends a smaller one). Energy is a fixed figure; nothing is loaded."""

    def __init__(self, accuracy: dict[str, float], seed: int):
        self.accuracy, self.seed, self.calls = accuracy, seed, []

    def run(self, job, progress) -> Measured:
        self.calls.append((job.spec.name, len(job.texts)))
        p = self.accuracy[job.spec.name]
        wrong = {"pos": "neg", "neg": "pos"}
        preds = [y if random.Random(f"{self.seed}/{job.spec.name}/{t}").random() < p else wrong[y] for t, y in zip(job.texts, job.labels)]
        quality = sum(a == b for a, b in zip(preds, job.labels)) / len(preds)
        per = {"tfidf-small": 0.001, "tfidf-large": 0.01}[job.spec.name]
        result = base_result(job.spec, "ok").model_copy(
            update={
                "quality": quality,
                "predictions": preds,
                "probabilities": [0.9] * len(preds),
                "energy": energy(per, repeats=2, window_queries=16),
                "samples_evaluated": len(preds),
            }
        )
        return Measured(result, {"energy": "fake", "meter": "fake"}, {"total": 0.0}, 1.0)

    def close(self) -> float:
        return 0.0


@pytest.fixture
def big_task(tmp_path):
    """3,000 rows; ``sample.size`` caps the run at 1,000; the goal (0.8) sizes the first look at 250."""
    return load_task(write_task(tmp_path / "big", rows=_rows(3000), sample={"size": 1000, "seed": 3}, threshold=0.8))


def test_the_first_sample_is_a_prefix_of_every_larger_one(big_task):
    small, large = big_task.samples(size=100, seed=3), big_task.samples(size=400, seed=3)
    assert large.texts[:100] == small.texts and large.labels[:100] == small.labels
    share = small.labels.count("neg") / 100
    assert abs(share - 1 / 3) <= 0.011  # stratified: the class shares hold in every prefix, to within one row


def test_undecided_candidates_get_more_samples_and_decided_ones_do_not(big_task, tfidf_registry, tmp_path):
    settings = Settings(reports_dir=tmp_path / "r", exhaustive=True)
    plan = make_plan(big_task, str(tfidf_registry), settings)
    assert plan.sizes == (250, 500, 1000) and plan.decision_confidence == pytest.approx(1 - 0.05 / 3)
    ex = BernoulliExecutor({"tfidf-small": 0.84, "tfidf-large": 0.99}, seed=1)
    rec = execute(plan, ex, Outputs())
    looks = [(lk.samples, lk.measured) for lk in rec.search.looks]
    small_looks = [n for n, names in looks if names == ["tfidf-small"]]
    assert small_looks[:2] == [250, 500], looks  # the undecided cheap candidate is measured again on more samples first
    assert looks.index((250, ["tfidf-large"])) > looks.index((small_looks[-1], ["tfidf-small"])), "before the costlier one"
    assert [n for n, names in looks if names == ["tfidf-large"]] == [250], "decided at once: never measured again"
    small = rec.candidate("tfidf-small")
    assert small.samples_evaluated == small_looks[-1] and len(small.predictions) == small.samples_evaluated
    assert rec.task.samples == max(n for n, _ in looks)
    from advisor.outputs.text import samples_line

    line = samples_line(rec)
    assert line.startswith(f"Decided on up to {rec.task.samples} samples (the first 250, then more for tfidf-small)") and " J and " in line


def test_a_fixed_sample_size_never_draws_more(big_task, tfidf_registry, tmp_path):
    plan = make_plan(big_task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r", sample_size=100, exhaustive=True))
    assert plan.sizes == (100,) and plan.decision_confidence == pytest.approx(0.95)
    rec = execute(plan, BernoulliExecutor({"tfidf-small": 0.84, "tfidf-large": 0.99}, seed=1), Outputs())
    assert [lk.samples for lk in rec.search.looks] == [100, 100]  # each candidate once, on the fixed sample


def test_with_no_rows_left_the_answer_says_so_and_names_a_best_bet(tmp_path, tfidf_registry):
    task = load_task(write_task(tmp_path / "small", rows=_rows(120), threshold=0.8))
    plan = make_plan(task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r", exhaustive=True))
    rec = execute(plan, BernoulliExecutor({"tfidf-small": 0.82, "tfidf-large": 0.83}, seed=2), Outputs())
    assert rec.decision == "undecided", rec.summary
    assert "no more rows" in rec.summary and "120" in rec.summary
    assert rec.best_bet is not None and rec.best_bet.name in ("tfidf-small", "tfidf-large")
    assert 0 < rec.best_bet.likelihood < 1 and "not a confident recommendation" in rec.best_bet.note
    assert rec.outcome.case == "undecided" and rec.outcome.subject in ("tfidf-small", "tfidf-large")  # the same, as data
    assert {(s.case, s.value) for s in rec.search.stops} == {("no_rows", 120)} and rec.search.stops[0].candidate in rec.summary


@pytest.mark.slow
def test_the_error_rate_holds_over_repeated_looks(big_task, tfidf_registry, tmp_path):
    """A candidate slightly below the threshold must be declared 'meets' in at most 5% of runs, looks included."""
    plan = make_plan(big_task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r", exhaustive=True, candidates=["tfidf-small"]))
    runs, wrong = 300, 0
    for seed in range(runs):
        rec = execute(plan, BernoulliExecutor({"tfidf-small": 0.79, "tfidf-large": 0.0}, seed=seed), Outputs())
        wrong += rec.candidate("tfidf-small").verdict == "meets"
    assert wrong / runs <= 0.05, f"{wrong} of {runs} runs wrongly said 'meets'"


def test_an_encoder_measured_on_more_samples_embeds_only_the_new_ones_and_keeps_its_inference(tmp_path):
    from advisor.measure.candidate import Job, measure
    from advisor.measure.metering import FakeMeter
    from advisor.runners import RunContext
    from advisor.runners.encoder import EncoderHead
    from advisor.spec.schema import CandidateSpec, MetricSpec, PromptSpec
    from tests import tiny_models as tm

    path = tm.make_bert_encoder(tmp_path / "enc")
    spec = CandidateSpec(
        name="enc",
        tier="small",
        kind="encoder-head",
        backend="sentence-transformers",
        source={"local": str(path)},
        task_types=["text-classification"],
        license="MIT",
    )
    rows = _rows(80)
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    ctx = RunContext(label_names=["neg", "pos"], prompt=PromptSpec(), batch_size=8, work_dir=str(tmp_path / "work"))
    measurement = Measurement(batch_size=8, repeats=2, min_window_s=0.05, latency_queries=3, idle_s=0, isolate=False)
    embedded = []
    real = EncoderHead.embed

    def counting(self, batch):
        embedded.append(len(batch))
        return real(self, batch)

    EncoderHead.embed = counting
    try:

        def job(n, previous=None):
            return Job(
                spec=spec,
                registry_dir=None,
                texts=texts[:n],
                labels=labels[:n],
                label_names=["neg", "pos"],
                metric=MetricSpec(name="accuracy"),
                folds=3,
                seed=0,
                measurement=measurement,
                context=ctx,
                previous=previous,
            )

        first = measure(job(40), FakeMeter())
        quality_pass = 40
        assert first.status == "ok" and sum(embedded) > quality_pass  # the quality pass, the windows and the latency queries
        embedded.clear()
        second = measure(job(80, first), FakeMeter())
    finally:
        EncoderHead.embed = real
    assert second.status == "ok" and second.samples_evaluated == 80
    assert sum(embedded) == 40, "only the 40 new samples are embedded; no new windows or latency queries"
    assert second.energy == first.energy and second.latency_p50_ms == first.latency_p50_ms and second.inference_from == 40


def test_the_exhaustive_estimate_counts_the_looks_before_each_candidates_last(big_task, tfidf_registry, tmp_path):
    """An exhaustive run would draw the same extra samples, so an adaptive run's estimate of it counts those looks too."""
    plan = make_plan(big_task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r"))
    rec = execute(plan, BernoulliExecutor({"tfidf-small": 0.84, "tfidf-large": 0.99}, seed=1), Outputs())
    small = [lk for lk in rec.search.looks if lk.measured == ["tfidf-small"]]
    assert len(small) >= 2, rec.search.looks  # measured again on more samples
    # the executor reports no per-candidate cost, so the estimate is exactly the earlier looks' energy
    earlier = sum(lk.energy_j for lk in small[:-1])
    assert earlier > 0 and rec.advisor_cost.exhaustive_estimate_j == pytest.approx(earlier)


def test_a_task_without_a_sample_size_starts_small_and_may_grow_to_every_row(tmp_path, tfidf_registry):
    from advisor.core.rules import first_look_size

    task = load_task(write_task(tmp_path / "t", rows=_rows(3000), sample={"seed": 3}, threshold=0.8))
    plan = make_plan(task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r"))
    assert plan.sizes == (250, 500, 1000, 2000, 3000) and len(plan.samples) == first_look_size(0.8, 0.95, 2) == 250
    everything = task.samples(seed=3)
    assert plan.samples.texts == everything.texts[:250]  # a prefix of the same stratified order: later looks extend it
    capped = make_plan(task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r", max_samples=800))
    assert capped.sizes == (250, 500, 800)
    fixed = make_plan(task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r", sample_size=600))
    assert fixed.sizes == (600,)
    relative = make_plan(task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r", max_drop=0.02))
    assert relative.sizes == (3000,)  # every candidate on the same samples: all rows, as the task declares no size


def test_the_first_look_is_sized_to_the_goal_and_the_classes():
    from advisor.core.rules import first_look_size

    assert first_look_size(0.5, 0.95, 2) == 400  # 1.96^2 * 0.25 / 0.05^2 = 384, rounded up to 50
    assert first_look_size(0.8, 0.95, 2) == 250 and first_look_size(0.85, 0.95, 2) == 200
    assert first_look_size(0.99, 0.95, 2) == 100  # never below 100
    assert first_look_size(0.9, 0.95, 40) == 800  # at least 20 per class
    assert first_look_size(0.5, 0.99, 2) == 700  # a higher confidence needs more


def test_few_shot_rows_stay_out_of_the_first_look(tmp_path, tfidf_registry):
    task = load_task(write_task(tmp_path / "t", rows=_rows(90), sample={"seed": 3}, threshold=0.8, prompt={"few_shot": 2}))
    plan = make_plan(task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r"))
    assert len(plan.samples) == 88 and len(plan.context.few_shot_texts) == 2
    assert not set(plan.context.few_shot_texts) & set(plan.samples.texts)
