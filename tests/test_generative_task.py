"""Generative tasks end to end on a tiny random model: question answering and summarisation, energy per token."""

from __future__ import annotations

import json

import pytest

import advisor
import tests.tiny_models as tm
from advisor import Settings
from advisor.errors import SpecError
from advisor.spec.tasks import load_task
from tests.conftest import FAST as _FAST

FAST = {**_FAST, "latency_queries": 2, "batch_size": 4, "exhaustive": True}
WORDS = ["good", "great", "fine", "bad", "awful", "poor", "the", "film", "was", "plot"]


def qa_task(folder, metric="token_f1", type_="question-answering", rows=24, **extra):
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    data = [{"q": f"{WORDS[i % 10]} {WORDS[(i * 3) % 10]} ?", "a": WORDS[(i * 7) % 10]} for i in range(rows)]
    (folder / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    spec = {
        "name": "toy-qa",
        "type": type_,
        "data": {"file": "qa.jsonl", "text_field": "q", "label_field": "a"},
        "metric": {"name": metric},
        "threshold": 0.5,
        "sample": {"size": rows - 4, "seed": 0},
        "prompt": {"few_shot": 2},
        **extra,
    }
    (folder / "task.yaml").write_text(yaml.safe_dump(spec))
    return folder / "task.yaml"


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return tm.make_causal_lm(tmp_path_factory.mktemp("gen") / "lm", chat_template=True)


def registry(tmp_path, lm, max_new_tokens=6):
    path = tmp_path / "registry.yaml"
    path.write_text(f"""
version: 1
candidates:
  - name: tiny-generator
    tier: small
    kind: generator
    backend: transformers
    source: {{local: {lm}}}
    task_types: [question-answering, summarization]
    license: MIT
    options: {{max_new_tokens: {max_new_tokens}, batch_size: 4}}
  - name: tfidf
    tier: small
    kind: tfidf-logreg
    backend: sklearn
    task_types: [text-classification]
    license: MIT
""")
    return path


@pytest.mark.parametrize(
    "type_, metric", [("question-answering", "token_f1"), ("question-answering", "exact_match"), ("summarization", "rougeL")]
)
def test_generative_ladder_end_to_end(tmp_path, lm, type_, metric):
    task = qa_task(tmp_path / "t", metric=metric, type_=type_)
    rec = advisor.recommend(task=task, registry=registry(tmp_path, lm), settings=Settings(reports_dir=tmp_path / "r", **FAST))
    assert [c.name for c in rec.candidates] == ["tiny-generator"], "a classifier does not serve a generative task"
    c = rec.candidates[0]
    assert c.status == "ok", c.reason
    assert 0 <= c.quality <= 1 and c.quality_ci is not None and c.quality_ci[0] <= c.quality <= c.quality_ci[1]
    assert len(c.predictions) == rec.task.samples == 20
    assert c.energy.per_token_j > 0 and 0 < c.energy.tokens_per_query <= 6
    assert c.energy.per_token_j * c.energy.tokens_per_query == pytest.approx(c.energy.per_query_j, rel=1e-6)
    assert 0 < c.generation.tokens_mean <= 6 and 0 <= c.generation.truncated_share <= 1
    assert c.details["decoding"] == "greedy" and c.details["max_new_tokens"] == 6 and c.answer_parser == "first_line"
    assert rec.cascade is None and rec.method.energy == "fake"
    assert rec.no_cascade == "No cascade: a generative task's answers carry no classifier confidence to gate on."
    assert (tmp_path / "r" / rec.run_id / "report.html").is_file()


def test_a_model_that_never_stops_is_cut_at_the_limit_and_scored(tmp_path):
    from transformers import GenerationConfig

    lm = tm.make_causal_lm(tmp_path / "endless")
    cfg = GenerationConfig.from_pretrained(str(lm))
    cfg.suppress_tokens = [cfg.eos_token_id]  # it can never end by itself
    cfg.save_pretrained(str(lm))
    task = qa_task(tmp_path / "t")
    rec = advisor.recommend(
        task=task, registry=registry(tmp_path, lm, max_new_tokens=5), settings=Settings(reports_dir=tmp_path / "r", **FAST)
    )
    c = rec.candidate("tiny-generator")
    assert c.status == "ok" and c.generation.truncated_share == 1.0 and c.generation.tokens_max == 5
    assert c.energy.tokens_per_query == 5


def test_generative_task_spec_errors(tmp_path):
    with pytest.raises(SpecError, match="strategy 'regex' needs 'pattern'"):
        load_task(qa_task(tmp_path / "a", prompt={"answer": {"strategy": "regex"}}))
    with pytest.raises(SpecError, match="has no group"):
        load_task(qa_task(tmp_path / "b", prompt={"answer": {"strategy": "regex", "pattern": "Answer: .+"}}))
    bad = qa_task(tmp_path / "c")
    (bad.parent / "qa.jsonl").write_text(json.dumps({"q": "why?", "a": ""}) + "\n" + json.dumps({"q": "what?", "a": "x"}) + "\n")
    with pytest.raises(SpecError, match="empty reference"):
        load_task(bad).samples()


def test_the_builtin_trivia_task_loads_real_pairs():
    t = load_task("trivia")
    s = t.samples()
    assert t.spec.type == "question-answering" and len(s) == 100 and s.label_names == []
    assert all(s.labels) and len(s.pool_texts) == 161
