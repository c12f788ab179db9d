"""The command line, run as a real process: exit codes, JSON output, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.helpers import CLI, cli, cli_env

FAST = ["--in-process", "--repeats", "2", "--batch-size", "8", "--serving", "off"]


@pytest.mark.slow
def test_recommend_prints_the_table_and_json(toy_task, tfidf_registry, tmp_path):
    r = cli(
        "recommend", "--task", toy_task, "--registry", tfidf_registry, "--min-quality", "0.5", "--reports-dir", tmp_path, "--json", *FAST
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["model"] in {"tfidf-small", "tfidf-large"} and data["threshold"] == 0.5
    assert "recommended" in r.stderr and "J/query" in r.stderr and "meets accuracy >= 0.50" in r.stderr
    assert (tmp_path / data["run_id"] / "results.json").is_file()


@pytest.mark.slow
def test_no_candidate_meets_exits_2(toy_task, tfidf_registry, tmp_path):
    # the toy labels carry 10% flipped noise, so no out-of-fold score reaches 1.0
    r = cli("recommend", "--task", toy_task, "--registry", tfidf_registry, "--min-quality", "1.0", "--reports-dir", tmp_path / "r", *FAST)
    rec = json.loads(next((tmp_path / "r").iterdir()).joinpath("results.json").read_text())
    assert rec["model"] is None and max(c["quality"] for c in rec["candidates"]) < 1.0
    assert r.returncode == 2 and "No candidate meets" in r.stdout


def test_bad_input_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "task.yaml"
    bad.write_text(
        "name: x\ntype: text-classification\nmetric: {name: accuracy}\nthreshold: 0.5\ndata: {file: a.jsonl}\nfolds: 3\nsampel: {}\n"
    )
    r = cli("recommend", "--task", bad)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) <= 2 and "did you mean 'sample'" in r.stderr and str(bad) in r.stderr.replace("\n", "")


def test_unknown_task_name(tmp_path):
    r = cli("recommend", "--task", "sentimen", cwd=tmp_path)
    assert r.returncode == 1 and "did you mean 'sentiment'" in r.stderr and "Traceback" not in r.stderr


def test_invalid_option_value():
    r = cli("recommend", "--by", "size")
    assert r.returncode == 1 and "--by" in r.stderr and "Traceback" not in r.stderr


def test_unknown_option_is_a_usage_line_not_a_traceback():
    r = cli("recommend", "--min-windw", "1")
    assert (
        r.returncode == 1 and "No such option" in r.stderr
    )  # a usage error is bad input (2 means "none meets") and "Traceback" not in r.stderr and len(r.stderr.splitlines()) < 8


def test_ls_and_validate():
    r = cli("ls", "models")
    assert r.returncode == 0 and "tfidf-logreg" in r.stdout
    r = cli("ls", "tasks")
    assert r.returncode == 0 and "sentiment" in r.stdout and "spam" in r.stdout
    r = cli("validate")
    assert r.returncode == 0 and "task 'spam' ok" in r.stdout


def test_validate_reports_a_broken_registry(tmp_path):
    reg = tmp_path / "registry.yaml"
    reg.write_text(
        "version: 1\ncandidates:\n  - name: a\n    tier: small\n    kind: tfidf-logreg\n    backend: sklearn\n"
        "    task_types: [text-classification]\n"
    )
    r = cli("validate", "--registry", reg)
    assert r.returncode == 1 and "candidates[0].license" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_ctrl_c_saves_what_was_measured_and_exits_130(toy_task, tfidf_registry, tmp_path):
    import signal
    import time

    args = [
        *CLI,
        "recommend",
        "--task",
        str(toy_task),
        "--registry",
        str(tfidf_registry),
        "--reports-dir",
        str(tmp_path / "r"),
    ]  # one worker process per candidate: seconds each
    p = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a terminal's program hears Ctrl-C, whatever ran the suite
    )
    first = p.stderr.readline()  # "[1/2] tfidf-small: measuring": the first worker is starting
    assert "measuring" in first, first
    time.sleep(1)
    os.killpg(p.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err
    run = next((tmp_path / "r").iterdir())
    rec = json.loads((run / "results.json").read_text())
    assert rec["status"] == "interrupted" and {c["status"] for c in rec["candidates"]} <= {"ok", "not run"}
    assert (run / "report.html").is_file()
