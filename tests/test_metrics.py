"""Metrics against values computed by hand, and through evaluate's own Metric API."""

from __future__ import annotations

import evaluate
import pytest

from advisor.metrics import Accuracy, MacroF1, PositiveF1, build_metric, score
from advisor.schema import MetricSpec

REFS = ["spam", "ham", "ham", "spam", "ham", "ham", "spam", "ham"]
PREDS = ["spam", "ham", "spam", "ham", "ham", "ham", "spam", "spam"]
# spam: tp=2 fp=2 fn=1 -> F1 = 4/7 ; ham: tp=3 fp=1 fn=2 -> F1 = 6/9 ; accuracy 5/8


def test_accuracy_by_hand():
    assert score(MetricSpec(name="accuracy"), PREDS, REFS) == pytest.approx(5 / 8)


def test_positive_f1_by_hand():
    assert score(MetricSpec(name="f1", positive_label="spam"), PREDS, REFS) == pytest.approx(4 / 7)
    assert score(MetricSpec(name="f1", positive_label="ham"), PREDS, REFS) == pytest.approx(6 / 9)


def test_macro_f1_by_hand():
    assert score(MetricSpec(name="macro_f1"), PREDS, REFS) == pytest.approx((4 / 7 + 6 / 9) / 2)


def test_f1_of_a_class_never_predicted_is_zero():
    assert score(MetricSpec(name="f1", positive_label="spam"), ["ham"] * 4, ["spam", "ham", "ham", "ham"]) == 0.0


def test_macro_f1_counts_a_predicted_but_absent_class():
    # "c" is predicted once but never true: its F1 is 0 and it lowers the mean
    assert score(MetricSpec(name="macro_f1"), ["a", "b", "c"], ["a", "b", "b"]) == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_metrics_are_evaluate_metrics_and_say_higher_is_better():
    for m in (Accuracy(), MacroF1(), PositiveF1("spam")):
        assert isinstance(m, evaluate.Metric) and m.higher_is_better
    metric = build_metric(MetricSpec(name="accuracy"))
    for p, r in zip(PREDS, REFS):
        metric.add(prediction=p, reference=r)
    assert metric.compute()["accuracy"] == pytest.approx(5 / 8)


def test_combine_works_offline():
    combined = evaluate.combine([Accuracy(), MacroF1()])
    out = combined.compute(predictions=PREDS, references=REFS)
    assert out["accuracy"] == pytest.approx(5 / 8) and out["macro_f1"] == pytest.approx((4 / 7 + 6 / 9) / 2)
