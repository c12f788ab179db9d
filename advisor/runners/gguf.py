"""Causal language models, from a folder or a GGUF file, for every kind that runs them.

A GGUF file is dequantised once into a full-precision copy in the cache (tens of seconds), and the
copy is *checked to behave like its source* before it is kept and each time it is reused: the same
token ids and decoded text on fixed probe texts, and the same next-token logits on a fixed input (to
a small tolerance). Without that check a copy can look fine and feed the model garbage: transformers
names a GGUF tokenizer after the model family (e.g. ``CodeLlamaTokenizer`` for SmolLM2), and that
class, reloaded from the saved files, re-splits the text its own way. The copy is therefore saved as
the generic fast tokenizer its ``tokenizer.json`` describes; where even that does not reproduce the
source, the copy keeps no tokenizer and the tokenizer is rebuilt from the GGUF file at each load
(slower, but right). A copy that fails its check on reuse (edited, truncated, made by an older
version) is made again, with a warning saying why.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from advisor.paths import cache_dir
from advisor.runners.bespoke import damaged, lineage, locked, making
from advisor.spec.sources import content_hash

CHECK = "check.json"
CHECK_VERSION = 1
PROBES = (
    "The capital of France is Paris.",
    "  Two spaces, a tab\tand a new line\n— naïve café, 42% off!",
    "Q: What is 2+2?\nA: 4",
)
LOGITS_TOP = 8
LOGITS_TOLERANCE = 1e-3  # relative, on the largest logits; a faithful float32 copy differs by ~1e-6
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "chat_template.jinja")

log = logging.getLogger("advisor")


class CopyMismatch(Exception):
    """A dequantised copy does not behave like its GGUF source (the message says how)."""


def is_gguf(path: Path) -> bool:
    """Whether ``path`` is a GGUF file (rather than a model folder)."""
    return path.is_file() and path.suffix == ".gguf"


def load_causal_lm(path: Path, device: str = "cpu", tokenizer_path: Path | None = None) -> tuple[Any, Any]:
    """The tokenizer and float32 model of a model folder or GGUF file, on ``device``, in eval mode.

    A GGUF file goes through its checked full-precision copy (:func:`dequantised_copy`).

    Raises:
        CopyMismatch: a copy made just now does not reproduce its source (the weights cannot be saved
            faithfully); nothing is kept in the cache then.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not is_gguf(path):
        tok = AutoTokenizer.from_pretrained(str(tokenizer_path or path), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=torch.float32)
        return tok, model.to(device).eval()
    folder = dequantised_copy(path)
    record = _record(folder)
    try:
        tok, model = _load_checked(folder, record, path, tokenizer_path)
    except CopyMismatch as exc:  # checked when made, so something changed it since: make it again
        log.warning("%s: the cached copy %s does not behave like its source (%s): made again", path.name, folder, exc)
        shutil.rmtree(folder, ignore_errors=True)
        folder = dequantised_copy(path)
        tok, model = _load_checked(folder, _record(folder), path, tokenizer_path)
    return tok, model.to(device).eval()


def dequantised_copy(gguf: Path) -> Path:
    """The checked full-precision copy of ``gguf`` in the cache, made on first use (tens of seconds).

    A folder there without a valid check record (interrupted, or made before copies were checked) is
    replaced.
    """
    target = cache_dir() / "dequantised" / f"{gguf.stem}-{content_hash(gguf)}"
    with locked(target):
        facts = lineage(target)
        why = damaged(target, facts) if facts is not None and _record(target) is not None else "it carries no check record"
        if why is None:
            return target
        if target.exists():
            log.warning("%s: the cached copy %s is not usable (%s): made again", gguf.name, target, why)
            shutil.rmtree(target, ignore_errors=True)
        with making(target, {"method": "dequantised", "source": str(gguf), "source_hash": content_hash(gguf)}) as tmp:
            _make(gguf, tmp)
    return target


