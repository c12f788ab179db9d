"""The dequantised copy of a GGUF model is checked against its source when made and when reused.

A tiny random Llama stands in for the GGUF file's contents (the two functions that read a GGUF file
are replaced), so these tests run in seconds; the real SmolLM2 file goes through the same code in
``test_generative.py``'s slow test, from an empty cache.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from advisor.runners import gguf
from tests.tiny_models import make_causal_lm, randomize


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch):
    """A ``.gguf`` path whose 'contents' are a tiny Llama folder; counts how often the source is read."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = make_causal_lm(tmp_path / "source", tokenizer="metaspace")
    model = AutoModelForCausalLM.from_pretrained(str(source))
    randomize(model, std=0.5)  # logits spread out, so a changed weight shows
    model.save_pretrained(str(source))
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF stand-in")
    reads = {"tokenizer": 0, "model": 0}

    def tokenizer(_):
        reads["tokenizer"] += 1
        return AutoTokenizer.from_pretrained(str(source))

    def weights(_):
        reads["model"] += 1
        return AutoModelForCausalLM.from_pretrained(str(source)).eval()

    monkeypatch.setattr(gguf, "_source_tokenizer", tokenizer)
    monkeypatch.setattr(gguf, "_source_model", weights)
    return path, source, reads


def _ids(tok) -> list[list[int]]:
    return [tok(t)["input_ids"] for t in gguf.PROBES]


def test_copy_is_made_once_then_reused_and_behaves_like_its_source(fake_gguf):
    from transformers import AutoTokenizer

    path, source, reads = fake_gguf
    tok, model = gguf.load_causal_lm(path)
    folder = gguf.dequantised_copy(path)
    record = json.loads((folder / gguf.CHECK).read_text())
    assert record["tokenizer"] == "copy" and len(record["probes"]) == len(gguf.PROBES)
    assert _ids(tok) == _ids(AutoTokenizer.from_pretrained(str(source)))
    assert json.loads((folder / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert reads == {"tokenizer": 1, "model": 1}
    tok2, _ = gguf.load_causal_lm(path)
    assert reads == {"tokenizer": 1, "model": 1}, "a checked copy is reused without reading the source again"
    assert _ids(tok2) == _ids(tok)


def _vocab_shuffled(folder: Path) -> None:
    tj = json.loads((folder / "tokenizer.json").read_text())
    vocab = tj["model"]["vocab"]
    words = [w for w, i in vocab.items() if i >= 4]  # leave the special tokens alone
    ids = sorted(vocab[w] for w in words)
    for w, i in zip(words, reversed(ids)):
        vocab[w] = i
    (folder / "tokenizer.json").write_text(json.dumps(tj))


def _recorded_anew(folder: Path) -> None:
    """The copy's lineage hashes rewritten to its present files: only the behaviour check can tell it changed."""
    from advisor.runners import bespoke

    facts = bespoke.lineage(folder)
    (folder / bespoke.LINEAGE).write_text(json.dumps({**facts, "files": bespoke.file_hashes(folder)}))


def test_a_copy_whose_files_changed_is_found_by_its_hashes(fake_gguf, caplog):
    path, _, reads = fake_gguf
    want, _ = gguf.load_causal_lm(path)
    _vocab_shuffled(gguf.dequantised_copy(path))
    with caplog.at_level(logging.WARNING, logger="advisor"):
        tok, _ = gguf.load_causal_lm(path)
    assert "tokenizer.json changed" in caplog.text and "made again" in caplog.text
    assert reads["model"] == 2 and _ids(tok) == _ids(want)


def test_a_copy_whose_tokenizer_changed_is_made_again(fake_gguf, caplog):
    path, _, reads = fake_gguf
    want, _ = gguf.load_causal_lm(path)
    folder = gguf.dequantised_copy(path)
    _vocab_shuffled(folder)
    _recorded_anew(folder)
    with caplog.at_level(logging.WARNING, logger="advisor"):
        tok, _ = gguf.load_causal_lm(path)
    assert "does not behave like its source" in caplog.text and "made again" in caplog.text
    assert reads["model"] == 2
    assert _ids(tok) == _ids(want)


def test_a_copy_whose_weights_changed_is_made_again(fake_gguf, caplog):
    import torch
    from safetensors.torch import load_file, save_file

    path, _, reads = fake_gguf
    _, model = gguf.load_causal_lm(path)
    folder = gguf.dequantised_copy(path)
    weights = load_file(str(folder / "model.safetensors"))
    name = next(k for k in weights if k.endswith("lm_head.weight"))
    weights[name] = weights[name] + torch.randn_like(weights[name])
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    _recorded_anew(folder)
    with caplog.at_level(logging.WARNING, logger="advisor"):
        _, again = gguf.load_causal_lm(path)
    assert "logits" in caplog.text or "ranking" in caplog.text
    assert reads["model"] == 2
    assert torch.equal(again.lm_head.weight, model.lm_head.weight)


def test_a_truncated_copy_is_made_again(fake_gguf, caplog):
    path, _, reads = fake_gguf
    gguf.load_causal_lm(path)
    weights = gguf.dequantised_copy(path) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="advisor"):
        gguf.load_causal_lm(path)
    assert "model.safetensors changed" in caplog.text  # its hash finds it before loading does
    assert reads["model"] == 2


def test_a_copy_without_a_check_record_is_replaced(fake_gguf, caplog):
    path, _, reads = fake_gguf
    gguf.load_causal_lm(path)
    (gguf.dequantised_copy(path) / gguf.CHECK).unlink()
    with caplog.at_level(logging.WARNING, logger="advisor"):
        gguf.load_causal_lm(path)
    assert "no check record" in caplog.text
    assert reads["model"] == 2 and (gguf.dequantised_copy(path) / gguf.CHECK).is_file()


def test_a_tokenizer_that_cannot_be_saved_faithfully_is_rebuilt_from_the_source(fake_gguf, monkeypatch, caplog):
    path, source, reads = fake_gguf
    real_save = gguf._save_tokenizer

    def unfaithful(tok, folder):
        real_save(tok, folder)
        _vocab_shuffled(folder)

    monkeypatch.setattr(gguf, "_save_tokenizer", unfaithful)
    with caplog.at_level(logging.WARNING, logger="advisor"):
        tok, _ = gguf.load_causal_lm(path)
    assert "cannot be saved faithfully" in caplog.text
    folder = gguf.dequantised_copy(path)
    assert json.loads((folder / gguf.CHECK).read_text())["tokenizer"] == "gguf"
    assert not (folder / "tokenizer.json").exists()
    from transformers import AutoTokenizer

    assert _ids(tok) == _ids(AutoTokenizer.from_pretrained(str(source)))
    before = reads["tokenizer"]
    gguf.load_causal_lm(path)
    assert reads["tokenizer"] == before + 1 and reads["model"] == 1, "the tokenizer comes from the source; the weights from the copy"
