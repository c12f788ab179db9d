"""The result store: measurements and runs survive reopening, foreign files are refused, writers can share it."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import time

import pytest

from advisor.errors import AdvisorError
from advisor.store import STORE_SCHEMA_VERSION, ResultStore, RunRow, StoreError, default_store_path, measurement_key

PAYLOAD = {
    "result": {"name": "tiny", "status": "ok", "quality": 0.8},
    "method": {"name": "fake", "cpu": "constant"},
    "idle_power_w": {"cpu": 1.5},
    "energy_j": 12.25,
}


def _rec(run_id: str, model: str | None, n: int = 2) -> dict:
    return {"run_id": run_id, "model": model, "candidates": [{"name": f"c{i}"} for i in range(n)], "summary": "s"}


def test_default_path_is_in_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "cache"))
    assert default_store_path() == tmp_path / "cache" / "results.sqlite"


def test_measurement_key_is_stable_and_sensitive():
    a = measurement_key({"model": "tiny", "settings": {"batch": 16, "repeats": 3}, "seed": 1})
    b = measurement_key({"seed": 1, "settings": {"repeats": 3, "batch": 16}, "model": "tiny"})
    assert a == b
    assert len(a) == 64 and int(a, 16) >= 0
    assert measurement_key({"model": "tiny", "settings": {"batch": 16, "repeats": 4}, "seed": 1}) != a
    assert measurement_key({"model": "tiny", "settings": {"batch": 16, "repeats": 3}, "seed": "1"}) != a


def test_measurement_round_trip_and_upsert(tmp_path):
    path = tmp_path / "deep" / "folder" / "store.sqlite"
    key = measurement_key({"model": "tiny"})
    with ResultStore(path) as store:
        assert store.get_measurement(key) is None
        store.put_measurement(key, "run-1", "tiny", PAYLOAD)
        assert store.get_measurement(key) == PAYLOAD
        store.put_measurement(key, "run-2", "tiny", {**PAYLOAD, "energy_j": 3.0})
        assert store.get_measurement(key)["energy_j"] == 3.0
        assert store.get_measurement(measurement_key({"model": "other"})) is None
    assert path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*), run_id FROM measurements").fetchone() == (1, "run-2")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_runs_round_trip(tmp_path):
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.start_run("r1", "sentiment", "2025-01-01T00:00:00+00:00", {"by": "energy"})
        store.start_run("r2", "sentiment", "2025-01-02T00:00:00+00:00", {"by": "params"})
        store.start_run("r3", "spam", "2025-01-03T00:00:00+00:00", {})
        with pytest.raises(StoreError, match="no results yet"):
            store.get_run("r1")
        store.update_run("r1", "complete", _rec("r1", "tiny", n=3))
        store.update_run("r2", "interrupted", _rec("r2", None, n=1))

        assert store.get_run("r1") == _rec("r1", "tiny", n=3)
        assert [r.run_id for r in store.runs()] == ["r3", "r2", "r1"]
        assert [r.run_id for r in store.runs(limit=2)] == ["r3", "r2"]
        r1 = store.runs()[2]
        assert isinstance(r1, RunRow)
        assert (r1.task, r1.status, r1.model, r1.n_candidates, r1.created_at) == (
            "sentiment",
            "complete",
            "tiny",
            3,
            "2025-01-01T00:00:00+00:00",
        )
        assert r1.updated_at >= "2025"
        assert store.runs()[0].status == "running" and store.runs()[0].model is None

        assert store.latest_run("sentiment").run_id == "r2"
        assert store.latest_run("sentiment", status="complete").run_id == "r1"
        assert store.latest_run("sentiment", status="running") is None
        assert store.latest_run("unknown-task") is None


def test_restarting_a_run_keeps_its_results(tmp_path):
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.start_run("r1", "sentiment", "2025-01-01T00:00:00+00:00", {})
        store.update_run("r1", "interrupted", _rec("r1", None))
        store.start_run("r1", "sentiment", "2025-01-01T00:00:00+00:00", {})
        assert store.latest_run("sentiment").status == "running"
        assert store.get_run("r1") == _rec("r1", None)


def test_reopen_keeps_data(tmp_path):
    path = tmp_path / "s.sqlite"
    key = measurement_key({"m": 1})
    store = ResultStore(path)
    store.put_measurement(key, "r1", "tiny", PAYLOAD)
    store.start_run("r1", "toy", "2025-01-01T00:00:00+00:00", {"seed": 1})
    store.update_run("r1", "complete", _rec("r1", "tiny"))
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get_measurement(key)
    with ResultStore(path) as again:
        assert again.get_measurement(key) == PAYLOAD
        assert again.get_run("r1")["model"] == "tiny"
        assert [r.run_id for r in again.runs()] == ["r1"]


def test_unknown_run_names_the_id_and_suggests(tmp_path):
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.start_run("20250101-120000-toy", "toy", "2025-01-01T00:00:00+00:00", {})
        with pytest.raises(StoreError) as info:
            store.get_run("20250101-120001-toy")
        msg = str(info.value)
        assert "'20250101-120001-toy'" in msg and "did you mean '20250101-120000-toy'" in msg
        assert "\n" not in msg
        with pytest.raises(StoreError, match="never started"):
            store.update_run("nope", "complete", _rec("nope", None))


def test_random_bytes_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "junk.sqlite"
    data = b"this is not sqlite" + os.urandom(4096)
    path.write_bytes(data)
    with pytest.raises(StoreError) as info:
        ResultStore(path)
    msg = str(info.value)
    assert str(path) in msg and "not a SQLite database" in msg and "\n" not in msg
    assert isinstance(info.value, AdvisorError)
    assert path.read_bytes() == data


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    with pytest.raises(StoreError) as info:
        ResultStore(path)
    assert str(path) in str(info.value) and "customers" in str(info.value)
    with sqlite3.connect(path) as conn:  # not converted into a store
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["customers"]


def test_newer_schema_version_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    ResultStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {STORE_SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError) as info:
        ResultStore(path)
    assert str(path) in str(info.value) and f"version {STORE_SCHEMA_VERSION + 1}" in str(info.value)


def test_unusable_path_is_a_store_error(tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(StoreError, match="cannot open|result store error"):
        ResultStore(folder)


def _write_many(path: str, worker: int, count: int, barrier) -> None:
    barrier.wait(timeout=60)
    with ResultStore(path) as store:
        for i in range(count):
            store.put_measurement(measurement_key({"worker": worker, "i": i}), f"run-{worker}", f"cand-{i}", {"energy_j": float(i)})


def test_two_processes_write_the_same_store(tmp_path):
    path = tmp_path / "shared.sqlite"
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_write_many, args=(str(path), w, 200, barrier)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    with ResultStore(path) as store:
        assert store.get_measurement(measurement_key({"worker": 1, "i": 199})) == {"energy_j": 199.0}
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 400
        assert conn.execute("SELECT COUNT(DISTINCT run_id) FROM measurements").fetchone()[0] == 2


# ---------------------------------------------------------------- schema upgrade, owners, claims, private files
_V2_SCHEMA = [
    """CREATE TABLE measurements (key TEXT PRIMARY KEY, run_id TEXT NOT NULL, candidate TEXT NOT NULL,
        payload TEXT NOT NULL, created_at TEXT NOT NULL)""",
    """CREATE TABLE runs (run_id TEXT PRIMARY KEY, task TEXT NOT NULL, status TEXT NOT NULL, model TEXT,
        n_candidates INTEGER NOT NULL DEFAULT 0, settings TEXT NOT NULL, recommendation TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    """CREATE TABLE jobs (job_id TEXT PRIMARY KEY, status TEXT NOT NULL, request TEXT NOT NULL, progress TEXT,
        run_id TEXT, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    "CREATE INDEX runs_by_task ON runs (task, created_at)",
    "PRAGMA user_version = 2",
]


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_version_2_store_is_upgraded_in_place_and_stays_readable(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        for sql in _V2_SCHEMA:
            conn.execute(sql)
        conn.execute("INSERT INTO measurements VALUES ('k', 'r1', 'tiny', '{\"energy_j\": 1.0}', '2025-01-01T00:00:00+00:00')")
        conn.execute(
            "INSERT INTO runs (run_id, task, status, settings, recommendation, created_at, updated_at) VALUES "
            "('r1', 'toy', 'complete', '{}', '{\"model\": \"tiny\"}', '2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00')"
        )
        conn.execute(
            "INSERT INTO runs (run_id, task, status, settings, recommendation, created_at, updated_at) VALUES "
            "('r2', 'toy', 'running', '{}', '{\"status\": \"running\"}', "
            "'2025-01-02T00:00:00+00:00', '2025-01-02T00:00:00+00:00')"
        )
        conn.execute("INSERT INTO jobs VALUES ('j1', 'queued', '{\"task\": \"spam\"}', NULL, NULL, NULL, '2025-01-01', '2025-01-01')")
    with ResultStore(path) as store:
        assert store.get_measurement("k") == {"energy_j": 1.0}
        assert store.get_run("r1") == {"model": "tiny"}
        assert store.job("j1")["request"] == {"task": "spam"} and store.job("j1")["owner_pid"] is None
        # a run an older advisor left running has no owner that could still write it: interrupted
        assert [(r.run_id, r.status) for r in store.runs()] == [("r2", "interrupted"), ("r1", "complete")]
        assert store.get_run("r2") == {"status": "interrupted"}
        assert store.claim_next_job()["id"] == "j1"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == STORE_SCHEMA_VERSION == 3
        for table in ("runs", "jobs"):
            assert {"owner_pid", "heartbeat_at"} <= {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        assert conn.execute("SELECT owner_pid FROM jobs").fetchone()[0] == os.getpid()


def test_a_new_store_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with ResultStore(tmp_path / "s.sqlite") as store:
            store.put_measurement("k", "r", "c", {"x": 1})
            files = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    finally:
        os.umask(old)
    assert files == {"s.sqlite": 0o600, "s.sqlite-wal": 0o600, "s.sqlite-shm": 0o600}


def _start_run_and_die(path: str, run_id: str, how: str) -> None:
    store = ResultStore(path)
    store.start_run(run_id, "toy", "2025-01-01T00:00:00+00:00", {})
    store.update_run(run_id, "running", {"run_id": run_id, "status": "running", "candidates": []})
    if how == "kill":
        os.kill(os.getpid(), 9)
    os._exit(0)  # ends without finishing the run either way


def test_a_run_whose_owner_died_is_interrupted_on_the_next_open(tmp_path):
    path = tmp_path / "s.sqlite"
    ctx = mp.get_context("spawn")
    for run_id, how in (("killed", "kill"), ("vanished", "exit")):
        p = ctx.Process(target=_start_run_and_die, args=(str(path), run_id, how))
        p.start()
        p.join(timeout=60)
    with ResultStore(path) as store:
        store.start_run("mine", "toy", "2025-01-02T00:00:00+00:00", {})  # owned by this live process
    with ResultStore(path) as store:
        assert {r.run_id: r.status for r in store.runs()} == {"killed": "interrupted", "vanished": "interrupted", "mine": "running"}
        assert store.get_run("killed")["status"] == "interrupted"
        assert store.run_owner("mine")["owner_pid"] == os.getpid()
        assert store.mark_orphaned_runs() == []
        store.start_run("killed", "toy", "2025-01-01T00:00:00+00:00", {})  # a resume takes it over
        assert store.run_owner("killed") | {"heartbeat_at": None} == {"status": "running", "owner_pid": os.getpid(), "heartbeat_at": None}


def test_heartbeat_run_only_for_the_owner(tmp_path):
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.start_run("r1", "toy", "2025-01-01T00:00:00+00:00", {})
        first = store.run_owner("r1")["heartbeat_at"]
        time.sleep(0.01)
        assert store.heartbeat_run("r1") is True
        assert store.run_owner("r1")["heartbeat_at"] > first
        assert store.heartbeat_run("unknown") is False
        with sqlite3.connect(store.path) as conn:
            conn.execute("UPDATE runs SET owner_pid = ? WHERE run_id = 'r1'", (_dead_pid(),))
        assert store.heartbeat_run("r1") is False
        assert store.mark_orphaned_runs() == ["r1"]


def _claim_then(path: str, key: str, then: str, ready, go) -> None:
    with ResultStore(path) as store:
        assert store.claim_measurement(key, "run-child")
        ready.set()
        go.wait(timeout=60)
        if then == "store":
            store.put_measurement(key, "run-child", "tiny", PAYLOAD)
        elif then == "release":
            store.release_measurement(key, "run-child")
        elif then == "die":
            os.kill(os.getpid(), 9)


@pytest.mark.parametrize("then", ["store", "release", "die"])
def test_a_second_run_waits_for_the_first_runs_measurement(tmp_path, then):
    path, key = tmp_path / "s.sqlite", measurement_key({"model": "tiny"})
    ResultStore(path).close()
    ctx = mp.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_claim_then, args=(str(path), key, then, ready, go))
    child.start()
    try:
        assert ready.wait(timeout=60)
        with ResultStore(path) as store:
            assert store.claim_measurement(key, "run-parent") is False  # the child holds a fresh claim
            assert store.measurement_claim(key)["run_id"] == "run-child"
            assert store.release_measurement(key) is False  # not this process's claim
            t0 = time.monotonic()
            assert store.wait_for_measurement(key, timeout_s=0.3, poll_s=0.05) is None  # timed out: still measuring
            assert time.monotonic() - t0 >= 0.3
            go.set()
            got = store.wait_for_measurement(key, timeout_s=30, poll_s=0.05)
            if then == "store":
                assert got == PAYLOAD and store.measurement_claim(key) is None
            else:  # released without a measurement, or its owner died: the waiter measures it itself
                assert got is None
                assert store.claim_measurement(key, "run-parent") is True
                assert store.measurement_claim(key)["owner_pid"] == os.getpid()
            assert time.monotonic() - t0 < 20
    finally:
        go.set()
        child.join(timeout=60)


def test_a_stale_claim_is_taken_over_and_an_own_claim_refreshed(tmp_path):
    key = measurement_key({"model": "tiny"})
    with ResultStore(tmp_path / "s.sqlite") as store:
        assert store.claim_measurement(key, "r1") is True
        assert store.claim_measurement(key, "r1") is True  # re-entrant for the holder
        assert store.claim_measurement(key, "r2") is False  # another run, even in this process
        with sqlite3.connect(store.path) as conn:
            conn.execute("UPDATE claims SET heartbeat_at = heartbeat_at - 1000")
        assert store.wait_for_measurement(key, timeout_s=5) is None  # a hung holder does not block for ever
        store.heartbeat_run("r1")  # r1 has no run row here, but its claims are still refreshed
        assert store.claim_measurement(key, "r2") is False
        with sqlite3.connect(store.path) as conn:
            conn.execute("UPDATE claims SET heartbeat_at = heartbeat_at - 1000")
        assert store.claim_measurement(key, "r2") is True and store.measurement_claim(key)["run_id"] == "r2"
        assert store.release_measurement(key, "r1") is False and store.release_measurement(key, "r2") is True
        assert store.measurement_claim(key) is None


def test_a_job_has_one_owner_and_a_stale_owners_writes_are_refused(tmp_path):
    from advisor.store import StaleOwner

    server, dead = os.getpid(), _dead_pid()
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.add_job("j1", {"task": "spam"})
        job = store.claim_next_job()
        assert (job["status"], job["owner_pid"]) == ("running", server) and job["heartbeat_at"] > 0
        assert store.take_job("j1", 4242, from_pid=dead) is False  # not held by that process
        assert store.take_job("j1", dead, from_pid=server) is True  # the worker takes it over from its server
        with pytest.raises(StaleOwner, match="j1"):
            store.update_job("j1", owner=server, status="complete")
        store.update_job("j1", owner=dead, progress={"phase": "fit"})
        assert store.job("j1")["progress"] == {"phase": "fit"}

        assert store.requeue_running_jobs() == 1  # its owner is gone
        job = store.job("j1")
        assert (job["status"], job["owner_pid"]) == ("queued", None)
        with pytest.raises(StaleOwner):  # the old worker, had it lived, could not write any more
            store.update_job("j1", owner=dead, status="failed", error="late")
        assert store.heartbeat_job("j1", dead) is False
        assert store.job("j1")["status"] == "queued"

        store.claim_next_job()  # owned by this live process
        assert store.heartbeat_job("j1", server) is True
        assert store.requeue_running_jobs() == 0 and store.job("j1")["status"] == "running"  # a live owner keeps it
        store.update_job("j1", status="cancelling")
        with sqlite3.connect(store.path) as conn:
            conn.execute("UPDATE jobs SET owner_pid = ?", (dead,))
        assert store.requeue_running_jobs() == 1 and store.job("j1")["status"] == "cancelled"


def test_a_reused_pid_is_not_the_owner():
    from advisor.measure.supervisor import owner_alive

    assert owner_alive(os.getpid(), time.time())
    assert not owner_alive(_dead_pid(), time.time())
    assert not owner_alive(None) and not owner_alive(0)
    if os.path.exists(f"/proc/{os.getpid()}/stat"):  # this process started long after that heartbeat
        assert not owner_alive(os.getpid(), time.time() - 3600 * 24 * 365)
