"""Hostile and careless input: every mistake is one line naming the file, the field and the fix, exit 1;
nothing is written outside the reports folder."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import pytest

import advisor
from advisor.errors import SpecError
from advisor.search.plan import new_run_id, run_folder, slug
from advisor.spec.tasks import load_task
from tests.conftest import FAST as _FAST
from tests.conftest import toy_rows, write_task
from tests.helpers import cli

FAST = {**_FAST, "repeats": 1, "latency_queries": 2, "exhaustive": True}


def _one_line_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    text = " ".join(r.stderr.split())
    for n in needles:
        assert n in text, (n, r.stderr)


@pytest.mark.parametrize("name", ["../../escape", "..", "a/../../b", "/abs/path", "x\\..\\y", "ok name; rm -rf", "\u2028..\u2028"])
def test_a_task_name_never_writes_outside_the_reports_folder(tmp_path, tfidf_registry, name):
    task = write_task(tmp_path / "t", name=name)
    reports = tmp_path / "deep" / "reports"
    rec = advisor.recommend(task=task, registry=tfidf_registry, reports_dir=reports, store=tmp_path / "s.sqlite", **FAST)
    folder = reports / rec.run_id
    assert (folder / "results.json").is_file() and folder.resolve().parent == reports.resolve()
    expected = {(tmp_path / "t").resolve(), reports.resolve(), (tmp_path / "states").resolve()}  # fitted states beside the store
    stray = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file()
        and not p.name.startswith(("s.sqlite", "registry.yaml"))
        and not any(parent in expected for parent in p.resolve().parents)
    ]
    assert stray == [], stray


def test_run_ids_are_single_safe_folder_names(tmp_path):
    for name in ["../../x", "..", ".", "a/b", "é ü", ""]:
        rid = new_run_id(name)
        assert "/" not in rid and ".." not in rid.split("-")[-1] and run_folder(tmp_path, rid).parent == tmp_path.resolve()
    assert slug("../../etc") == "etc" and slug("..") == "task"
    with pytest.raises(SpecError, match="run_id"):
        run_folder(tmp_path, "../outside")


def test_a_jsonl_file_with_a_byte_that_is_not_utf8(tmp_path):
    task = write_task(tmp_path / "t")
    data = tmp_path / "t" / "samples.jsonl"
    data.write_bytes(data.read_bytes().replace(b"the", b"th\xff", 1))
    _one_line_error(cli("recommend", "--task", task), str(data), "not UTF-8", "line 1")


def test_a_task_yaml_that_is_not_utf8(tmp_path):
    task = write_task(tmp_path / "t")
    task.write_bytes(task.read_bytes().replace(b"name: toy", b"name: caf\xe9"))
    _one_line_error(cli("validate", "--task", task), str(task), "not UTF-8", "save the file as UTF-8")


def test_a_yaml_mapping_with_a_complex_key(tmp_path):
    task = write_task(tmp_path / "t")
    task.write_text(task.read_text() + "? [a, b]\n: 1\n")
    _one_line_error(cli("validate", "--task", task), str(task), "is a list, not a name", "'? [a, b]'")


def test_usage_errors_are_bad_input_and_name_the_real_option():
    _one_line_error(cli("recommend", "--frobnicate"), "No such option")
    _one_line_error(cli("recommend", "--samples", "lots"), "--samples")
    r = cli("recommend", "--samples", "1")
    _one_line_error(r, "--samples")
    assert "--sample-size" not in r.stderr
    r = cli("recommend", "--sweep-budget", "-1")  # a field whose option is not its attribute (serving.budget)
    _one_line_error(r, "--sweep-budget")
    assert "option --budget" not in r.stderr


def test_a_declared_label_that_no_row_has_is_refused(tmp_path):
    task = write_task(tmp_path / "t", labels=["neg", "pos", "neutral"])
    with pytest.raises(SpecError, match=r"labels: label 'neutral' is declared but no row of samples.jsonl has it"):
        load_task(task).samples()


def test_more_samples_than_rows_warns_and_uses_every_row(tmp_path, caplog):
    task = write_task(tmp_path / "t", rows=toy_rows(40), sample={"size": 500})
    with caplog.at_level(logging.WARNING, logger="advisor"):
        s = load_task(task).samples()
    assert len(s) == 40 and "asks for 500 samples but the data holds 40" in caplog.text


def test_validate_checks_that_local_sources_exist(tmp_path):
    reg = tmp_path / "registry.yaml"
    reg.write_text(
        "version: 1\ncandidates:\n  - {name: m, tier: small, kind: encoder-head, backend: onnx, source: {local: ./nope},"
        " task_types: [text-classification], license: MIT}\n"
    )
    _one_line_error(cli("validate", "--registry", reg), str(reg), "candidates[0].source.local", "does not exist")


def test_a_bracketed_name_in_an_error_is_printed_whole(tmp_path):
    reg = tmp_path / "registry.yaml"
    reg.write_text(
        "version: 1\ncandidates:\n  - {name: 'm [onnx-int8]', tier: small, kind: tfidf-logreg, backend: sklearn,"
        " task_types: [text-classification], license: MIT, options: {ngram_maxx: 2}}\n"
    )
    _one_line_error(cli("validate", "--registry", reg), "options.ngram_maxx", "did you mean 'ngram_max'")


def test_results_of_a_newer_minor_version_are_read(tmp_path):
    from tests.synthetic import synthetic_recommendation

    data = synthetic_recommendation(n=3).to_dict()
    data["schema_version"] = "1.9"
    data["a_field_from_the_future"] = {"x": 1}
    data["candidates"][0]["another_new_field"] = 3
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    rec = advisor.Recommendation.load(path)
    assert rec.candidates[0].name == data["candidates"][0]["name"]
    data["schema_version"] = "2.0"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="schema_version 2.0"):
        advisor.Recommendation.load(Path(path))


@pytest.mark.parametrize(
    ("local", "says"),
    [("./nope", "does not exist"), ("../../../../../../etc/passwd", "is a file, not a model folder")],
)
def test_recommend_refuses_a_bad_local_source_before_loading_anything(tmp_path, toy_task, local, says):
    reg = tmp_path / "registry.yaml"
    reg.write_text(
        "version: 1\ncandidates:\n  - {name: tf, tier: small, kind: tfidf-logreg, backend: sklearn, task_types: [text-classification],"
        f" license: MIT}}\n  - {{name: m, tier: small, kind: encoder-head, backend: sentence-transformers, source: {{local: '{local}'}},"
        " task_types: [text-classification], license: MIT}\n"
    )
    r = cli("recommend", "--task", toy_task, "--registry", reg, "--in-process", "--reports-dir", tmp_path / "r", "--serving", "off")
    _one_line_error(r, str(reg), "candidates[1].source.local", says)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("results.json")), "refused before the run began"


def test_a_run_where_no_candidate_could_be_measured_is_bad_input_not_none_meets(tmp_path, toy_task):
    reg = tmp_path / "registry.yaml"
    reg.write_text(
        "version: 1\ncandidates:\n  - {name: hubonly, tier: small, kind: hf-pipeline, backend: transformers,"
        " source: {hub: org/not-here, revision: 0123456789abcdef0123456789abcdef01234567}, task_types: [text-classification],"
        " license: MIT}\n"
    )
    r = cli("recommend", "--task", toy_task, "--registry", reg, "--in-process", "--reports-dir", tmp_path / "r", "--serving", "off")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "no candidate could be measured: hubonly: skipped" in " ".join(r.stderr.split()) and "Traceback" not in r.stderr


# -- bounded memory on hostile data files ---------------------------------------------------------------------------


def _task_with(tmp_path: Path, name: str, body: bytes, fmt: str | None = None) -> Path:
    folder = tmp_path / "big"
    task = write_task(folder, data={"file": name, **({"format": fmt} if fmt else {})})
    (folder / name).write_bytes(body)
    return task


def test_a_data_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_MAX_DATA_MB", "1")
    task = _task_with(tmp_path, "huge.jsonl", b'{"text": "good film", "label": "pos"}\n' * 40_000)  # 1.4 MiB
    with pytest.raises(SpecError, match=r"huge.jsonl: 1.4 MiB is more than the 1 MiB a sample file may hold.*ADVISOR_MAX_DATA_MB"):
        load_task(task).samples()


def test_one_line_too_long_is_refused_naming_the_line(tmp_path, monkeypatch):
    from advisor.spec import data

    monkeypatch.setattr(data, "MAX_LINE_MB", 1)
    monkeypatch.setattr(data, "CHUNK", 4096)  # the long line spans many chunks
    rows = [json.dumps(r) for r in toy_rows(10)]
    rows[3] = json.dumps({"text": "x" * (2 * 2**20), "label": "pos"})
    task = _task_with(tmp_path, "long.jsonl", ("\n".join(rows) + "\n").encode())
    with pytest.raises(SpecError, match="line 4 is longer than 1 MiB"):
        load_task(task).samples()


def test_a_csv_with_too_many_columns_is_refused(tmp_path, monkeypatch):
    from advisor.spec import data

    monkeypatch.setattr(data, "MAX_COLUMNS", 100)
    monkeypatch.setattr(data, "CHUNK", 64)
    header = ",".join(["text", "label", *(f"c{i}" for i in range(200))])
    task = _task_with(tmp_path, "wide.csv", (header + "\ngood film,pos" + ",0" * 200 + "\n").encode())
    with pytest.raises(SpecError, match="the header has more than 100 columns"):
        load_task(task).samples()


def test_bad_utf8_is_found_across_chunks_with_its_line(tmp_path, monkeypatch):
    from advisor.spec import data

    monkeypatch.setattr(data, "CHUNK", 16)
    rows = [json.dumps(r) for r in toy_rows(6)]
    body = ("\n".join(rows) + "\n").encode()
    cut = body.index(b"\n", body.index(b"\n") + 1) + 5  # inside line 3
    task = _task_with(tmp_path, "bad.jsonl", body[:cut] + b"\xff" + body[cut:])
    with pytest.raises(SpecError, match=r"not UTF-8 text \(byte 0xff on line 3\)"):
        load_task(task).samples()
