"""Fault injection: SIGKILL at random instants of a run, many times on one store; after each, the rerun completes.

Each round starts ``advisor recommend`` (two TF-IDF candidates on a toy task, measured in worker processes), kills it
at a random instant (the whole run, or one of its measuring workers) and then runs it again to the end on the same
store. After every round: ``PRAGMA integrity_check`` is ok; every measurement stored before the rerun is reused by it
(none lost, none measured twice); every ``results.json`` parses and every ``report.html`` is whole. The figures are
printed (``-s``). ``pytest tests/faults --fault-count 200`` runs a long series; CI runs the default of 3.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import toy_rows, write_task
from tests.helpers import cli_env

pytestmark = pytest.mark.timeout(3600)

REGISTRY = """version: 1
candidates:
  - {name: tfidf-small, tier: small, kind: tfidf-logreg, backend: sklearn, task_types: [text-classification], license: MIT,
     options: {max_features: 50}}
  - {name: tfidf-large, tier: large, kind: tfidf-logreg, backend: sklearn, task_types: [text-classification], license: MIT,
     options: {max_features: 5000, ngram_max: 3}}
"""


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _run(args: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "advisor.cli", "recommend", *args]
    return subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _stored(store: Path) -> dict[str, str]:
    """Measurement key -> the run that measured it, as the store holds them now (a measurement made again replaces
    its row under the same key, with the new run's id)."""
    if not store.exists():
        return {}
    with sqlite3.connect(store) as c:
        return dict(c.execute("SELECT key, run_id FROM measurements").fetchall())


def _integrity(store: Path) -> str:
    with sqlite3.connect(store) as c:
        return c.execute("PRAGMA integrity_check").fetchone()[0]


def _files_whole(reports: Path) -> list[str]:
    """Files that are not whole: a results.json that does not parse, a report.html without its end."""
    bad = []
    for f in reports.rglob("results.json"):
        try:
            json.loads(f.read_text(encoding="utf-8"))
        except ValueError:
            bad.append(str(f))
    for f in reports.rglob("report.html"):
        if not f.read_text(encoding="utf-8").rstrip().endswith("</html>"):
            bad.append(str(f))
    return bad


@pytest.mark.slow
def test_sigkill_at_random_instants_loses_and_repeats_nothing(tmp_path, request):
    count = request.config.getoption("--fault-count")
    rng = random.Random(int(os.environ.get("ADVISOR_FAULT_SEED", "7")))
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY, encoding="utf-8")
    store, reports = tmp_path / "store.sqlite", tmp_path / "reports"
    survived = lost = twice = 0
    for i in range(count):
        task = write_task(tmp_path / f"task-{i % 4}", toy_rows(120, seed=i % 4))  # four tasks: later rounds reuse earlier work
        args = ["--task", str(task), "--registry", str(registry), "--store", str(store), "--reports-dir", str(reports)]
        args += ["--serving", "off", "--repeats", "2", "--samples", "120"]
        proc = _run(args)
        time.sleep(rng.uniform(0.2, 6.0))
        where = "the run"
        if proc.poll() is None:
            workers = [p for p in _descendants(proc.pid)]
            if workers and rng.random() < 0.4:
                where = "a worker"
                os.kill(rng.choice(workers), signal.SIGKILL)
                proc.wait(timeout=300)
            else:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        else:
            where = "nothing (the run had ended)"
        before = _stored(store)
        assert not store.exists() or _integrity(store) == "ok", f"round {i}: the store is damaged after killing {where}"
        again = subprocess.run(
            [sys.executable, "-m", "advisor.cli", "recommend", *args, "--json"], env=cli_env(), capture_output=True, text=True, timeout=600
        )
        assert again.returncode in (0, 2, 3), f"round {i} (killed {where}): the rerun failed: {again.stderr[-2000:]}"
        rec = json.loads(again.stdout)
        after = _stored(store)
        lost += len(set(before) - set(after))
        twice += sum(after.get(k) not in (None, run) for k, run in before.items())  # made again by the rerun
        assert rec["status"] == "complete"
        assert _integrity(store) == "ok"
        assert not _files_whole(reports), f"round {i}: half-written files: {_files_whole(reports)}"
        survived += 1
    print(f"\nkills survived {survived} of {count}, measurements lost {lost}, measured twice {twice}")
    assert lost == 0 and twice == 0
