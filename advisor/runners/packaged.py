"""A runner from a registry entry and what the model knows of the task, and from an exported package (one model, or
a cascade of packaged stages): what ``advisor.load``, the export and a cascade's measurement build their models with."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from advisor.runners.base import Runner
    from advisor.spec.package import Manifest
    from advisor.spec.schema import CandidateSpec


def runner_for(spec: CandidateSpec, task: Mapping[str, Any], task_type: str, batch_size: int, device: str) -> Runner:
    """The runner of ``spec`` (not loaded) with what the model knows of the task (``task``: labels, prompt, few-shot
    examples, class weighting, seed), at ``batch_size`` on ``device``.

    Raises:
        SourceUnavailable: the model's files cannot be had here.
    """
    from advisor.runners import RunContext, runner_class
    from advisor.spec.schema import PromptSpec
    from advisor.spec.sources import resolve

    ctx = RunContext(
        label_names=list(task.get("label_names") or []),
        prompt=PromptSpec.model_validate(task.get("prompt") or {}),
        seed=int(task.get("seed") or 0),
        batch_size=batch_size,
        few_shot_texts=list(task.get("few_shot_texts") or []),
        few_shot_labels=list(task.get("few_shot_labels") or []),
        class_weight=task.get("class_weight"),
        task_type=task_type,
        device=device,
    )
    path, tok = (resolve(src) if src is not None else None for src in (spec.source, spec.tokenizer))
    return runner_class(spec.kind)(spec, path, ctx, tok)


def package_runner(folder: Path, manifest: Manifest, device: str | None = None, threads: int | None = None) -> Runner:
    """The loaded model of a package (its files checked already), at the package's serving configuration: one runner,
    or a :class:`~advisor.runners.cascade.Pipeline` of the stages' packages under it.

    Raises:
        PackageError: a model that cannot load here, or a stage folder outside the package (one line, with the fix).
    """
    from advisor.spec.package import MANIFEST, PackageError, package_entry, read_manifest
    from advisor.spec.sources import SourceUnavailable

    if manifest.entry.get("kind") == "cascade":
        from advisor.runners.cascade import Pipeline

        root, stages = folder.resolve(), []
        try:
            for rel in manifest.entry.get("stages") or []:
                path = (folder / str(rel)).resolve()
                if not path.is_relative_to(root) or path == root:
                    raise PackageError(f"{folder / MANIFEST}: entry.stages '{rel}' leads outside the package; export the cascade again")
                stages.append(package_runner(path, read_manifest(path, verify=False), device, threads))
        except BaseException:
            for r in stages:
                r.close()
            raise
        if len(stages) < 2:
            raise PackageError(f"{folder / MANIFEST}: a cascade needs two stages or more; export the cascade again")
        return Pipeline(stages, float(manifest.entry.get("gate", 1.0)))
    t, s = manifest.task, manifest.serving
    try:
        runner = runner_for(package_entry(folder, manifest), t.model_dump(), t.type, s.batch_size, device or s.device)
    except SourceUnavailable as exc:
        raise PackageError(f"{folder}: the model's files cannot be had here: {exc}") from None
    try:
        runner.load()
        if threads or s.threads:
            runner.set_threads(threads or s.threads)
    except Exception as exc:
        runner.close()
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PackageError(f"{folder}: the model did not load ({type(exc).__name__}: {first})") from exc
    return runner
