"""Metrics against values computed by hand, through evaluate's own Metric API, and the registry they come from."""

from __future__ import annotations

import subprocess
import sys

import evaluate
import pytest

from advisor.core.metrics import TaskMetric, build_metric, score
from advisor.core.scores import METRICS, Scorer, metric_def
from advisor.errors import SpecError
from advisor.spec.schema import CLASSIFICATION_METRICS, GENERATIVE_METRICS, MetricSpec, TaskSpec, parse

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


def test_generative_metrics_by_hand():
    preds, refs = ["The Paris", "blue whale", "no"], ["paris", "the blue whale", "yes"]
    assert score(MetricSpec(name="exact_match"), preds, refs) == pytest.approx(2 / 3)  # articles and case are normalised away
    assert score(MetricSpec(name="token_f1"), preds, refs) == pytest.approx(2 / 3)
    assert score(MetricSpec(name="rouge1"), ["the cat sat"], ["the cat sat down"]) == pytest.approx(2 * 1 * 0.75 / 1.75)


def test_no_samples_score_zero_and_unpaired_lengths_are_refused():
    assert Scorer.named("macro_f1")([], []) == 0.0 and Scorer.named("token_f1")([], []) == 0.0
    with pytest.raises(ValueError, match="must pair up"):
        Scorer.named("accuracy")(["a"], ["a", "b"])


def test_metrics_are_evaluate_metrics_and_say_higher_is_better():
    for name in METRICS:
        m = build_metric(MetricSpec(name=name, positive_label="spam" if name == "f1" else None))
        assert isinstance(m, evaluate.Metric) and isinstance(m, TaskMetric) and m.higher_is_better and m.key == name
        assert m.info.description == METRICS[name].description
    metric = build_metric(MetricSpec(name="accuracy"))
    for p, r in zip(PREDS, REFS):
        metric.add(prediction=p, reference=r)
    assert metric.compute()["accuracy"] == pytest.approx(5 / 8)


def test_combine_works_offline():
    combined = evaluate.combine([build_metric(MetricSpec(name="accuracy")), build_metric(MetricSpec(name="macro_f1"))])
    out = combined.compute(predictions=PREDS, references=REFS)
    assert out["accuracy"] == pytest.approx(5 / 8) and out["macro_f1"] == pytest.approx((4 / 7 + 6 / 9) / 2)


# --- the registry is the one source of names, labels and errors -------------------------------------------


def test_schema_names_are_the_registry_names():
    assert set(CLASSIFICATION_METRICS) | set(GENERATIVE_METRICS) == set(METRICS)
    assert all(METRICS[n].kind == "classification" for n in CLASSIFICATION_METRICS)
    assert all(METRICS[n].generative for n in GENERATIVE_METRICS)
    assert MetricSpec.model_json_schema()["properties"]["name"]["enum"] == list(METRICS)
    assert MetricSpec(name="f1", positive_label="spam").describe() == "F1 of 'spam'"
    assert [MetricSpec(name=n).describe() for n in ("macro_f1", "rougeL")] == ["macro-F1", "ROUGE-L"]
    assert {n for n, d in METRICS.items() if d.interval == "wilson"} == {"accuracy"}


def test_an_unknown_metric_names_the_file_suggests_and_lists_the_registry():
    with pytest.raises(SpecError) as err:
        parse(MetricSpec, {"name": "macro-f1"}, "tasks/x/task.yaml", "metric")
    assert str(err.value) == (
        f"tasks/x/task.yaml: metric.name: unknown metric 'macro-f1' (did you mean 'macro_f1'?). Available: {', '.join(METRICS)}"
    )
    with pytest.raises(SpecError, match=r"metric.name: unknown metric 'bleu'\. Available: accuracy, macro_f1, f1, exact_match"):
        parse(
            TaskSpec,
            {"name": "t", "type": "text-classification", "data": {"file": "d.csv"}, "metric": {"name": "bleu"}, "threshold": 0.8},
            "task.yaml",
        )
    with pytest.raises(KeyError, match="unknown metric 'acuracy' \\(did you mean 'accuracy'\\?\\)"):
        metric_def("acuracy")


def test_positive_label_rules_come_from_the_registry():
    with pytest.raises(SpecError, match="metric 'f1' needs 'positive_label'"):
        parse(MetricSpec, {"name": "f1"}, None)
    with pytest.raises(SpecError, match="'positive_label' only applies to metric 'f1', not 'accuracy'"):
        parse(MetricSpec, {"name": "accuracy", "positive_label": "spam"}, None)


def test_the_registry_imports_nothing_heavy():
    code = (
        "import sys, advisor.spec.schema, advisor.core.scores; "
        "print(sorted(m for m in ('numpy', 'scipy', 'evaluate', 'datasets', 'sklearn', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
