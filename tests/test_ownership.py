"""Nothing runs twice, nothing outlives its run: measurement claims between runs sharing a store, and
workers that die with a run killed by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from advisor.measure.candidate import base_result
from advisor.measure.executor import Measured
from advisor.search.cache import CachedExecutor
from advisor.search.plan import make_plan
from advisor.spec.settings import Settings
from advisor.store import ResultStore


class SlowExecutor:
    """Counts how many measurements run at once."""

    running = 0
    most = 0
    calls = 0
    lock = threading.Lock()

    def run(self, job, progress):
        with SlowExecutor.lock:
            SlowExecutor.running += 1
            SlowExecutor.calls += 1
            SlowExecutor.most = max(SlowExecutor.most, SlowExecutor.running)
        time.sleep(1.0)
        with SlowExecutor.lock:
            SlowExecutor.running -= 1
        return Measured(base_result(job.spec, "ok").model_copy(update={"quality": 0.5}), {"energy": "fake"}, {}, 1.0)

    def close(self):
        return 0.0


def test_two_runs_on_one_store_measure_a_candidate_once(toy_task, tfidf_registry, tmp_path):
    plan = make_plan(toy_task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r", candidates=["tfidf-small"]))
    job = plan.job(plan.specs[0])
    results = {}

    def one(run_id):
        with ResultStore(tmp_path / "s.sqlite") as store:
            results[run_id] = CachedExecutor(SlowExecutor(), store, run_id).run(job, lambda *a: None)

    threads = [threading.Thread(target=one, args=(f"run-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert SlowExecutor.calls == 1 and SlowExecutor.most == 1
    reused = [r for r in results.values() if r.result.reused_from]
    assert len(reused) == 1 and reused[0].energy_j == 0.0  # the second run waited, then reused the first's measurement


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout.split()
    pairs = list(zip(map(int, out[::2]), map(int, out[1::2])))
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in pairs if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_run_killed_with_sigkill_leaves_no_process_and_is_marked_interrupted(toy_task, tfidf_registry, tmp_path):
    store = tmp_path / "s.sqlite"
    args = [
        sys.executable,
        "-m",
        "advisor.cli",
        "recommend",
        "--task",
        str(toy_task),
        "--registry",
        str(tfidf_registry),
        "--reports-dir",
        str(tmp_path / "r"),
        "--store",
        str(store),
        "--exhaustive",
    ]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert "measuring" in p.stderr.readline()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_children(p.pid)) < 2:  # the worker server and a worker
        time.sleep(0.2)
    family = _children(p.pid)
    assert family, "no worker process was started"
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(c) for c in family):
        time.sleep(0.2)
    left = {c: open(f"/proc/{c}/cmdline").read().replace("\0", " ")[:120] for c in family if _alive(c)}
    assert not left, f"processes of the killed run survived it: {left}"
    with ResultStore(store) as s:  # opening the store marks a run whose owner died
        assert [r.status for r in s.runs()] == ["interrupted"]


@pytest.mark.slow
def test_workers_use_the_meter_of_the_run_not_of_the_worker_servers_start(toy_task, tfidf_registry, tmp_path, monkeypatch):
    """The worker server outlives one run (and one test): each job carries the meter its own run asked for."""
    from advisor.measure.executor import SubprocessExecutor
    from advisor.measure.metering import TEST_METER_ENV

    plan = make_plan(toy_task, str(tfidf_registry), Settings(reports_dir=tmp_path / "r", candidates=["tfidf-small"], idle_s=0))
    job = plan.job(plan.specs[0])
    watts = []
    for power in ("3", "40"):
        monkeypatch.setenv(TEST_METER_ENV, f"replay:{power}/0/0")
        m = SubprocessExecutor(measurement=plan.settings.measurement).run(job, lambda *a: None)
        assert m.result.status == "ok", m.result.reason
        e = m.result.energy
        watts.append(e.cpu_per_query_j * e.window_queries / (sum(e.window_durations_s) / len(e.window_durations_s)))
    assert watts[0] < 4 and watts[1] > 30, watts
