"""Bespoke candidates made on the task's samples: a SetFit-fine-tuned encoder and static embeddings distilled from one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import advisor
import tests.tiny_models as tm
from advisor import Settings
from advisor.core.results import CandidateResult, Making, Recommendation
from advisor.errors import SpecError
from advisor.runners import RunContext
from advisor.runners.finetune import FineTunedEncoder
from advisor.spec.registry import load_registry
from advisor.spec.schema import CandidateSpec, PromptSpec
from tests.conftest import FAST as _FAST
from tests.conftest import toy_rows, write_task
from tests.factories import candidate, energy

FAST = {**_FAST, "latency_queries": 2}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    return tm.make_bert_encoder(tmp_path_factory.mktemp("enc") / "enc")


def _runner(encoder: Path, seed: int = 0, **options) -> FineTunedEncoder:
    spec = CandidateSpec(
        name="enc [fine-tuned]",
        tier="small",
        kind="encoder-finetuned",
        backend="sentence-transformers",
        source={"local": str(encoder)},
        task_types=["text-classification"],
        license="MIT",
        options={"pairs": 32, "pair_batch_size": 8, **options},
        derived_from="enc",
    )
    runner = FineTunedEncoder(spec, encoder, RunContext(label_names=["neg", "pos"], prompt=PromptSpec(), seed=seed))
    runner.load()
    return runner


def _data(n: int = 30) -> tuple[list[str], list[str]]:
    rows = {r["text"]: r["label"] for r in toy_rows(200, seed=3)}  # unique texts: a leak would be visible
    texts = list(rows)[:n]
    return texts, [rows[t] for t in texts]


def _registry(tmp_path: Path, encoder: Path, variants: str = "[static]", kind: str = "encoder-head", tuned: bool = True) -> Path:
    """``enc`` with ``variants``, and (``tuned``) a fine-tuned entry of its own, written out to train on few pairs."""
    path = tmp_path / "registry.yaml"
    source = "" if kind == "tfidf-logreg" else f"source: {{local: {encoder}}}, "
    backend = {"tfidf-logreg": "sklearn", "encoder-head": "sentence-transformers"}[kind]
    extra = f"""
  - {{name: "enc [fine-tuned]", tier: small, kind: encoder-finetuned, backend: sentence-transformers, source: {{local: {encoder}}},
     task_types: [text-classification], license: MIT, derived_from: enc, options: {{pairs: 32, pair_batch_size: 8}}}}
"""
    path.write_text(f"""
