"""A cascade measured as one pipeline: it routes as the computed cascade does, ranks by its measured energy, can be the
recommendation, exports as one package that routes by the gate, and is checked as a deployed model."""

from __future__ import annotations

import json
import random
import time

import numpy as np
import pytest

import advisor
from advisor.core.cascades import Stage, answers
from advisor.outputs.text import cascade_line
from advisor.runners import Prediction
from advisor.runners.cascade import Pipeline
from advisor.spec.package import PackageError
from advisor.spec.settings import Settings
from tests.conftest import FAST, tfidf_registry_yaml, write_task


class Table:
    """A runner whose answer and confidence per text are fixed in advance."""

    def __init__(self, answers: dict[str, tuple[str, float]]):
        self.answers, self.calls = answers, []

    def predict(self, texts):
        self.calls.append(list(texts))
        got = [self.answers[t] for t in texts]
        return Prediction([a for a, _ in got], np.array([c for _, c in got]))

    def close(self):
        pass


def _three_stages(n: int = 40, seed: int = 3):
    rng = np.random.default_rng(seed)
    texts = [f"t{i}" for i in range(n)]
    tables, stages = [], []
    for k in range(3):
        labels = rng.choice(["a", "b", "c"], n)
        conf = np.round(rng.choice([0.5, 0.6, 0.7, 0.8, 0.9, 1.0], n), 2)  # ties with the gates on purpose
        tables.append(Table({t: (str(y), float(c)) for t, y, c in zip(texts, labels, conf)}))
        stages.append(Stage(f"s{k}", [str(y) for y in labels], conf.tolist(), 0.1 * (k + 1)))
    return texts, tables, stages


@pytest.mark.parametrize("gate", [np.inf, 1.0, 0.8, 0.7, 0.5, 0.0])
@pytest.mark.parametrize("batch", [1, 3, 7, 64])
def test_the_pipeline_answers_as_the_computed_cascade_on_fixed_inputs(gate, batch):
    texts, tables, stages = _three_stages()
    pipe = Pipeline(tables, gate)
    got = Prediction.concat([pipe.predict(texts[i : i + batch]) for i in range(0, len(texts), batch)])
    expected, who = answers(stages, np.arange(len(texts)), gate)
    assert got.labels == expected
    assert pipe.answered.tolist() == np.bincount(who, minlength=3).tolist()
    assert sum(pipe.shares()) == pytest.approx(1.0)
    # a query goes on only when the stage before did not answer it: later stages see only what was deferred
    asked_second = {t for call in tables[1].calls for t in call}
    assert asked_second == {t for t, w in zip(texts, who) if w >= 1}


def test_all_defer_and_none_defer():
    texts, tables, stages = _three_stages()
    assert Pipeline(tables, np.inf).predict(texts).labels == list(stages[-1].predictions)
    none = Pipeline(tables, 0.0)
    assert none.predict(texts).labels == list(stages[0].predictions) and none.answered.tolist() == [len(texts), 0, 0]


# -- a whole run whose cheap stage answers the easy half ------------------------------------------------------------


def _rows(n: int = 240, seed: int = 0) -> list[dict]:
    """Easy rows carry one frequent decisive word; hard rows a rarer word that only a large vocabulary keeps."""
    rng = random.Random(seed)
    hard = {"pos": [f"zq{i}" for i in range(8)], "neg": [f"zr{i}" for i in range(8)]}
    out = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = [("great" if label == "pos" else "awful")] * 2 + ["plot"] if i % 4 < 2 else [rng.choice(hard[label]), "plot", "story"]
        rng.shuffle(words)
        out.append({"text": " ".join(words), "label": label})
    return out


REGISTRY = tfidf_registry_yaml(small="{max_features: 3, ngram_max: 1}", large="{max_features: 5000, ngram_max: 1}")


@pytest.fixture(scope="module")
def slow_large():
    """tfidf-large made costlier per query (it sleeps), so that a cascade can save energy under the fake meter."""
    from advisor.runners.tfidf import TfidfLogReg

    real = TfidfLogReg.predict

    def predict(self, texts):
        if self.spec.name == "tfidf-large":
            time.sleep(0.002 * len(texts))
        return real(self, texts)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TfidfLogReg, "predict", predict)
        yield


@pytest.fixture(scope="module")
def cascade_run(tmp_path_factory, slow_large):
    tmp = tmp_path_factory.mktemp("cascade")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_CACHE", str(tmp / "cache"))
        mp.setenv("ADVISOR_TEST_METER", "fake")
        task = write_task(tmp / "task", _rows(320), threshold=0.8, sample={"seed": 1, "size": 200})
        reg = tmp / "registry.yaml"
        reg.write_text(REGISTRY, encoding="utf-8")
        rec = advisor.recommend(task=task, registry=reg, settings=Settings(reports_dir=tmp / "reports", **FAST))
        yield tmp, task, reg, rec


def test_the_cascade_is_measured_as_one_pipeline_and_ranked(cascade_run):
    tmp, _, _, rec = cascade_run
    c = rec.cascade
    assert c is not None and c.candidate == "tfidf-small+tfidf-large"
    row = rec.candidate(c.candidate)
    assert row.kind == "cascade" and row.status == "ok" and row.energy.source == "windows"
    assert len(row.energy.repeats_per_query_j) == FAST["repeats"]
    assert c.measured_energy_per_query_j == row.energy.per_query_j  # only the measurement ranks
    assert row.cascade.computed_per_query_j == c.energy_per_query_j
    assert sum(row.cascade.window_shares) == pytest.approx(1.0)
    assert row.cascade.queries_from == "fresh rows" and row.cascade.window_texts == 120  # 320 rows, 200 samples
    assert row.latency_p50_ms > 0 and row.parameters == sum(rec.candidate(s).parameters for s in c.stages)
    assert row.quality == c.quality and row.samples_evaluated == c.samples_held_out
    large = rec.candidate("tfidf-large")
    if row.verdict == "meets" and row.energy_per_query_j < large.energy_per_query_j:
        assert rec.model == row.name and "the largest candidate that also meets it" in rec.summary
    assert "measured as one pipeline" in cascade_line(rec)
    saved = advisor.Recommendation.load(tmp / "reports" / rec.run_id / "results.json")
    assert saved.cascade == rec.cascade and saved.candidate(row.name).cascade == row.cascade
    assert rec.search.looks[-1].measured == [row.name]


