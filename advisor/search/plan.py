"""Plan a run: load and check the task, registry and samples, order the candidates; nothing is measured yet."""

from __future__ import annotations

import os
import platform
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from advisor.core.results import CandidateResult, Environment, Recommendation, SampleSet, Search, TaskInfo
from advisor.core.rules import Rules, first_look_size
from advisor.errors import SpecError, did_you_mean
from advisor.measure.candidate import Job, resolved_sources
from advisor.measure.device import resolve_device
from advisor.paths import cache_dir, slug
from advisor.runners import RunContext
from advisor.search.adaptive import cost_order
from advisor.spec.kinds import KINDS
from advisor.spec.registry import Registry, check_local_sources, load_registry
from advisor.spec.schema import CandidateSpec
from advisor.spec.settings import Settings
from advisor.spec.sources import file_identity, parameter_count, size_on_disk, static_parameters
from advisor.spec.tasks import Samples, Task, load_task

_VERSIONS = (
    "advisor",
    "torch",
    "transformers",
    "sentence-transformers",
    "onnxruntime",
    "scikit-learn",
    "codecarbon",
    "datasets",
    "evaluate",
)


def environment() -> Environment:
    """Hardware and software facts recorded with every run."""
    versions = {}
    for name in _VERSIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return Environment(
        python=platform.python_version(),
        platform=platform.platform(),
        machine=platform.machine(),
        processor=platform.processor(),
        versions=versions,
    )


def new_run_id(task_name: str) -> str:
    """Time-ordered and unique, even for runs started in the same second; safe as a folder name."""
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}-{slug(task_name)}"


def run_folder(reports_dir: Path, run_id: str) -> Path:
    """``<reports_dir>/<run_id>``, checked to lie inside ``reports_dir``.

    Raises:
        SpecError: the run id would climb out of the reports folder.
    """
    base = Path(reports_dir).resolve()
    folder = (base / run_id).resolve()
    if folder.parent != base:
        raise SpecError(None, "run_id", f"'{run_id}' is not a plain folder name", "use letters, digits, '_', '.' and '-' only")
    return folder


def work_dir(run_id: str) -> Path:
    """A folder for a run's reusable work (e.g. embeddings kept between looks); removed when the run ends."""
    return cache_dir() / "runs" / slug(run_id, 128)


def run_context(task: Task, samples: Samples, settings: Settings, seed: int, work_dir: Path | None = None) -> RunContext:
    """What the runners may know about the task besides its samples."""
    k = task.spec.prompt.few_shot  # from the end of the draw order: rows a larger sample would take last
    shots = slice(len(samples.pool_texts) - k, None) if k else slice(0, 0)
    return RunContext(
        label_names=samples.label_names,
        prompt=task.spec.prompt,
        seed=seed,
        batch_size=settings.measurement.batch_size,
        few_shot_texts=samples.pool_texts[shots],
        few_shot_labels=samples.pool_labels[shots],
        class_weight="balanced" if task.spec.metric.definition.class_balanced else None,
        task_type=task.spec.type,
        work_dir=str(work_dir) if work_dir else None,
        device=resolve_device(settings.infrastructure.device),
    )


