"""Cascades with honest gates: routing, the held-out rule, three stages, and a simulation of the stated guarantee."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.core.cascades import (
    GATES,
    Stage,
    answers,
    best_cascade,
    cannot_gate,
    cheaper_than,
    choose,
    could_win,
    exact_lower_bound,
    route,
    split,
)
from advisor.core.metricspec import MetricSpec
from advisor.core.sentences import unfit
from tests.factories import candidate

ACC = MetricSpec(name="accuracy")


def acc_bound(delta: float):
    return lambda preds, labels: exact_lower_bound(sum(p == y for p, y in zip(preds, labels)), len(labels), delta)


def test_routing_at_the_boundary_all_defer_and_none_defer():
    conf = [np.array([0.5, 0.7, 0.7, 0.9])]
    assert route(conf, 0.7).tolist() == [1, 0, 0, 0]  # a confidence equal to the gate answers (ties included)
    assert route(conf, np.inf).tolist() == [1, 1, 1, 1]  # the first gate of the path: the last stage answers all
    assert route(conf, 0.0).tolist() == [0, 0, 0, 0]  # the last gate: the first stage answers all
    three = [np.array([0.9, 0.2, 0.2]), np.array([0.1, 0.95, 0.3])]
    assert route(three, 0.8).tolist() == [0, 1, 2]  # the first stage confident enough answers; the last takes the rest
    assert GATES[0] == np.inf and list(GATES[1:]) == sorted(GATES[1:], reverse=True)  # a path fixed in advance


def _world(rng, n, accuracies, certain_right=0.97):
    """Binary labels; each early stage's confidence is uniform on [0.5, 1] and it is right with that probability (calibrated),
    ``certain_right`` where it is most confident; the last stage is right with its own accuracy."""
    labels = rng.choice(["a", "b"], n)
    other = np.where(labels == "a", "b", "a")
    stages = []
    for i, acc in enumerate(accuracies):
        if i < len(accuracies) - 1:
            conf = rng.uniform(0.5, 1.0, n)
            right = rng.random(n) < np.minimum(conf, certain_right)
        else:
            conf, right = np.ones(n), rng.random(n) < acc
        stages.append(Stage(f"s{i}", np.where(right, labels, other).tolist(), conf.tolist(), float(10**i)))
    return stages, labels.tolist()


def test_the_gate_never_sees_the_samples_that_score_it():
    rng = np.random.default_rng(0)
    stages, labels = _world(rng, 400, [None, 0.95])
    got = choose(stages, labels, 0.85, acc_bound(0.05))
    cal, held = split(400)
    assert not set(cal) & set(held) and got.calibration == len(cal) and got.held_out == len(held)
    flipped = [("b" if y == "a" else "a") if i % 2 else y for i, y in enumerate(labels)]  # held-out labels changed
    again = choose(stages, flipped, 0.85, acc_bound(0.05))
    assert again.gate == got.gate and again.shares == got.shares  # the choice is the same: it never read them
    preds, who = answers(stages, held, got.gate)
    assert list(got.predictions) == preds and got.shares == tuple(float(np.mean(who == i)) for i in range(2))
    assert got.energy_j == pytest.approx(got.shares[0] * 1 + got.shares[1] * (1 + 10))  # a deferred query pays both


def test_nothing_certified_is_no_cascade():
    rng = np.random.default_rng(1)
    stages, labels = _world(rng, 400, [None, 0.8])
    assert choose(stages, labels, 0.9, acc_bound(0.05)) is None  # not even the last stage alone meets 0.9
    assert choose(stages[:1] + stages[1:], labels[:10], 0.5, acc_bound(0.05)) is None  # too few shared samples


@pytest.mark.slow
@pytest.mark.parametrize("accuracies", [[None, 0.94], [None, None, 0.94]], ids=["two stages", "three stages"])
def test_the_stated_lower_bound_holds_in_the_stated_share_of_worlds(accuracies):
    """Over many worlds, the chosen cascade's true accuracy (on a large fresh population) is below the threshold in at
    most delta of them; choosing the gate in-sample, by its point accuracy, fails far more often."""
    threshold, delta, worlds, n = 0.90, 0.05, 300, 600
    rng = np.random.default_rng(7)
    population, pop_labels = _world(rng, 200_000, accuracies)

    def true_accuracy(gate: float) -> float:
        preds, _ = answers(population, np.arange(len(pop_labels)), gate)
        return float(np.mean(np.asarray(preds) == np.asarray(pop_labels)))

    truth = {g: true_accuracy(g) for g in GATES}
    honest = naive = chosen = 0
    for _ in range(worlds):
        stages, labels = _world(rng, n, accuracies)
        got = choose(stages, labels, threshold, acc_bound(delta))
        if got is not None:
            chosen += 1
            honest += truth[got.gate] < threshold
        in_sample = [g for g in GATES if np.mean(np.asarray(answers(stages, np.arange(n), g)[0]) == np.asarray(labels)) >= threshold]
        naive += truth[min(in_sample)] < threshold if in_sample else 0
    assert chosen >= worlds * 0.5  # it does find cascades (about 80% of worlds here)
    print(f"chosen {chosen}, below the goal {honest} (honest) and {naive} (in-sample) of {worlds} worlds")
    assert honest / worlds <= delta, f"the bound failed in {honest} of {worlds} worlds"
    assert naive / worlds > 3 * delta  # the test can fail: an in-sample gate breaks the promise


def test_the_best_cascade_of_a_run_is_certified_and_cheaper():
    rng = np.random.default_rng(3)
    stages, labels = _world(rng, 800, [None, None, 0.96])
    small, mid, large = (
        candidate(s.name, energy_j=s.energy_j, quality=0.9, predictions=s.predictions, probabilities=s.confidence) for s in stages
    )
    c = best_cascade([small, mid, large], large, labels, ACC, 0.9, 0.95, 0)
    assert c is not None and c.large == "s2" and c.stages[-1] == "s2" and c.energy_per_query_j < large.energy.per_query_j
    assert c.samples_calibration == c.samples_held_out == 400 and sum(c.shares) == pytest.approx(1)
    assert c.certified_at == pytest.approx(1 - 0.05 / 3)  # two cheaper models: 2 alone + 1 pair, Bonferroni over 3
    assert c.quality_ci[0] <= c.quality <= c.quality_ci[1]
    shorter = small.model_copy(update={"predictions": small.predictions[:300], "probabilities": small.probabilities[:300]})
    nested = best_cascade([shorter, large], large, labels, ACC, 0.9, 0.95, 0)  # measured on a prefix: the shared 300 count
    assert nested is None or nested.samples_calibration + nested.samples_held_out == 300
    assert best_cascade([small, large], large, labels, ACC, 0.999, 0.95, 0) is None


def test_a_stage_that_cannot_gate_is_left_out_and_says_why():
    rng = np.random.default_rng(3)
    stages, labels = _world(rng, 800, [None, None, 0.96])
    small, mid, large = (
        candidate(s.name, energy_j=s.energy_j, quality=0.9, predictions=s.predictions, probabilities=s.confidence) for s in stages
    )
    names = sorted(set(labels))
    assert cannot_gate(small, names) is None
    flat = small.model_copy(update={"probabilities": [1.0] * len(labels)})
    assert cannot_gate(flat, names).case == "constant_confidence" and "same confidence (1)" in unfit(cannot_gate(flat, names))
    assert unfit(cannot_gate(small.model_copy(update={"probabilities": None}), names)) == "gives no confidence score"
    other = small.model_copy(update={"predictions": ["LABEL_0"] * len(labels)})
    assert cannot_gate(other, names).detail == "LABEL_0" and "labels the task does not have (LABEL_0)" in unfit(cannot_gate(other, names))
    got = best_cascade([flat, other, large], large, labels, ACC, 0.9, 0.95, 0, label_names=names)
    assert got is None  # neither cheap model may gate, so no cascade at all
    assert [c.name for c in cheaper_than([mid, small, large], large)] == ["s0", "s1"]


def test_more_samples_are_wanted_only_where_they_could_certify():
    rng = np.random.default_rng(5)
    stages, labels = _world(rng, 200, [None, 0.99], certain_right=0.995)
    small, large = (
        candidate(s.name, energy_j=s.energy_j, quality=0.9, predictions=s.predictions, probabilities=s.confidence) for s in stages
    )
    assert could_win([small, large], large, labels, ACC, 0.95, reach=4000) == ("s0", "s1")
    assert could_win([small, large], large, labels, ACC, 0.95, reach=200) is None  # half of 200 cannot certify 0.95
    assert could_win([small, large], large, labels, ACC, 0.999, reach=4000) is None  # the point quality is below the goal
