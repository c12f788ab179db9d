"""Made models and caches: a copy whose files changed or were truncated since it was made is found by its recorded
hash and made again (with a line saying so); two processes asking for the same model at once make it once."""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from pathlib import Path

from advisor.runners import bespoke
from advisor.runners.encoder import HASH_FILE, _export_damaged
from advisor.spec.package import sha256


def _make_into(counter: Path):
    def make(folder: Path) -> None:
        with counter.open("a") as f:
            f.write("made\n")
        time.sleep(0.5)  # long enough for a second process to ask meanwhile
        (folder / "weights.bin").write_bytes(b"w" * 4096)
        (folder / "sub").mkdir()
        (folder / "sub" / "vocab.txt").write_text("a\nb\n")

    return make


def test_a_changed_or_truncated_made_model_is_made_again(tmp_path, caplog):
    final, counter = tmp_path / "made" / "m", tmp_path / "count"
    folder, earlier = bespoke.cached(final, _make_into(counter), {"method": "test"})
    assert earlier is None and set(bespoke.lineage(folder)["files"]) == {"weights.bin", "sub/vocab.txt"}
    _, earlier = bespoke.cached(final, _make_into(counter), {"method": "test"})
    assert earlier is not None and counter.read_text().count("made") == 1  # intact: reused
    (final / "weights.bin").write_bytes(b"w" * 100)  # truncated
    with caplog.at_level(logging.WARNING, logger="advisor"):
        _, earlier = bespoke.cached(final, _make_into(counter), {"method": "test"})
    assert earlier is None and counter.read_text().count("made") == 2
    assert "weights.bin changed" in caplog.text and "made again" in caplog.text
    (final / "sub" / "vocab.txt").unlink()
    _, earlier = bespoke.cached(final, _make_into(counter), {"method": "test"})
    assert earlier is None and counter.read_text().count("made") == 3


def test_a_model_made_before_hashes_were_kept_gets_them_on_first_use(tmp_path):
    final = tmp_path / "old"
    final.mkdir()
    (final / "weights.bin").write_bytes(b"x")
    (final / bespoke.LINEAGE).write_text('{"method": "test"}')
    _, earlier = bespoke.cached(final, lambda f: None, {"method": "test"})
    assert earlier is not None and "weights.bin" in bespoke.lineage(final)["files"]


def _ask(final: str, counter: str) -> None:
    bespoke.cached(Path(final), _make_into(Path(counter)), {"method": "test"})


def test_two_processes_asking_at_once_make_it_once(tmp_path):
    final, counter = tmp_path / "made" / "shared", tmp_path / "count"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_ask, args=(str(final), str(counter))) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert counter.read_text().count("made") == 1 and bespoke.lineage(final) is not None


def test_an_onnx_export_that_changed_is_found_by_its_hash(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"graph" * 100)
    assert _export_damaged(target) is None  # no hash yet: recorded now, trusted from then on
    assert (tmp_path / HASH_FILE).read_text() == sha256(target)
    target.write_bytes(b"graph")  # truncated
    assert "differs" in _export_damaged(target)
