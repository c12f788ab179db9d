"""Distillation: a teacher labels unlabelled texts, a student learns them, and is measured beside both."""

from __future__ import annotations

import json

import pytest

import tests.tiny_models as tm
from advisor import Settings
from advisor.distill import distill
from advisor.errors import AdvisorError, SpecError
from advisor.spec.registry import load_registry
from tests.conftest import FAST as _FAST
from tests.conftest import toy_rows

FAST = {**_FAST, "repeats": 1, "latency_queries": 2}


def _unlabelled(tmp_path, n=200):
    path = tmp_path / "unlabelled.jsonl"
    path.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in toy_rows(n, seed=5)))
    return path


def _registry(tmp_path, encoder):
    path = tmp_path / "registry.yaml"
    path.write_text(f"""
version: 1
candidates:
  - {{name: teacher, tier: large, kind: tfidf-logreg, backend: sklearn, task_types: [text-classification], license: MIT,
     options: {{max_features: 5000, ngram_max: 2}}}}
  - {{name: tiny-student, tier: small, kind: tfidf-logreg, backend: sklearn, task_types: [text-classification], license: MIT,
     options: {{max_features: 30, ngram_max: 1}}}}
  - {{name: enc-student, tier: small, kind: encoder-head, backend: sentence-transformers, source: {{local: {encoder}}},
     task_types: [text-classification], license: MIT}}
  - {{name: tuned-student, tier: small, kind: encoder-finetuned, backend: sentence-transformers, source: {{local: {encoder}}},
     task_types: [text-classification], license: MIT, options: {{pairs: 32, pair_batch_size: 8}}}}
  - {{name: static-student, tier: small, kind: static-head, backend: model2vec, source: {{local: {encoder}}},
     task_types: [text-classification], license: MIT, options: {{dims: null}}}}
""")
    return path


@pytest.fixture
def reg(tmp_path):
    return _registry(tmp_path, tm.make_bert_encoder(tmp_path / "enc"))


@pytest.mark.slow
@pytest.mark.parametrize("student", ["tiny-student", "enc-student", "tuned-student", "static-student"])
def test_a_student_learns_the_teachers_labels_and_is_measured_beside_it(tmp_path, toy_task, reg, student):
    rec, lineage = distill(
        toy_task,
        "teacher",
        student,
        registry=reg,
        unlabelled=_unlabelled(tmp_path),
        out=tmp_path / "out",
        settings=Settings(reports_dir=tmp_path / "r", min_quality=0.5, **FAST),
    )
    name = f"{student} distilled from teacher"
    assert [c.name for c in rec.candidates if c.status == "ok"].count(name) == 1
    d = rec.candidate(name)
    assert d.tier == "distilled" and len(d.predictions) == rec.task.samples
    assert d.fit is None, "the distilled student is frozen: scored on the samples, never fitted on their labels"
    assert lineage["texts"] == 200 and lineage["teacher_fitted_on_task_samples"] and "fresh samples" in lineage["caveat"]
    assert 0 <= rec.distillation.agreement <= 1 and rec.distillation.energy_ratio > 0
    assert f"agrees with the teacher on {rec.distillation.agreement:.0%}" in rec.distillation.note
    folder = tmp_path / "out" / name.replace(" ", "_")
    saved = json.loads((folder / "lineage.json").read_text())
    assert saved["teacher"] == "teacher" and saved["cost"]["energy_j"] > 0  # the making, metered in its own phase
    mk = d.making  # the same Making as every bespoke model: parent, method, the metered step and its payback
    assert mk is not None and mk.parent == student and mk.method == "distilled from teacher's labels"
    assert mk.steps[0].earlier and mk.steps[0].energy_j == saved["cost"]["energy_j"] and mk.payback_note
    # the saved entry is a registry of its own: it loads and names its origin
    again = load_registry(folder / "registry.yaml")
    assert again.candidates[0].derived_from == student and again.candidates[0].options["fitted"].endswith("state.joblib")
    if student == "tuned-student":  # deployed as a frozen encoder: the body fine-tuned on the teacher's labels, saved beside the head
        assert again.candidates[0].kind == "encoder-head" and again.candidates[0].source.local == str((folder / "body").resolve())
    if student == "static-student":  # the static vectors (distilled once, cached) copied beside the head learned from the teacher
        assert again.candidates[0].kind == "static-head" and again.candidates[0].source.local == str((folder / "vectors").resolve())
    assert "Distilled" in (tmp_path / "r" / rec.run_id / "report.md").read_text()


def test_clear_errors(tmp_path, toy_task, reg):
    s = Settings(reports_dir=tmp_path / "r", **FAST)
    with pytest.raises(SpecError, match="did you mean 'teacher'"):
        distill(toy_task, "teachr", "tiny-student", registry=reg, unlabelled=_unlabelled(tmp_path), settings=s)
    with pytest.raises(AdvisorError, match="only 0 unlabelled texts"):  # the toy task uses every row as a sample
        distill(toy_task, "teacher", "tiny-student", registry=reg, settings=s)
    with pytest.raises(AdvisorError, match="no column 'body'"):
        distill(toy_task, "teacher", "tiny-student", registry=reg, unlabelled=_unlabelled(tmp_path), text_field="body", settings=s)


def test_a_failed_distillation_leaves_the_previous_one_whole(tmp_path, toy_task, reg, monkeypatch):
    from advisor.runners.tfidf import TfidfLogReg

    s = Settings(reports_dir=tmp_path / "r", min_quality=0.5, **FAST)
    distill(toy_task, "teacher", "tiny-student", registry=reg, unlabelled=_unlabelled(tmp_path), out=tmp_path / "out", settings=s)
    folder = tmp_path / "out" / "tiny-student_distilled_from_teacher"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    calls = []

    def fit_then_fail(self, texts, labels):
        calls.append(len(texts))
        if len(texts) == 200:  # the student's training on the teacher's labels (the teacher fits on the samples)
            raise RuntimeError("killed mid-training")
        return real_fit(self, texts, labels)

    real_fit = TfidfLogReg.fit
    monkeypatch.setattr(TfidfLogReg, "fit", fit_then_fail)
    with pytest.raises(RuntimeError, match="mid-training"):
        distill(toy_task, "teacher", "tiny-student", registry=reg, unlabelled=_unlabelled(tmp_path), out=tmp_path / "out", settings=s)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [folder.name], "no half-made folder is left beside it"
