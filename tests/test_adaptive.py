"""Adaptive search: the cost order, the early-drop rule's error rate, pruning past a pass, and the cost it reports."""

from __future__ import annotations

import numpy as np
import pytest

import advisor
import tests.tiny_models as tm
from advisor import Settings
from advisor.core.rules import Rules
from advisor.search.adaptive import cost_order
from advisor.spec.schema import MetricSpec
from advisor.spec.sources import parameter_count
from tests.conftest import FAST
from tests.factories import candidate, energy

ACCURACY = MetricSpec(name="accuracy")


@pytest.fixture(autouse=True)
def fake_meter(monkeypatch):
    monkeypatch.setenv("ADVISOR_TEST_METER", "fake")  # the test hook: no hardware is read


def safetensors_parameters(folder) -> int:
    """Numbers stored in a folder's ``.safetensors`` files, counted from the file headers."""
    from safetensors import safe_open

    total = 0
    for file in folder.rglob("*.safetensors"):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():  # noqa: SIM118 - a safetensors handle, not a dict
                total += int(np.prod(f.get_slice(key).get_shape()))
    return total


def run(task, registry, tmp_path, **kw):
    return advisor.recommend(task=task, registry=registry, settings=Settings(reports_dir=tmp_path / "reports", **{**FAST, **kw}))


def test_shards_double_and_each_look_spends_a_share_of_the_error():
    rules = Rules(threshold=0.8, confidence=0.95, metric=ACCURACY, first_shard=32)
    assert rules.shards(300) == [32, 64, 128, 256, 300]
    assert rules.shards(20) == [20]
    assert rules.look_confidence(300) == pytest.approx(1 - 0.05 / 5)


def test_the_drop_rule_wrongly_drops_a_good_enough_candidate_at_most_at_the_stated_rate():
    """A candidate whose true accuracy sits exactly on the threshold must survive all looks in >= 95% of worlds."""
    rules, n, worlds = Rules(threshold=0.8, confidence=0.95, metric=ACCURACY), 300, 2000
    rng = np.random.default_rng(0)
    labels = ["y"] * n
    dropped = 0
    for _ in range(worlds):
        correct = rng.random(n) < 0.8
        preds = ["y" if c else "n" for c in correct]
        dropped += any(rules.should_drop(preds[:end], labels, n) for end in rules.shards(n)[:-1])
    assert dropped / worlds <= 0.05
    # and the rule has power: half right on the first 32 samples is far enough below 0.8 to drop at the first look
    half = ["y", "n"] * 16
    assert rules.should_drop(half, labels, n) and not rules.should_drop(["y"] * 24 + ["n"] * 8, labels, n)


def test_parameters_are_read_from_the_weights_headers(tmp_path):
    st = tm.make_bert_encoder(tmp_path / "st")
    assert parameter_count(st) == safetensors_parameters(st) > 0
    onnx_dir = tm.make_onnx_encoder(tmp_path / "onnx")
    n = parameter_count(onnx_dir / "model.onnx")
    assert n is not None and 0.9 * safetensors_parameters(st) < n < 1.1 * safetensors_parameters(st)  # the same tiny BERT, exported
    assert parameter_count(None) == 0  # built-in TF-IDF: no weights
    (tmp_path / "empty").mkdir()
    assert parameter_count(tmp_path / "empty") is None


def test_cost_order_is_by_parameters_then_size_and_keeps_ties_in_registry_order():
    params = {"big": 100, "tfidf-a": 0, "tfidf-b": 0, "unknown": None, "mid": 10}
    sizes = {"big": 5, "mid": 50}
    assert cost_order(["big", "tfidf-a", "unknown", "tfidf-b", "mid"], params, sizes) == ["tfidf-a", "tfidf-b", "mid", "big", "unknown"]


