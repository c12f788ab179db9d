"""Confidence-aware decisions, savings and cascades, including a simulation with known true accuracies."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.core.assess import assess
from advisor.core.impact import savings
from advisor.core.ranking import rank
from advisor.core.results import CandidateResult
from advisor.spec.schema import MetricSpec
from tests.test_ranking import cand

ACC = MetricSpec(name="accuracy")


def with_predictions(c: CandidateResult, correct: np.ndarray, labels: list[str], confidence=None) -> CandidateResult:
    preds = [y if ok else ("b" if y == "a" else "a") for y, ok in zip(labels, correct)]
    return c.model_copy(
        update={
            "predictions": preds,
            "quality": float(np.mean(correct)),
            "probabilities": list(confidence) if confidence is not None else None,
        }
    )


def simulate(rng, true_acc, n, labels):
    return [with_predictions(cand(f"m{i}", 0.0, 0.01 * 3**i, 10**i), rng.random(n) < p, labels) for i, p in enumerate(true_acc)]


def test_a_candidate_meets_only_when_its_lower_bound_does():
    labels = ["a", "b"] * 50
    rng = np.random.default_rng(0)
    correct = np.zeros(100, bool)
    correct[rng.choice(100, 84, replace=False)] = True  # 0.84 observed, Wilson lower bound ~0.755
    [c], _ = assess([with_predictions(cand("x", 0, 0.1, 5), correct, labels)], labels, ACC, threshold=0.80)
    assert c.quality == pytest.approx(0.84) and c.quality_ci[0] < 0.80 < c.quality_ci[1]
    assert c.verdict == "undecided" and c.samples_needed > 100
    r = rank([c], 0.80, "energy", "accuracy")
    assert r.decision == "undecided" and r.model is None and f"about {c.samples_needed} samples" in r.summary
    [c], _ = assess([c], labels, ACC, threshold=0.70)
    assert c.verdict == "meets"
    [c], _ = assess([c], labels, ACC, threshold=0.95)
    assert c.verdict == "fails"


def test_simulation_recommended_model_truly_meets_the_threshold_at_the_stated_rate():
    """Synthetic candidates with known true accuracy; 300 runs of 300 samples each."""
    true_acc = [0.70, 0.78, 0.80, 0.84, 0.92]  # the first three do not meet 0.80 (0.80 is on the line: not above)
    threshold, confidence, n, trials = 0.805, 0.95, 300, 300
    labels = ["a", "b"] * (n // 2)
    rng = np.random.default_rng(42)
    wrong = recommended = 0
    for _ in range(trials):
        cands, _ = assess(simulate(rng, true_acc, n, labels), labels, ACC, threshold, confidence)
        r = rank(cands, threshold, "energy", "accuracy")
        if r.model is not None:
            recommended += 1
            wrong += true_acc[int(r.model[1:])] < threshold
    assert recommended > trials * 0.8, "the good candidates are found most of the time"
    assert wrong / trials <= 1 - confidence, f"{wrong} of {trials} runs recommended a model below the threshold"


def test_max_drop_is_a_paired_decision_against_the_reference():
    n = 400
    labels = ["a", "b"] * (n // 2)
    rng = np.random.default_rng(1)
    ref_correct = rng.random(n) < 0.9
    near = ref_correct.copy()
    near[np.flatnonzero(ref_correct)[:4]] = False  # 1 point worse, same samples
    far = ref_correct.copy()
    far[np.flatnonzero(ref_correct)[:40]] = False  # 10 points worse
    pool = [
        with_predictions(cand("ref", 0, 1.0, 1000), ref_correct, labels),
        with_predictions(cand("near", 0, 0.1, 10), near, labels),
        with_predictions(cand("far", 0, 0.01, 1), far, labels),
    ]
    out, ref = assess(pool, labels, ACC, threshold=None, max_drop=0.03)
    by = {c.name: c for c in out}
    assert ref == "ref" and by["ref"].verdict == "meets"
    assert by["near"].verdict == "meets" and by["near"].vs_reference.difference == pytest.approx(-0.01)
    assert by["far"].verdict == "fails" and by["far"].vs_reference.mcnemar_p < 0.001
    assert rank(out, None, "energy", "accuracy").model == "near"


def test_savings_arithmetic():
    small, large = cand("s", 0.85, 0.1, 10), cand("l", 0.9, 1.0, 100)
    sv = savings(small, large, queries_per_day=1_000_000, country="FRA", price_per_kwh=0.25, advisor_energy_j=9000.0)
    kwh = 0.9 * 1_000_000 * 365 / 3.6e6
    assert sv.saved_per_query_j == pytest.approx(0.9) and sv.saved_share == pytest.approx(0.9)
    assert sv.saved_kwh_per_year == pytest.approx(kwh) and sv.saved_money_per_year == pytest.approx(kwh * 0.25)
    assert sv.saved_kg_co2e_per_year == pytest.approx(kwh * sv.carbon_intensity_g_per_kwh / 1000) and sv.carbon_intensity_g_per_kwh > 0
    assert sv.advisor_payback_days == pytest.approx(9000 / (0.9 * 1_000_000))
