"""Specs and data validation: valid files load, every mistake is one clear line naming file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from advisor.errors import SpecError
from advisor.spec.registry import load_registry
from advisor.spec.tasks import REPO_ROOT, available_tasks, load_task
from tests.conftest import toy_rows, write_task


def test_every_shipped_task_and_the_registry_load():
    tasks = available_tasks()
    assert {"sentiment", "spam", "trivia"} <= set(tasks)
    types = {name: load_task(name).spec.type for name in tasks}
    assert types["sentiment"] == types["spam"] == "text-classification" and types["trivia"] == "question-answering"
    reg = load_registry(REPO_ROOT / "registry.yaml")
    kinds = {c.kind for c in reg.candidates}
    assert kinds == {"tfidf-logreg", "encoder-head", "static-head", "prompted", "hf-pipeline", "generator"}
    for name, type_ in types.items():  # every shipped task has candidates
        assert reg.select(type_), name
    hub = [c for c in reg.candidates if c.source and c.source.hub]
    assert hub and all(len(c.source.revision) == 40 for c in hub), "hub candidates pin a full commit sha"


def test_listing_tasks_reads_no_data(monkeypatch):
    import advisor.spec.data

    def boom(*a, **k):
        raise AssertionError("data was read")

    monkeypatch.setattr(advisor.spec.data, "read_frame", boom)
    for name in available_tasks():
        load_task(name)


def _err(fn, *args) -> str:
    with pytest.raises(SpecError) as info:
        fn(*args)
    msg = str(info.value)
    assert "\n" not in msg, "errors are one line"
    return msg


def _task_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "t.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_malformed_yaml_names_file_and_line(tmp_path):
    p = _task_file(tmp_path, "name: x\ntype: [unclosed\n")
    msg = _err(load_task, p)
    assert str(p) in msg and "malformed YAML" in msg and "line" in msg


def test_duplicate_keys_are_refused(tmp_path):
    p = _task_file(tmp_path, "name: a\nname: b\n")
    msg = _err(load_task, p)
    assert "duplicate key" in msg and "name" in msg and "line 2" in msg


def test_unknown_key_suggests_the_right_one(tmp_path):
    path = write_task(tmp_path / "t", threshhold=0.5)
    msg = _err(load_task, path)
    assert str(path) in msg and "unknown key 'threshhold'" in msg and "did you mean 'threshold'" in msg


def test_unknown_nested_key_names_the_path(tmp_path):
    path = write_task(tmp_path / "t", data={"file": "samples.jsonl", "text_feild": "text"})
    msg = _err(load_task, path)
    assert "data" in msg and "did you mean 'text_field'" in msg


def test_bad_literal_suggests(tmp_path):
    path = write_task(tmp_path / "t", metric={"name": "acuracy"})
    msg = _err(load_task, path)
    assert "metric.name" in msg and "did you mean 'accuracy'" in msg


def test_missing_field_and_unsupported_type(tmp_path):
    p = _task_file(tmp_path, "name: x\ntype: text-classification\n")
    assert "required field is missing" in _err(load_task, p)
    path = write_task(tmp_path / "s", type="summarization")  # with the toy task's accuracy metric and labels
    assert "metric 'accuracy' does not apply to a summarization task" in _err(load_task, path)
    path = write_task(tmp_path / "q", type="question-answering", metric={"name": "rougeL"})
    assert "has references, not labels" in _err(load_task, path)
    path = write_task(tmp_path / "c", metric={"name": "exact_match"})
    assert "does not apply to a text-classification task" in _err(load_task, path)


def test_f1_needs_a_positive_label(tmp_path):
    path = write_task(tmp_path / "t", metric={"name": "f1"})
    assert "positive_label" in _err(load_task, path)


def test_unknown_task_name_suggests():
    msg = _err(load_task, "sentimnet")
    assert "did you mean 'sentiment'" in msg and "available" in msg


def test_missing_sample_file(tmp_path):
    path = write_task(tmp_path / "t", data={"file": "nope.jsonl"})
    msg = _err(lambda: load_task(path).samples())
    assert str(path) in msg and "data.file" in msg and "nope.jsonl" in msg


def test_label_the_task_does_not_declare(tmp_path):
    rows = toy_rows(30) + [{"text": "some text", "label": "neutral"}]
    path = write_task(tmp_path / "t", rows=rows)
    msg = _err(lambda: load_task(path).samples())
    assert "labels" in msg and "'neutral'" in msg and "row 31" in msg


def test_positive_label_must_exist(tmp_path):
    path = write_task(tmp_path / "t", metric={"name": "f1", "positive_label": "poss"})
    msg = _err(lambda: load_task(path).samples())
    assert "metric.positive_label" in msg and "did you mean 'pos'" in msg


def test_fewer_samples_than_folds(tmp_path):
    path = write_task(tmp_path / "t", rows=toy_rows(4), folds=5)
    msg = _err(lambda: load_task(path).samples())
    assert "folds" in msg and "fewer than folds" in msg


def test_empty_text_is_an_error_unless_dropped(tmp_path):
    rows = toy_rows(30)
    rows[7]["text"] = "   "
    path = write_task(tmp_path / "t", rows=rows)
    msg = _err(lambda: load_task(path).samples())
    assert "row 8" in msg and "empty text" in msg and "drop_empty" in msg
    path = write_task(tmp_path / "u", rows=rows, data={"file": "samples.jsonl", "drop_empty": True})
    assert len(load_task(path).samples()) == 29


def test_missing_column_suggests(tmp_path):
    path = write_task(tmp_path / "t", data={"file": "samples.jsonl", "text_field": "txt"})
    msg = _err(lambda: load_task(path).samples())
    assert "data.text_field" in msg and "did you mean 'text'" in msg


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_local_files_in_every_format_give_the_same_samples(tmp_path, fmt):
    rows = toy_rows(40)
    folder = tmp_path / fmt
    path = write_task(folder, rows=rows, data={"file": f"samples.{fmt}"}, sample={"size": 30, "seed": 3})
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        frame.to_csv(folder / "samples.csv", index=False)
    elif fmt == "parquet":
        frame.to_parquet(folder / "samples.parquet")
    else:
        (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = load_task(path).samples()
    assert len(s) == 30 and len(s.pool_texts) == 10
    assert set(s.labels) == {"neg", "pos"} and s.label_names == ["neg", "pos"]
    assert all(t in {r["text"] for r in rows} for t in s.texts)
    # the same seed gives the same sample in every format
    ref = write_task(tmp_path / "ref", rows=rows, sample={"size": 30, "seed": 3})
    assert s.sha256 == load_task(ref).samples().sha256


def test_seed_changes_the_sample_and_stratifies(tmp_path):
    path = write_task(tmp_path / "t", rows=toy_rows(100), sample={"size": 40, "seed": 1})
    a = load_task(path).samples()
    b = load_task(path).samples(seed=2)
    assert a.sha256 != b.sha256
    assert a.labels.count("pos") in (19, 20, 21)


def test_builtin_spam_sample_uses_package_data():
    s = load_task("spam").samples(size=200)
    assert len(s) == 200 and set(s.labels) == {"ham", "spam"}
    assert 0.05 < s.labels.count("spam") / len(s) < 0.25
    assert len(set(s.texts)) == len(s.texts), "duplicates are dropped"


def _registry(tmp_path: Path, entries: list[dict]) -> Path:
    p = tmp_path / "registry.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "candidates": entries}), encoding="utf-8")
    return p


BASE = {"name": "m", "tier": "small", "kind": "tfidf-logreg", "backend": "sklearn", "task_types": ["text-classification"], "license": "MIT"}


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"tier": "tiny"}, "candidates[0].tier"),
        ({"backend": "onnx"}, "runs on backend sklearn"),
        ({"kind": "encoder-head", "backend": "onnx"}, "needs a 'source'"),
        ({"kind": "encoder-head", "backend": "onnx", "source": {"hub": "a/b"}}, "pinned 'revision'"),
        ({"kind": "encoder-head", "backend": "onnx", "source": {"hub": "a/b", "revision": "x", "local": "y"}}, "exactly one of"),
        ({"kind": "encoder-head", "backend": "onnx", "source": {"pakage": "x"}}, "did you mean 'package'"),
        ({"options": {"max_featurs": 10}}, "did you mean 'max_features'"),
        ({"licence": "MIT"}, "did you mean 'license'"),
        ({"name": "a, b"}, "candidates[0].name: 'a, b' contains a comma"),
    ],
)
def test_invalid_registry_entries(tmp_path, change, expected):
    path = _registry(tmp_path, [{**BASE, **change}])
    msg = _err(load_registry, path)
    assert str(path) in msg and expected in msg


def test_duplicate_candidate_names(tmp_path):
    path = _registry(tmp_path, [BASE, BASE])
    assert "names must be unique" in _err(load_registry, path)


def test_no_candidate_for_the_task_type(tmp_path):
    path = _registry(tmp_path, [{**BASE, "task_types": ["summarization"]}])
    msg = _err(lambda: load_registry(path).select("text-classification"))
    assert "no candidate serves task type 'text-classification'" in msg


def test_selecting_an_unknown_candidate_suggests(tmp_path):
    path = _registry(tmp_path, [BASE])
    msg = _err(lambda: load_registry(path).select("text-classification", ["n"]))
    assert "no candidate named 'n'" in msg