def test_adaptive_stops_climbing_once_a_candidate_meets_and_agrees_with_exhaustive(toy_task, tfidf_registry, tmp_path):
    # ranked by parameters: the two TF-IDF models cost about the same energy, so an energy ranking would be a coin toss
    adaptive = run(toy_task, tfidf_registry, tmp_path, min_quality=0.6, run_id="a", by="params")
    full = run(toy_task, tfidf_registry, tmp_path, min_quality=0.6, run_id="e", exhaustive=True, by="params")
    by = {c.name: c for c in adaptive.candidates}
    assert adaptive.model == full.model == "tfidf-small"
    assert by["tfidf-large"].status == "pruned" and "tfidf-small already meets" in by["tfidf-large"].reason
    assert by["tfidf-large"].pruned_by == "tfidf-small" and by["tfidf-small"].pruned_by is None
    assert by["tfidf-large"].pruned_as == "goal_met" and adaptive.outcome.chosen == "tfidf-small" and adaptive.outcome.by == "params"
    assert {c.status for c in full.candidates} == {"ok"}
    assert adaptive.search.strategy == "adaptive" and full.search.strategy == "exhaustive"
    assert adaptive.search.order == ["tfidf-small", "tfidf-large"]
    cost = adaptive.advisor_cost
    assert cost.exhaustive_estimate_j > cost.energy_j > 0 and full.advisor_cost.exhaustive_estimate_j is None


def test_a_zero_shot_dead_end_is_dropped_after_the_first_shard(toy_task, tmp_path):
    lm = tm.make_causal_lm(tmp_path / "lm")
    registry = tmp_path / "registry.yaml"
    registry.write_text(f"""
version: 1
candidates:
  - name: tiny-lm
    tier: small
    kind: prompted
    backend: transformers
    source: {{local: {lm}}}
    task_types: [text-classification]
    license: MIT
""")
    task = toy_task.parent.parent / "big" / "task.yaml"
    from tests.conftest import toy_rows, write_task

    task = write_task(task.parent, rows=toy_rows(120), sample={"seed": 1})
    rec = run(task, registry, tmp_path, min_quality=0.95, first_shard=32)
    c = rec.candidate("tiny-lm")
    assert c.status == "dropped" and c.samples_evaluated == 32 and len(c.predictions) == 32
    assert "stopped after 32 of 100 samples" in c.reason  # of the first look (100 of the 120 rows)
    assert c.energy.source == "quality pass" and c.latency_p50_ms is None  # no windows were spent on it
    assert rec.model is None and rec.decision == "none" and "each was stopped early" in rec.summary and "on 32 samples" in rec.summary
    full = run(task, registry, tmp_path, min_quality=0.95, exhaustive=True, run_id="full")
    assert full.candidate("tiny-lm").status == "ok" and full.candidate("tiny-lm").verdict == "fails"
    assert rec.advisor_cost.exhaustive_estimate_s > rec.advisor_cost.duration_s


def test_a_relative_goal_without_a_named_reference_runs_everything(toy_task, tfidf_registry, tmp_path):
    rec = run(toy_task, tfidf_registry, tmp_path, max_drop=0.05)
    assert rec.search.strategy == "exhaustive" and "--reference" in rec.search.note
    assert all(c.status == "ok" for c in rec.candidates)
    named = run(toy_task, tfidf_registry, tmp_path, max_drop=0.5, reference="tfidf-large", run_id="named")
    assert named.search.order[0] == "tfidf-large" and named.search.strategy == "adaptive"


def test_the_exhaustive_estimate_never_scales_a_transformer_from_a_tfidf_model():
    from advisor.core.results import Cost, Phase
    from advisor.search.adaptive import exhaustive_estimate

    tfidf = candidate(
        "tfidf",
        quality=0.9,
        energy=energy(0.001, window_queries=16),
        parameters=7_800,
        samples_evaluated=100,
        phases={"quality": Phase(energy_j=5.0, duration_s=1.0), "energy": Phase(energy_j=2.0, duration_s=1.0)},
        cost=Cost(energy_j=10.0, duration_s=3.0),
    )
    big = candidate("big", kind="encoder-head", status="pruned", parameters=109_000_000)
    j, s, left_out = exhaustive_estimate([tfidf, big], 100, Settings().measurement)
    assert (j, s) == (10.0, 3.0) and left_out == ["big"]