def test_a_second_run_reuses_the_cascade_measurement(cascade_run):
    tmp, task, reg, rec = cascade_run
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_CACHE", str(tmp / "cache"))
        again = advisor.recommend(task=task, registry=reg, settings=Settings(reports_dir=tmp / "reports", **FAST))
    row = again.candidate(rec.cascade.candidate)
    assert row.reused_from is not None and row.reused_from.run_id == rec.run_id
    assert row.energy == rec.candidate(row.name).energy


def test_cascades_off_measure_none(cascade_run):
    tmp, task, reg, _ = cascade_run
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_CACHE", str(tmp / "cache"))
        rec = advisor.recommend(task=task, registry=reg, settings=Settings(reports_dir=tmp / "reports", cascade="off", **FAST))
    assert rec.cascade is None and all(c.kind != "cascade" for c in rec.candidates)
    assert "off" in (rec.no_cascade or "")


@pytest.mark.slow
def test_the_cascade_exports_as_one_package_that_routes_by_the_gate(cascade_run, tmp_path):
    tmp, task, reg, rec = cascade_run
    done = advisor.export(rec, tmp_path / "pkg", candidate=rec.cascade.candidate)
    assert done.verification["ok"] and done.verification["parity"]["checked"]
    manifest = json.loads((tmp_path / "pkg" / "advisor-package.json").read_text())
    assert manifest["entry"]["kind"] == "cascade" and manifest["entry"]["gate"] == rec.cascade.gate
    texts = [r["text"] for r in _rows(40, seed=9)]
    with advisor.load(tmp_path / "pkg") as model, advisor.load(tmp_path / "pkg" / "stages" / "0") as small:
        with advisor.load(tmp_path / "pkg" / "stages" / "1") as large:
            got, conf = model.predict_with_confidence(texts)
            s_lab, s_conf = small.predict_with_confidence(texts)
            l_lab, _ = large.predict_with_confidence(texts)
            expected = [a if c >= rec.cascade.gate else b for a, c, b in zip(s_lab, s_conf, l_lab)]
            assert got == expected
            proba = model.predict_proba(texts)
            assert [model.classes[i] for i in proba.argmax(axis=1)] == got
    card = (tmp_path / "pkg" / "README.md").read_text()
    assert "A cascade" in card and "stages/0/" in card
    (tmp_path / "pkg" / "stages" / "1" / "model" / "fitted.joblib").write_bytes(b"changed")
    with pytest.raises(PackageError, match="changed after export"):
        advisor.load(tmp_path / "pkg")


@pytest.mark.slow
def test_a_deployed_cascade_package_is_checked_like_any_model(cascade_run, tmp_path):
    tmp, task, reg, rec = cascade_run
    advisor.export(rec, tmp_path / "pkg", candidate=rec.cascade.candidate)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_CACHE", str(tmp / "cache"))
        got = advisor.check(task, deployed=str(tmp_path / "pkg"), registry=reg, settings=Settings(reports_dir=tmp_path / "r", **FAST))
    row = next(c for c in advisor.Recommendation.load(got.results).candidates if c.kind == "cascade-package")
    assert row.status == "ok" and row.quality is not None and row.details["stages"] == 2


def test_the_report_draws_the_cascade_and_says_what_it_saves(cascade_run):
    from advisor.outputs.report import render_html, render_markdown

    _, _, _, rec = cascade_run
    html = render_html(rec)
    assert "cascade (measured) and its stages" in html and rec.cascade.candidate in html
    assert "measured as one pipeline" in render_markdown(rec)


@pytest.mark.slow
def test_more_samples_are_drawn_when_a_cascade_could_win_but_is_undecided(slow_large, tmp_path):
    # 100 first samples: an exact bound on 50 calibration samples cannot certify 0.95 even when all are right, so the
    # cascade that answers half the queries with the cheap model is undecided until its stages see more rows
    task = write_task(tmp_path / "task", _rows(800), threshold=0.95)
    reg = tmp_path / "registry.yaml"
    reg.write_text(REGISTRY, encoding="utf-8")
    rec = advisor.recommend(task=task, registry=reg, settings=Settings(reports_dir=tmp_path / "reports", **FAST))
    sizes = {(lk.measured[0], lk.samples) for lk in rec.search.looks}
    first = rec.search.planned_samples[0]
    assert {("tfidf-small", first), ("tfidf-large", first)} <= sizes
    grown = {n for n, size in sizes if size > first}
    assert {"tfidf-small", "tfidf-large"} <= grown
    assert rec.cascade is not None and rec.cascade.samples_calibration > first // 2
    capped = advisor.recommend(task=task, registry=reg, settings=Settings(reports_dir=tmp_path / "reports", max_samples=first, **FAST))
    assert capped.cascade is None and all(lk.samples == first for lk in capped.search.looks)  # nothing drawn in vain:
    assert not any(lk.for_cascade for lk in capped.search.looks)  # on half of 100 rows no bound could certify 0.95
    assert "is certified to meet the goal" in capped.no_cascade
