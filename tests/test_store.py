"""The result store: measurements and runs survive reopening, foreign files are refused, writers can share it."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3

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
            "sentiment", "complete", "tiny", 3, "2025-01-01T00:00:00+00:00")
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
