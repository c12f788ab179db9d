"""I/O faults: a full disk or a folder that cannot be written during a run gives one line naming the path and the
fix; what the run measured before stays in the store (a rerun reuses it); the previous good files stay intact.

Two kinds of fault: a ``Path.write_text`` that fails (any machine), and real ones the kernel enforces: a tmpfs of 2 MiB
mounted for the test and filled up (needs root or CAP_SYS_ADMIN; skipped with the reason elsewhere) and a file-size
limit (``RLIMIT_FSIZE``, any user) on the command's process.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import advisor
from advisor.errors import AdvisorError
from advisor.paths import WriteError, write_atomic
from advisor.store import ResultStore
from tests.conftest import FAST as _FAST
from tests.helpers import cli

FAST = {**_FAST, "exhaustive": True}


def _full_disk(after: int = 0):
    """A ``Path.write_text`` that fails with ENOSPC on temporary files after ``after`` writes."""
    real = Path.write_text
    calls = [0]

    def write_text(self, *a, **k):
        if ".tmp-" in self.name:
            calls[0] += 1
            if calls[0] > after:
                raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *a, **k)

    return write_text


def test_a_full_disk_leaves_the_old_file_whole_and_names_the_path(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text('{"good": true}')
    monkeypatch.setattr(Path, "write_text", _full_disk())
    with pytest.raises(WriteError, match=r"results.json: cannot be written \(No space left on device\); free space"):
        write_atomic(path, '{"new": 1}')
    monkeypatch.undo()
    assert path.read_text() == '{"good": true}' and [p.name for p in tmp_path.iterdir()] == ["results.json"]
    assert isinstance(WriteError("x"), AdvisorError) and isinstance(WriteError("x"), OSError)


def test_a_run_whose_disk_fills_up_keeps_what_it_measured(toy_task, tfidf_registry, tmp_path, monkeypatch):
    store = tmp_path / "s.sqlite"
    kw = dict(task=toy_task, registry=tfidf_registry, reports_dir=tmp_path / "r", store=store, **FAST)
    monkeypatch.setattr(Path, "write_text", _full_disk(after=2))  # results.json written twice, then the disk is full
    with pytest.raises(WriteError, match="No space left on device"):
        advisor.recommend(**kw)
    monkeypatch.undo()
    again = advisor.recommend(**kw)
    reused = [c for c in again.candidates if c.reused_from]
    assert reused, "what was measured before the disk filled up is reused, not measured again"


@pytest.mark.slow
def test_a_reports_folder_that_cannot_be_made_is_one_line(toy_task, tfidf_registry, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = ["--task", toy_task, "--registry", tfidf_registry, "--in-process", "--serving", "off"]
    r = cli("recommend", *args, "--reports-dir", blocker / "reports", "--store", tmp_path / "s.sqlite")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    text = " ".join(r.stderr.split())
    assert str(blocker) in text and "cannot be written" in text and "choose another folder" in text


@pytest.mark.parametrize(
    "problem,says",
    [("database or disk is full", "free space on its disk"), ("attempt to write a readonly database", "is read-only")],
)
def test_a_store_that_cannot_be_written_says_so_in_one_line(tmp_path, problem, says):
    with ResultStore(tmp_path / "s.sqlite") as s:
        message = s._describe(sqlite3.OperationalError(problem))
    assert message.startswith(str(tmp_path / "s.sqlite")) and says in message and "--store" in message


# ---------------------------------------------------------------- a real full disk: a small tmpfs filled up
class SmallDisk:
    """A real filesystem of 2 MiB mounted for the test: ``fill`` takes every free byte, ``free`` gives them back."""

    def __init__(self, root: Path):
        self.root, self._filler = root, root / ".filler"

    def fill(self) -> None:
        with open(self._filler, "ab", buffering=0) as f:  # unbuffered: a partial write returns, the next one fails
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
        assert shutil.disk_usage(self.root).free == 0

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)


def _mount_tmpfs(root: Path) -> str | None:
    """Mount a 2 MiB tmpfs on ``root``; why not, where it cannot be."""
    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        return "no Linux mount command"
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (or CAP_SYS_ADMIN); run the suite as root, e.g. in a container, to include it"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(root)], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.ismount(root):
        return f"mount -t tmpfs was refused ({' '.join(r.stderr.split()) or r.returncode})"
    return None


@pytest.fixture
def small_disk(tmp_path):
    root = tmp_path / "small-disk"
    root.mkdir()
    why = _mount_tmpfs(root)
    if why:
        pytest.skip(f"no real small disk: {why}; the write-failing and file-size-limit tests cover the same paths")
    try:
        yield SmallDisk(root)
    finally:
        if subprocess.run(["umount", str(root)], capture_output=True).returncode:
            subprocess.run(["umount", "--lazy", str(root)], capture_output=True)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _measured(store: Path) -> dict[str, str]:
    """Measurement key -> candidate, as the store holds them."""
    with sqlite3.connect(store) as c:
        return dict(c.execute("SELECT key, candidate FROM measurements").fetchall())


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(lines) == 1, r.stderr
    assert lines[0].startswith("error: "), lines
    return lines[0]


CLI_RUN = ["--in-process", "--serving", "off"]


@pytest.mark.slow
def test_a_run_on_a_full_disk_ends_in_one_line_and_leaves_the_earlier_files_whole(small_disk, toy_task, tfidf_registry, tmp_path):
    reports, store = small_disk.root / "reports", tmp_path / "s.sqlite"
    kw = dict(task=toy_task, registry=tfidf_registry, reports_dir=reports, store=store, **FAST)
    folder = reports / advisor.recommend(**kw).run_id
    before, measured = _files(folder), _measured(store)
    small_disk.fill()

    r = cli("recommend", "--task", toy_task, "--registry", tfidf_registry, *CLI_RUN, "--reports-dir", reports, "--store", store)
    line = _one_error_line(r)
    assert f"{reports}/" in line and "results.json: cannot be written (No space left on device)" in line, line
    assert "free space on its disk" in line and "choose another folder" in line
    r = cli("report", folder / "results.json")  # re-rendering in place on the full disk
    assert f"{folder / 'report.html'}: cannot be written (No space left on device)" in _one_error_line(r)

    assert _files(folder) == before  # byte for byte, and no temporary file left beside them
    assert not [p for p in reports.rglob("*") if ".tmp-" in p.name]
    assert _measured(store) == measured
    small_disk.free()
    again = advisor.recommend(**kw)
    assert again.status == "complete" and all(c.reused_from for c in again.candidates), "space freed: the rerun reuses all"


def test_a_disk_filling_up_mid_run_keeps_the_measurements_and_the_last_report(small_disk, toy_task, tfidf_registry, tmp_path, monkeypatch):
    reports, store = small_disk.root / "reports", tmp_path / "s.sqlite"
    kw = dict(task=toy_task, registry=tfidf_registry, reports_dir=reports, store=store, run_id="same", **FAST)
    advisor.recommend(**kw, seed=1)
    folder = reports / "same"
    reports_before, measured = {n: b for n, b in _files(folder).items() if n != "results.json"}, _measured(store)
    put = ResultStore.put_measurement

    def put_then_fill(self, *args, **kwargs):  # the disk fills up the moment the first new measurement is stored
        put(self, *args, **kwargs)
        if not shutil.disk_usage(small_disk.root).free == 0:
            small_disk.fill()

    monkeypatch.setattr(ResultStore, "put_measurement", put_then_fill)
    with pytest.raises(WriteError, match=rf"{folder / 'results.json'}: cannot be written \(No space left on device\)"):
        advisor.recommend(**kw, seed=2)
    monkeypatch.undo()
    kept = {k: c for k, c in _measured(store).items() if k not in measured}
    assert len(kept) == 1, "the measurement finished before the disk filled up stays in the store"
    assert json.loads((folder / "results.json").read_text())["status"] == "running"  # whole: the run's last good write
    assert {n: b for n, b in _files(folder).items() if n != "results.json"} == reports_before  # the report of the run before
    small_disk.free()
    again = advisor.recommend(**kw, seed=2)
    assert {c.name for c in again.candidates if c.reused_from} == set(kept.values()), "reused, not measured twice"


@pytest.mark.slow
def test_a_store_on_a_full_disk_is_one_line_and_keeps_its_measurements(small_disk, toy_task, tfidf_registry, tmp_path):
    store = small_disk.root / "s.sqlite"
    advisor.recommend(task=toy_task, registry=tfidf_registry, reports_dir=tmp_path / "r", store=store, **FAST)
    measured = _measured(store)
    small_disk.fill()
    r = cli("recommend", "--task", toy_task, "--registry", tfidf_registry, *CLI_RUN, "--reports-dir", tmp_path / "r", "--store", store)
    line = _one_error_line(r)
    assert line.startswith(f"error: {store}: ") and "free space on its disk" in line and "--store" in line, line
    small_disk.free()
    with sqlite3.connect(store) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert _measured(store) == measured


# ---------------------------------------------------------------- a real limit any user can set: RLIMIT_FSIZE
def test_a_file_size_limit_stops_a_report_in_one_line_and_keeps_the_old_one(toy_task, tfidf_registry, tmp_path):
    rec = advisor.recommend(task=toy_task, registry=tfidf_registry, reports_dir=tmp_path / "r", store=tmp_path / "s.sqlite", **FAST)
    folder = tmp_path / "r" / rec.run_id
    before = _files(folder)
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    limit = (folder / "report.html").stat().st_size // 2  # half the report: its new copy cannot be written whole
    limit = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    r = cli("report", folder / "results.json", preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard)))
    line = _one_error_line(r)  # the kernel refuses the write past the limit (EFBIG): the old report stays
    assert f"{folder / 'report.html'}: cannot be written (File too large)" in line, line
    assert _files(folder) == before
