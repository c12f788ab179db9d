"""I/O faults: a full disk or a folder that cannot be written during a run gives one line naming the path and the
fix; what the run measured before stays in the store (a rerun reuses it); the previous good files stay intact."""

from __future__ import annotations

import errno
import sqlite3
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
    reused = [c for c in again.candidates if c.details.get("reused_from")]
    assert reused, "what was measured before the disk filled up is reused, not measured again"


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