def _record(folder: Path) -> dict | None:
    try:
        record = json.loads((folder / CHECK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("version") == CHECK_VERSION else None


def _source_tokenizer(gguf: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def _source_model(gguf: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32).eval()


def _probes(tok: Any) -> list[dict]:
    out = []
    for text in PROBES:
        ids = [int(i) for i in tok(text)["input_ids"]]
        out.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True)})
    return out


def _top_logits(model: Any, ids: list[int]) -> dict:
    """The ``LOGITS_TOP`` largest next-token logits after ``ids``: their token ids and values."""
    import torch

    with torch.no_grad():
        last = model(torch.tensor([ids], device=model.device)).logits[0, -1].float().cpu()
    values, index = torch.topk(last, LOGITS_TOP)
    return {"ids": ids, "top_ids": index.tolist(), "top_values": values.tolist()}


def _tokenizer_differs(tok: Any, expected: list[dict]) -> str | None:
    for got, want in zip(_probes(tok), expected):
        if got["ids"] != want["ids"]:
            return f"{want['text']!r} encodes to {len(got['ids'])} ids, not the source's {len(want['ids'])}"
        if got["decoded"] != want["decoded"]:
            return f"{want['text']!r} decodes to {got['decoded']!r}"
    return None


def _logits_differ(model: Any, expected: dict) -> str | None:
    got = _top_logits(model, expected["ids"])
    if got["top_ids"] != expected["top_ids"]:
        return "the next-token ranking on a fixed input changed"
    worst = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(got["top_values"], expected["top_values"]))
    return f"next-token logits differ by {worst:.2g} (tolerance {LOGITS_TOLERANCE:g})" if worst > LOGITS_TOLERANCE else None


def _save_tokenizer(tok: Any, folder: Path) -> None:
    """Save ``tok`` as the generic fast tokenizer its ``tokenizer.json`` describes (not the family class transformers named)."""
    tok.save_pretrained(str(folder))
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")


def _make(gguf: Path, folder: Path) -> None:
    """Dequantise ``gguf`` into ``folder`` and check the result against the source before it is kept."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = _source_tokenizer(gguf)
    model = _source_model(gguf)
    probes = _probes(tok)
    logits = _top_logits(model, probes[0]["ids"])
    model.hf_quantizer = None  # transformers refuses to save a GGUF-loaded model otherwise
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(folder))
    _save_tokenizer(tok, folder)
    tokenizer_from = "copy"
    why = _tokenizer_differs(AutoTokenizer.from_pretrained(str(folder), local_files_only=True), probes)
    if why:
        log.warning("%s: its tokenizer cannot be saved faithfully (%s): it is rebuilt from the GGUF file at each load", gguf.name, why)
        for name in _TOKENIZER_FILES:
            (folder / name).unlink(missing_ok=True)
        tokenizer_from = "gguf"
    reloaded = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32).eval()
    why = _logits_differ(reloaded, logits)
    if why:
        raise CopyMismatch(f"{gguf.name}: the dequantised copy does not reproduce the GGUF model ({why}); nothing was cached")
    record = {"version": CHECK_VERSION, "tokenizer": tokenizer_from, "probes": probes, "logits": logits}
    (folder / CHECK).write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")


def _load_checked(folder: Path, record: dict | None, gguf: Path, tokenizer_path: Path | None) -> tuple[Any, Any]:
    """Load the copy in ``folder`` and check it against its record; raise :class:`CopyMismatch` if it differs."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if record is None:
        raise CopyMismatch("no check record")
    if tokenizer_path is not None:
        tok = AutoTokenizer.from_pretrained(str(tokenizer_path), local_files_only=True)
    elif record["tokenizer"] == "gguf":
        tok = _source_tokenizer(gguf)
    else:
        try:
            tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise CopyMismatch(f"its tokenizer does not load: {exc}") from None
        why = _tokenizer_differs(tok, record["probes"])
        if why:
            raise CopyMismatch(why)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32).eval()
    except Exception as exc:  # safetensors, torch and json errors alike: the files are not a loadable model
        raise CopyMismatch(f"its weights do not load: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    why = _logits_differ(model, record["logits"])
    if why:
        raise CopyMismatch(why)
    return tok, model
