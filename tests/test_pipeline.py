"""In a pipeline: measurements reused from the result store, a killed run resumed, concurrent runs, the CI gate."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time

import pytest

import advisor
from advisor import Settings
from advisor.gate import EXIT_CODES, judge
from tests.conftest import FAST as _FAST
from tests.conftest import toy_rows, write_task
from tests.helpers import CLI, cli
from tests.synthetic import synthetic_recommendation

FAST = {**_FAST, "exhaustive": True}
CLI_FAST = ["--in-process", "--repeats", "1", "--batch-size", "8", "--exhaustive", "--serving", "off"]


def run(task, registry, tmp_path, **kw):
    return advisor.recommend(task=task, registry=registry, settings=Settings(reports_dir=tmp_path / "reports", **{**FAST, **kw}))


def three_tfidf(tmp_path):
    path = tmp_path / "three.yaml"
    entries = "".join(
        f"""
  - name: tfidf-{i}
    tier: small
    kind: tfidf-logreg
    backend: sklearn
    task_types: [text-classification]
    license: BSD-3-Clause
    options: {{max_features: {50 * 10**i}, ngram_max: {i + 1}}}
"""
        for i in range(3)
    )
    path.write_text("version: 1\ncandidates:" + entries)
    return path


@pytest.mark.slow
def test_a_rerun_reuses_stored_measurements_and_fresh_measures_again(toy_task, tfidf_registry, tmp_path):
    store = tmp_path / "store.sqlite"
    first = run(toy_task, tfidf_registry, tmp_path, store=store, run_id="one")
    again = run(toy_task, tfidf_registry, tmp_path, store=store, run_id="two")
    assert all(c.reused_from is not None and c.reused_from.run_id == "one" for c in again.candidates)
    for a, b in zip(sorted(first.candidates, key=lambda c: c.name), sorted(again.candidates, key=lambda c: c.name)):
        assert (a.quality, a.predictions, a.energy) == (b.quality, b.predictions, b.energy)
    fresh = run(toy_task, tfidf_registry, tmp_path, store=store, run_id="three", fresh=True)
    assert not any(c.reused_from for c in fresh.candidates)
    # a different sample is a different measurement
    other = run(toy_task, tfidf_registry, tmp_path, store=store, run_id="four", seed=7)
    assert not any(c.reused_from for c in other.candidates)
    r = cli("history", "--store", store)
    assert r.returncode == 0 and all(rid in r.stdout for rid in ("one", "two", "three", "four"))
    r = cli("diff", "one", "four", "--store", store)
    assert r.returncode == 0 and "tfidf-small" in r.stdout and "one -> four" in r.stdout and "different samples" in r.stdout


def _stored(store) -> list[str]:
    try:
        with sqlite3.connect(store, timeout=1) as c:
            return [r[0] for r in c.execute("SELECT candidate FROM measurements")]
    except sqlite3.Error:
        return []


@pytest.mark.slow
def test_a_killed_run_resumes_with_nothing_lost_and_nothing_measured_twice(tmp_path):
    task = write_task(tmp_path / "t", rows=toy_rows(240))
    reg, store = three_tfidf(tmp_path), tmp_path / "store.sqlite"
    args = [*CLI, "recommend", "--task", task, "--registry", reg, "--reports-dir", tmp_path / "r", *CLI_FAST]
    p = subprocess.Popen([*map(str, args), "--store", str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _stored(store) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)  # no chance to clean up
    p.wait()
    measured_before = _stored(store)
    assert measured_before == ["tfidf-0"], "the kill must land after the first candidate and before the last"
    resumed = cli(*args[3:], "--store", store, "--json")
    assert resumed.returncode in (0, 2, 3), resumed.stderr
    res = json.loads(resumed.stdout)
    reused = {c["name"] for c in res["candidates"] if c["reused_from"]}
    assert reused == {"tfidf-0"}
    assert resumed.stderr.count("reused from run") == 1 and "--fresh measures again" in resumed.stderr  # and it says so
    assert sorted(_stored(store)) == ["tfidf-0", "tfidf-1", "tfidf-2"]  # one measurement each
    whole = cli(*args[3:], "--store", tmp_path / "other.sqlite", "--json")
    full = json.loads(whole.stdout)
    by = {c["name"]: c for c in full["candidates"]}
    for c in res["candidates"]:
        assert (c["quality"], c["predictions"]) == (by[c["name"]]["quality"], by[c["name"]]["predictions"])


@pytest.mark.slow
def test_two_runs_on_one_store_at_once_both_finish(toy_task, tmp_path):
    reg, store = three_tfidf(tmp_path), tmp_path / "shared.sqlite"
    args = [
        *CLI,
        "recommend",
        "--task",
        str(toy_task),
        "--registry",
        str(reg),
        *CLI_FAST,
        "--store",
        str(store),
    ]
    procs = [
        subprocess.Popen(
            [*args, "--reports-dir", str(tmp_path / f"r{i}"), "--seed", str(i)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0] or all(p.returncode in (0, 2, 3) for p in procs), [o[1][-500:] for o in outs]
    assert len(_stored(store)) == 6  # 3 candidates x 2 different samples


@pytest.mark.slow
@pytest.mark.parametrize("content", [b"\x00garbage" * 100, b"SQLite format 3\x00" + b"\xff" * 2000])
def test_a_corrupted_store_is_one_clear_line(toy_task, tfidf_registry, tmp_path, content):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(content)
    r = cli("recommend", "--task", toy_task, "--registry", tfidf_registry, "--store", bad, *CLI_FAST)
    assert r.returncode == 1 and str(bad) in r.stderr and "Traceback" not in r.stderr and "--store" in r.stderr


def test_check_verdicts_from_results():
    rec = synthetic_recommendation(n=6, threshold=0.7)
    cheap = rec.model
    costly = max((c for c in rec.candidates if c.status == "ok"), key=lambda c: c.energy_per_query_j).name
    assert judge(rec, cheap, 0.2, None, "r.json").verdict == "right-sized"
    over = judge(rec, costly, 0.2, None, "r.json")
    assert over.verdict == "oversized" and over.cheaper == cheap and over.exit_code == 4
    failing = next(c.name for c in rec.candidates if c.status == "ok" and c.quality < 0.7)
    assert judge(rec, failing, 0.2, None, "r.json").exit_code == EXIT_CODES["below-goal"]
    base = {"run_id": "old", "energy_per_query_j": rec.candidate(cheap).energy_per_query_j / 1.5}
    regressed = judge(rec, cheap, 0.2, base, "r.json")
    assert regressed.verdict == "energy-regression" and regressed.energy_change == pytest.approx(0.5)
    assert judge(rec, cheap, 0.6, base, "r.json").verdict == "right-sized"
    md = regressed.to_markdown()
    assert "energy-regression" in md and "+50%" in md and cheap in md


@pytest.mark.slow
def test_check_cli_exit_codes_and_baseline(toy_task, tmp_path):
    reg, store = three_tfidf(tmp_path), tmp_path / "store.sqlite"
    common = [
        "check",
        "--task",
        toy_task,
        "--registry",
        reg,
        "--deployed",
        "tfidf-2",
        "--store",
        store,
        "--in-process",
        "--reports-dir",
        tmp_path / "r",
        "--serving",
        "off",
    ]
    below = cli(*common, "--min-quality", "0.99", "--json")
    assert below.returncode == 5, below.stderr
    assert json.loads(below.stdout)["verdict"] == "below-goal"
    summary = tmp_path / "summary.md"
    # the fake meter reads wall time, and this run is measured afresh (another goal, another key): allow any noise here
    first = cli(*common, "--min-quality", "0.5", "--markdown", summary, "--max-energy-increase", "100")
    assert first.returncode in (0, 4), first.stderr
    assert "advisor check" in summary.read_text()
    # measured again: any rise above -90% counts as a regression, so the gate must trip against the stored baseline
    again = cli(*common, "--min-quality", "0.5", "--fresh", "--max-energy-increase", "-0.9", "--json")
    out = json.loads(again.stdout)
    assert again.returncode == 6 and out["verdict"] == "energy-regression" and out["baseline"]["run_id"]
    unknown = cli(*common, "--deployed", "tfidf-9")
    assert unknown.returncode == 1 and "did you mean 'tfidf-" in unknown.stderr
