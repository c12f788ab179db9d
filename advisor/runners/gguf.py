"""GGUF models: a full-precision copy made once in the cache, shared by every kind that runs GGUF files."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from advisor.paths import cache_dir
from advisor.sources import content_hash


def dequantised_copy(gguf: Path) -> Path:
    """Full-precision copy of a GGUF model in the cache, made on first use (tens of seconds)."""
    target = cache_dir() / "dequantised" / f"{gguf.stem}-{content_hash(gguf)}"
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model.hf_quantizer = None  # transformers refuses to save a GGUF-loaded model otherwise
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent))
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    try:
        tmp.rename(target)
    except OSError:  # another process made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target
