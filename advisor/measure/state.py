"""The fitted state of a measured candidate, kept beside its measurement (keyed the same way, so a reused
measurement keeps its state too): the model that was measured can then be exported later without measuring again.

A state folder holds ``state.json`` and what was fitted on the samples (``fitted.joblib``: a TF-IDF pipeline, or a
head). ``state.json`` names the registry entry that loads this very model again (a made body or vectors by their
absolute path in the cache; a file inside the state folder relative to it) and a reference: the deployed model's
own answers on the first samples, at the run's batch size, which an exported package must reproduce.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.paths import replace_folder
from advisor.runners import Prediction, RunContext, Runner
from advisor.spec.schema import CandidateSpec

if TYPE_CHECKING:
    from advisor.measure.candidate import Job

STATE_FILE = "state.json"
STATE_VERSION = 1
REFERENCE_MAX = 512
"""At most this many reference answers are kept (the first samples)."""
REFERENCE_PASS = 64
"""Samples predicted for the reference when the measurement itself produced no answer of the deployed model."""


def reference(pred: Prediction, texts: Sequence[str], batch_size: int, keep_texts: bool) -> dict[str, Any]:
    """The deployed model's answers on the first samples (texts kept only when the run keeps texts)."""
    n = min(len(pred.labels), REFERENCE_MAX)
    return {
        "batch_size": batch_size,
        "samples": n,
        "texts": list(texts[:n]) if keep_texts else None,
        "labels": [str(x) for x in pred.labels[:n]],
        "confidence": [float(c) for c in pred.confidence[:n]],
    }


def _absolute(entry: dict, registry_dir: Path | None, folder: Path) -> dict:
    """``entry`` with local sources absolute, and a fitted file inside ``folder`` relative to it."""
    out = dict(entry)
    for role in ("source", "tokenizer"):
        src = out.get(role)
        if isinstance(src, dict) and src.get("local") and not Path(src["local"]).expanduser().is_absolute() and registry_dir:
            out[role] = {**src, "local": str((registry_dir / src["local"]).resolve())}
    fitted = (out.get("options") or {}).get("fitted")
    if fitted and Path(fitted).is_relative_to(folder):
        out["options"] = {**out["options"], "fitted": str(Path(fitted).relative_to(folder))}
    return out


def context_of(ctx: RunContext) -> dict[str, Any]:
    """What a model needs to know about the task to answer as it did (labels, prompt, few-shot examples), as JSON."""
    keep = ("label_names", "few_shot_texts", "few_shot_labels", "class_weight", "task_type", "seed")
    return {**{k: getattr(ctx, k) for k in keep}, "prompt": ctx.prompt.model_dump(mode="json")}


def keep(runner: Runner, spec: CandidateSpec, registry_dir: Path | None, final: Path, ref: dict[str, Any], context: dict) -> str:
    """Write the state of ``runner``'s deployed model to ``final`` (replacing an older one whole); returns its path."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        fields = runner.keep_state(tmp)
        entry = _absolute({**spec.model_dump(mode="json", exclude_defaults=True), **fields, "variants": []}, registry_dir, tmp)
        state = {"version": STATE_VERSION, "candidate": spec.name, "entry": entry, "context": context, "reference": ref}
        (tmp / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
        replace_folder(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(final)


def read(folder: str | Path) -> dict[str, Any]:
    """A kept state: ``entry`` (its fitted file made absolute) and ``reference``.

    Raises:
        FileNotFoundError: the folder or its ``state.json`` is gone.
        ValueError: the file is not a state this advisor reads.
    """
    folder = Path(folder)
    state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION or "entry" not in state:
        raise ValueError(f"{folder / STATE_FILE} is not a fitted state this advisor reads")
    fitted = (state["entry"].get("options") or {}).get("fitted")
    if fitted and not Path(fitted).is_absolute():
        state["entry"]["options"]["fitted"] = str(folder / fitted)
    return state


def disk_bytes(folder: str | Path) -> int:
    """What a kept state takes on disk."""
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())


def keep_measured(runner: Runner, job: Job, answers: Prediction, seen: list[Prediction]) -> str | None:
    """Keep the state of a fully measured candidate in ``job.state_dir``; None when there is none to keep there.

    ``answers`` are the quality pass's predictions (the deployed model's own for a ready model; out of fold for a
    trainable one); ``seen`` the deployed model's answers in its energy windows. A trainable model that had no
    windows (its inference figures were kept from fewer samples) answers :data:`REFERENCE_PASS` samples here.
    """
    if not job.state_dir:
        return None
    from advisor.measure.windows import predict_all

    if runner.trainable:
        bs = job.measurement.batch_size
        answers = Prediction.concat(seen) if seen else predict_all(runner, job.texts[:REFERENCE_PASS], bs, lambda *_: None, "reference")
    ref = reference(answers, job.texts, job.measurement.batch_size, job.keep_texts)
    try:
        return keep(runner, job.spec, job.registry_dir, Path(job.state_dir), ref, context_of(job.context))
    except (OSError, TypeError, ValueError):  # a state that cannot be written never costs the measurement
        return None