@dataclass(frozen=True)
class Plan:
    """Everything fixed before the first candidate runs: what is measured, in which order, on which samples."""

    task: Task
    registry: Registry
    settings: Settings
    specs: list[CandidateSpec]  # in the order they will be measured
    samples: Samples
    seed: int
    threshold: float | None
    context: RunContext
    rules: Rules | None  # adaptive search's early stop, or None for an exhaustive run
    unavailable: dict[str, CandidateResult]  # skipped at planning, with the reason
    params: dict[str, int | None]  # expected-cost key: parameters read from the weights files
    files: dict[str, list[str | None]]  # identity of each candidate's resolved model and tokenizer files
    search: Search
    run_id: str
    created_at: str
    environment: Environment
    sizes: tuple[int, ...] = ()  # the sample sizes the run may look at (the first is the samples above)

    @property
    def decision_confidence(self) -> float:
        """The level of each look's intervals: the stated confidence, split over the planned looks (Bonferroni)."""
        return 1 - (1 - self.settings.goal.confidence) / max(1, len(self.sizes))

    def next_size(self) -> int | None:
        """The next planned sample size after the current one, or None."""
        return next((n for n in self.sizes if n > len(self.samples)), None)

    def extended(self, size: int) -> Plan:
        """The same plan on the first ``size`` rows of the same draw order (so the current samples come first)."""
        s = self.samples
        texts, labels = s.texts + s.pool_texts, s.labels + s.pool_labels
        samples = Samples(
            texts=texts[:size],
            labels=labels[:size],
            label_names=s.label_names,
            pool_texts=texts[size:],
            pool_labels=labels[size:],
            source_rows=s.source_rows,
        )
        return replace(self, samples=samples)

    @property
    def folder(self) -> Path:
        """Where the run's results.json and reports are written."""
        return run_folder(self.settings.output.reports_dir, self.run_id)

    def job(self, spec: CandidateSpec, previous: CandidateResult | None = None) -> Job:
        """The picklable job that measures ``spec`` (in this process, a worker or a Ray task)."""
        fitted = spec.options.get("fitted")
        identity = {
            "files": self.files.get(spec.name, [None, None]),
            "fitted": file_identity(Path(fitted)) if fitted and Path(fitted).exists() else None,
            "samples": self.samples.sha256,
            "machine": {**self.environment.model_dump(mode="json"), "cpus": os.cpu_count()},
            **({"device": self.context.device} if self.context.device != "cpu" else {}),  # CPU keys stay as they were
        }
        return Job(
            spec=spec,
            registry_dir=self.registry.path.parent,
            texts=self.samples.texts,
            labels=self.samples.labels,
            label_names=self.samples.label_names,
            metric=self.task.spec.metric,
            folds=self.task.spec.folds,
            seed=self.seed,
            measurement=self.settings.measurement,
            keep_texts=self.settings.output.keep_texts,
            context=self.context,
            rules=self.rules,
            identity=identity,
            previous=previous,
        )

    def skeleton(self) -> Recommendation:
        """The recommendation before any candidate is measured (every later one is built from it)."""
        spec, samples, s = self.task.spec, self.samples, self.settings
        task = TaskInfo(
            name=spec.name,
            path=str(self.task.path),
            type=spec.type,
            metric=spec.metric.name,
            metric_label=spec.metric.describe(),
            samples=len(samples),
            source_rows=samples.source_rows,
            seed=self.seed,
            folds=spec.folds,
            data_sha256=samples.sha256,
            spec=spec.model_dump(mode="json"),
        )
        return Recommendation(
            run_id=self.run_id,
            created_at=self.created_at,
            status="running",
            task=task,
            threshold=self.threshold,
            confidence=s.goal.confidence,
            max_drop=s.goal.max_drop,
            ranked_by=s.goal.by,
            candidates=[],
            settings=s.flat(mode="json"),
            environment=self.environment,
            search=self.search,
            registry={
                "path": str(self.registry.path),
                "candidates": [c.model_dump(mode="json", exclude_defaults=True) for c in self.specs],
            },
            samples=SampleSet(texts=samples.texts if s.output.keep_texts else None, labels=samples.labels),
        )


def make_plan(task: str | Path | Task, registry: str | Path | Registry | None, settings: Settings) -> Plan:
    """Load and validate the task, registry and samples, and order the candidates by expected cost.

    Raises:
        SpecError: an invalid task, registry, data file or setting (one line naming file and field).
    """
    task = task if isinstance(task, Task) else load_task(task)
    reg = registry if isinstance(registry, Registry) else load_registry(registry)
    specs = reg.select(task.spec.type, settings.search.candidates)
    names = [s.name for s in specs]
    check_local_sources(reg, names)  # a missing or wrong path is bad input, found before anything loads
    for field, name in (("reference", settings.goal.reference), ("deployed", settings.goal.deployed)):
        if name and name not in names:
            raise SpecError(
                reg.path, field, f"no selected candidate named '{name}'{did_you_mean(name, names)}", f"choose one of: {', '.join(names)}"
            )
    run_id = settings.output.run_id or new_run_id(task.name)
    run_folder(settings.output.reports_dir, run_id)  # refuse a hostile run id before anything is measured
    seed = task.spec.sample.seed if settings.search.seed is None else settings.search.seed
    drawn = task.samples(size=settings.search.sample_size, seed=seed)  # --samples, else the task's sample.size (a cap), else every row
    threshold = (
        settings.goal.min_quality
        if settings.goal.min_quality is not None
        else (None if settings.goal.max_drop is not None else task.spec.threshold)
    )
    samples = _first_look(drawn, settings, threshold, task.spec.prompt.few_shot)
    context = run_context(task, samples, settings, seed, work_dir(run_id))
    specs, unavailable, params, files = _order(specs, reg, context)
    adaptive, why = _strategy(settings)
    sizes, rows = _sizes(task, samples, settings, cap=len(drawn))
    level = 1 - (1 - settings.goal.confidence) / len(sizes)
    rules = Rules(threshold, level, task.spec.metric, settings.search.first_shard, seed) if adaptive and threshold is not None else None
    for first in (settings.goal.reference, settings.goal.deployed):  # measured first, so the ladder can be judged against it as it climbs
        if first:
            specs = sorted(specs, key=lambda s: s.name != first)
    search = Search(
        strategy="adaptive" if adaptive else "exhaustive",
        note=why,
        order=[s.name for s in specs],
        first_shard=settings.search.first_shard if rules else None,
        planned_samples=list(sizes),
        look_confidence=level,
        rows_available=rows,
    )
    return Plan(
        task,
        reg,
        settings,
        specs,
        samples,
        seed,
        threshold,
        context,
        rules,
        unavailable,
        params,
        files,
        search,
        run_id,
        datetime.now(timezone.utc).isoformat(timespec="seconds"),
        environment(),
        sizes,
    )