version: 1
candidates:
  - {{name: enc, tier: small, kind: {kind}, backend: {backend}, {source}task_types: [text-classification], license: MIT,
     variants: {variants}, options: {{}}}}
{extra if tuned else ""}""")
    return path


def test_each_fold_is_fine_tuned_without_its_held_out_samples(encoder):
    from sklearn.model_selection import StratifiedKFold

    texts, labels = _data()
    runner = _runner(encoder)
    runner.cross_fit(texts, labels, folds=3, seed=7)
    folds = list(StratifiedKFold(n_splits=3, shuffle=True, random_state=7).split(texts, labels))
    assert len(runner.trained_on) == 3  # one fine-tuning per fold, each from a fresh copy of the parent
    for seen, (train, test) in zip(runner.trained_on, folds):
        held_out = {texts[i] for i in test}
        assert not held_out & set(seen), "a fold's model saw one of its held-out samples"
        assert sorted(seen) == sorted(texts[i] for i in train)
    assert runner.model is runner._parent  # the parent itself is never trained


def test_fine_tuning_is_seeded_and_changes_the_body(encoder):
    texts, labels = _data()
    a, b, c = _runner(encoder, seed=1), _runner(encoder, seed=1), _runner(encoder, seed=2)
    body_a, body_b, body_c = (r.fine_tune(texts, labels) for r in (a, b, c))
    probe = ["good movie", "bad film"]
    ea, eb, ec = (body.encode(probe) for body in (body_a, body_b, body_c))
    np.testing.assert_allclose(ea, eb, rtol=0, atol=1e-6)  # same seed, same pairs, same weights
    assert not np.allclose(ea, a._parent.encode(probe), atol=1e-6)  # it really trained
    assert not np.allclose(ea, ec, atol=1e-6)  # another seed draws other pairs


def test_the_deployed_model_is_cached_with_its_lineage_and_reused(encoder, tmp_path):
    texts, labels = _data()
    first = _runner(encoder)
    first.fit(texts, labels)
    made = first.made()
    folder = Path(made.path)
    assert made.earlier is None and (folder / "body").is_dir() and (folder / "head.joblib").is_file()
    facts = json.loads((folder / "lineage.json").read_text())
    assert facts["parent"] == "enc" and facts["seed"] == 0 and "SetFit" in facts["method"]
    expected = first.predict(texts[:5]).labels
    again = _runner(encoder)
    again.fit(texts, labels)
    assert again.trained_on == [] and again.made().earlier["samples"] == facts["samples"]  # nothing trained twice
    assert again.predict(texts[:5]).labels == expected
    other = _runner(encoder)
    other.fit(texts[:-1], labels[:-1])  # other samples: another model
    assert Path(other.made().path) != folder and len(other.trained_on) == 1


def test_an_interrupted_fine_tune_leaves_nothing_a_later_run_would_reuse(encoder, monkeypatch):
    import joblib

    texts, labels = _data()
    runner = _runner(encoder)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(joblib, "dump", interrupted)
        runner.fit(texts, labels)
    from advisor.paths import cache_dir

    made = cache_dir() / "made" / "fine-tuned"
    assert list(made.iterdir()) == []  # neither a final folder nor a temporary one
    later = _runner(encoder)
    later.fit(texts, labels)
    assert later.made().earlier is None and len(later.trained_on) == 1  # made again, from scratch


@pytest.mark.slow
def test_bespoke_variants_are_measured_with_lineage_and_making_cost(encoder, tmp_path):
    reg = load_registry(_registry(tmp_path, encoder))
    by = {c.name: c for c in reg.candidates}
    assert by["enc [static]"].kind == "static-head" and by["enc [static]"].derived_from == "enc"
    expanded = load_registry(_registry(tmp_path, encoder, "[fine-tuned]", tuned=False)).candidates[1]
    assert (expanded.name, expanded.kind, expanded.derived_from) == ("enc [fine-tuned]", "encoder-finetuned", "enc")
    task = write_task(tmp_path / "toy")
    settings = Settings(reports_dir=tmp_path / "r", min_quality=0.5, exhaustive=True, **FAST)
    rec = advisor.recommend(task=task, registry=reg, settings=settings)
    got = {c.name: c for c in rec.candidates}
    assert all(c.status == "ok" for c in got.values()), [c.reason for c in got.values()]
    saved = Recommendation.load(tmp_path / "r" / rec.run_id / "results.json")
    for name, step in (("enc [fine-tuned]", "fine-tune"), ("enc [static]", "distil")):
        c = saved.candidate(name)
        assert c.derived_from == "enc" and c.making.parent == "enc"
        assert c.making.steps[0].what.startswith(step) and c.making.energy_j > 0 and c.making.duration_s > 0
        assert json.loads((Path(c.making.path) / "lineage.json").read_text())["cost"]["energy_j"] == pytest.approx(
            c.making.steps[0].energy_j
        )
        assert c.phases["train"].duration_s > 0  # the deployed model's training, metered apart from cross-fitting
    assert saved.candidate("enc").making is None and saved.candidate("enc").derived_from is None
    md = (tmp_path / "r" / rec.run_id / "report.md").read_text()
    assert "\\[static\\], from enc: distilled to static token embeddings (model2vec, 16 dimensions)" in md
    # a second run on the same samples reuses the distilled vectors: the step is marked as an earlier run's
    rec2 = advisor.recommend(task=task, registry=reg, settings=settings.model_copy(update={"fresh": True}))
    static = rec2.candidate("enc [static]").making
    assert static.steps[0].earlier and static.steps[0].energy_j == pytest.approx(saved.candidate("enc [static]").making.steps[0].energy_j)


@pytest.mark.slow
def test_fine_tuning_is_tried_only_when_the_frozen_parent_is_near_the_goal(encoder, tmp_path):
    reg = load_registry(_registry(tmp_path, encoder, "[]"))
    task = write_task(tmp_path / "toy")
    rec = advisor.recommend(task=task, registry=reg, settings=Settings(reports_dir=tmp_path / "r", min_quality=0.99, **FAST))
    parent, tuned = rec.candidate("enc"), rec.candidate("enc [fine-tuned]")
    assert parent.status == "ok" and 0.99 - parent.quality > 0.10
    assert tuned.status == "pruned" and "within 0.1 of the goal (--finetune-within)" in tuned.reason
    assert tuned.pruned_by == "enc" and tuned.pruned_as == "parent_too_far"
    assert rec.search.order.index("enc") < rec.search.order.index("enc [fine-tuned]")  # trained after its frozen parent
    wide = Settings(reports_dir=tmp_path / "r", min_quality=0.99, finetune_within=1.0, **FAST)
    assert advisor.recommend(task=task, registry=reg, settings=wide).candidate("enc [fine-tuned]").status == "ok"


@pytest.mark.parametrize("variant", ["fine-tuned", "static"])
def test_a_variant_asked_of_a_candidate_that_cannot_take_it_is_one_clear_line(tmp_path, variant):
    with pytest.raises(SpecError) as err:
        load_registry(_registry(tmp_path, tmp_path, f"[{variant}]", kind="tfidf-logreg", tuned=False))
    text = str(err.value)
    assert "\n" not in text and f"variants ({variant}) are derived from PyTorch sentence encoders" in text
    assert "candidates[0].variants" in text and "tfidf-logreg/sklearn" in text


def _result(
    name: str, j: float, ci: list[float] | None = None, making: Making | None = None, kind: str = "encoder-head", **kw
) -> CandidateResult:
    e = energy(j, ci=ci, window_queries=1)
    return candidate(name, quality=0.9, energy=e, tier="s", kind=kind, backend="b", source="s", license="l", making=making, **kw)


def test_payback_is_against_what_it_replaces_and_honest_about_overlap():
    from advisor.search.judge import _paybacks

    made = Making(parent="small", method="fine-tuned", energy_j=100.0, duration_s=10.0)
    big = _result("big", 0.30, [0.29, 0.31], verdict="meets")
    tuned = _result("small [fine-tuned]", 0.05, [0.049, 0.051], made, kind="encoder-finetuned", derived_from="small", verdict="meets")
    small = _result("small", 0.05, [0.048, 0.052], verdict="fails")
    out = {c.name: c for c in _paybacks([tuned, big, small], "small [fine-tuned]", ["small [fine-tuned]", "big", "small"])}
    mk = out["small [fine-tuned]"].making
    assert mk.payback_against == "big" and mk.payback_queries == pytest.approx(100 / 0.25)  # what would be recommended without it
    assert mk.payback_case == "repays" and mk.payback_saved_j == pytest.approx(0.25)
    assert mk.payback_note == "repays the 100 J of making it after 400 queries against big (0.25 J less per query)"
    # not recommended: against its parent, whose architecture it shares (a measured difference is noise)
    noisy = tuned.model_copy(update={"kind": "encoder-finetuned"})
    out = {c.name: c for c in _paybacks([noisy, small.model_copy(update={"energy": big.energy})], None, ["small", "small [fine-tuned]"])}
    mk = out["small [fine-tuned]"].making
    assert mk.payback_queries is None and mk.payback_against == "small" and "architecture of its parent" in mk.payback_note
    assert mk.payback_case == "same_architecture" and mk.payback_saved_j is None
    # a static model against its parent, clearly cheaper per query: repaid after making / saving queries
    static = _result("small [static]", 0.01, [0.009, 0.011], made, derived_from="small", kind="static-head")
    out = {c.name: c for c in _paybacks([static, small], None, ["small [static]", "small"])}
    assert out["small [static]"].making.payback_queries == pytest.approx(100 / 0.04)