def _first_look(drawn: Samples, settings: Settings, threshold: float | None, few_shot: int) -> Samples:
    """The samples of the run's first look: a prefix of the drawn ones (:func:`advisor.core.rules.first_look_size`),
    unless the number is fixed (``--samples``) or the goal is relative (every candidate on the same samples). The
    last ``few_shot`` rows of the draw order stay out of it: they are the prompt's examples."""
    if settings.search.sample_size is not None or threshold is None or settings.goal.max_drop is not None:
        return drawn
    n = min(first_look_size(threshold, settings.goal.confidence, len(drawn.label_names)), drawn.source_rows - few_shot)
    if n >= len(drawn) or n < 2:
        return drawn
    return Samples(
        texts=drawn.texts[:n],
        labels=drawn.labels[:n],
        label_names=drawn.label_names,
        pool_texts=drawn.texts[n:] + drawn.pool_texts,
        pool_labels=drawn.labels[n:] + drawn.pool_labels,
        source_rows=drawn.source_rows,
    )


def _sizes(task: Task, samples: Samples, settings: Settings, cap: int) -> tuple[tuple[int, ...], int]:
    """The sample sizes the run may look at, doubling from the first, and the rows that could be drawn.

    More samples are drawn only for an absolute threshold and a number not fixed with --samples, up to
    ``cap`` (the task's ``sample.size``, else every row) and --max-samples, never beyond the rows left
    once few-shot examples are set aside.
    """
    first = len(samples)
    rows = samples.source_rows - task.spec.prompt.few_shot
    fixed = settings.search.sample_size is not None or settings.goal.max_drop is not None
    limit = first if fixed else min(rows, cap, settings.search.max_samples or cap)
    sizes, n = [first], first
    while n < limit:
        n = min(2 * n, limit)
        sizes.append(n)
    return tuple(sizes), rows


def _strategy(settings: Settings) -> tuple[bool, str]:
    """Whether the run is adaptive, and why not when it is not."""
    if settings.search.exhaustive:
        return False, "every candidate on every sample, as asked"
    if settings.goal.max_drop is not None and not settings.goal.reference:
        return False, (
            "a relative goal without a named reference needs every candidate (the reference is the strongest); "
            "name one with --reference to search adaptively"
        )
    return True, "cheapest first; dead ends stopped early; no candidate costlier than one that meets the goal is measured"


def _order(specs: list[CandidateSpec], reg: Registry, context: RunContext) -> tuple[list[CandidateSpec], dict, dict, dict]:
    """Check each candidate can run here and order them by expected cost (parameters from the weights files' headers)."""
    unavailable, params, sizes, files = {}, {}, {}, {}
    for spec in specs:
        found = resolved_sources(spec, reg.path.parent, context)
        if isinstance(found, CandidateResult):
            unavailable[spec.name] = found
            continue
        files[spec.name] = [file_identity(p) if p is not None else None for p in found]
        path = found[0]
        params[spec.name] = static_parameters(path, spec.options.get("dims", 256)) if spec.kind == "static-head" else parameter_count(path)
        sizes[spec.name] = size_on_disk(path) if path is not None else 0
    by_name = {s.name: s for s in specs}
    ordered = cost_order(list(params), params, sizes, [s.name for s in specs if KINDS[s.kind].trains_body])
    return [by_name[n] for n in ordered] + [s for s in specs if s.name in unavailable], unavailable, params, files


__all__ = ["Plan", "environment", "make_plan", "new_run_id", "run_context", "run_folder", "slug"]
