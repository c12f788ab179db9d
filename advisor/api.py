"""The orchestration behind ``advisor recommend`` and :func:`advisor.recommend`."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from advisor.errors import SpecError, did_you_mean
from advisor.executor import InProcessExecutor, Measured, SubprocessExecutor
from advisor.adaptive import Rules, cost_rank, exhaustive_estimate
from advisor.measure import Job, base_result
from advisor.metering import make_meter
from advisor.ranking import rank
from advisor.registry import Registry, load_registry
from advisor.results import CandidateResult, Recommendation, TaskInfo
from advisor.runners import RunContext
from advisor.schema import CandidateSpec, MetricSpec
from advisor.settings import Settings
from advisor.store import ResultStore, measurement_key
from advisor.tasks import Samples, Task, load_task

_VERSIONS = ("advisor", "torch", "transformers", "sentence-transformers", "onnxruntime", "scikit-learn", "codecarbon", "datasets", "evaluate")


class Observer(Protocol):
    """Receives progress; the CLI draws bars with it. Every method is optional."""

    def candidate_started(self, spec: CandidateSpec, index: int, total: int) -> None: ...
    def progress(self, spec: CandidateSpec, phase: str, done: int, total: int) -> None: ...
    def candidate_finished(self, result: CandidateResult) -> None: ...


class _Silent:
    def candidate_started(self, spec, index, total): pass
    def progress(self, spec, phase, done, total): pass
    def candidate_finished(self, result): pass


def environment() -> dict[str, Any]:
    """Hardware and software facts recorded with every run."""
    versions = {}
    for name in _VERSIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(), "versions": versions}


def _run_id(task: Task) -> str:
    """Time-ordered and unique, even for runs started in the same second."""
    import secrets

    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}-{task.name}"


def _task_info(task: Task, samples: Samples, threshold: float | None, seed: int) -> TaskInfo:
    spec = task.spec
    return TaskInfo(
        name=spec.name, path=str(task.path), type=spec.type, metric=spec.metric.name, metric_label=spec.metric.describe(),
        threshold=threshold, samples=len(samples), source_rows=samples.source_rows, seed=seed, folds=spec.folds,
        data_sha256=samples.sha256, spec=spec.model_dump(mode="json"),
    )


def _context(task: Task, samples: Samples, settings: Settings, seed: int) -> RunContext:
    k = task.spec.prompt.few_shot
    return RunContext(
        label_names=samples.label_names, prompt=task.spec.prompt, seed=seed, batch_size=settings.batch_size,
        few_shot_texts=samples.pool_texts[:k], few_shot_labels=samples.pool_labels[:k],
        class_weight="balanced" if task.spec.metric.name in ("f1", "macro_f1") else None, task_type=task.spec.type,
    )


@dataclass
class _Run:
    """Everything fixed before the first candidate runs."""

    task: Task
    registry: Registry
    specs: list[CandidateSpec]  # in the order they will be measured
    samples: Samples
    seed: int
    context: RunContext
    out: Path
    rec: Recommendation
    rules: Rules | None  # adaptive search's early stop, or None for an exhaustive run
    unavailable: dict[str, CandidateResult]  # skipped at planning, with the reason
    params: dict[str, int | None]  # expected-cost key: parameters read from the weights files
    paths: dict[str, tuple[Path | None, Path | None]]  # resolved model and tokenizer files
    store: ResultStore | None = None


def recommend(task: str | Path | Task = "sentiment", min_quality: float | None = None, registry: str | Path | Registry | None = None,
              settings: Settings | None = None, observer: Observer | None = None, **overrides: Any) -> Recommendation:
    """Measure every candidate of the registry on the task and recommend the smallest good-enough one.

    Args:
        task: a built-in task name, a task folder or YAML file, or a loaded :class:`Task`.
        min_quality: the quality threshold (default: the task's).
        registry: a registry file or loaded :class:`Registry` (default: ./registry.yaml or the project's).
        settings: how to measure; keyword ``overrides`` are applied on top (e.g. ``batch_size=8``).
        observer: optional progress receiver.

    Returns:
        The :class:`Recommendation`; also written to ``<reports_dir>/<run_id>/results.json`` with
        ``report.html`` and ``report.md`` beside it.

    Raises:
        SpecError: invalid task, registry or data (one-line message naming file and field).
    """
    given = {k: v for k, v in {"min_quality": min_quality, **overrides}.items() if v is not None}
    settings = Settings.model_validate({**(settings or Settings()).model_dump(), **given})
    run = _plan(task, registry, settings)
    with ResultStore(settings.store) as store:
        run.store = store
        store.start_run(run.rec.run_id, run.task.name, run.rec.created_at, settings.model_dump(mode="json"))
        return _execute(run, settings, observer or _Silent())


def _plan(task: str | Path | Task, registry: str | Path | Registry | None, settings: Settings) -> _Run:
    """Load and validate the task, registry and samples; nothing is measured yet."""
    task = task if isinstance(task, Task) else load_task(task)
    reg = registry if isinstance(registry, Registry) else load_registry(registry)
    specs = reg.select(task.spec.type, settings.candidates)
    names = [s.name for s in specs]
    for field, name in (("reference", settings.reference), ("deployed", settings.deployed)):
        if name and name not in names:
            raise SpecError(reg.path, field, f"no selected candidate named '{name}'{did_you_mean(name, names)}", f"choose one of: {', '.join(names)}")
    seed = task.spec.sample.seed if settings.seed is None else settings.seed
    samples = task.samples(size=settings.sample_size, seed=seed)
    threshold = settings.min_quality if settings.min_quality is not None else (None if settings.max_drop is not None else task.spec.threshold)
    run_id = settings.run_id or _run_id(task)
    context = _context(task, samples, settings, seed)
    specs, unavailable, params, paths = _order(specs, reg, context)
    adaptive, why = _strategy(settings, threshold)
    rules = Rules(threshold, settings.confidence, task.spec.metric, settings.first_shard, seed) if adaptive and threshold is not None else None
    for first in (settings.reference, settings.deployed):  # measured first, so the ladder can be judged against it as it climbs
        if first:
            specs = sorted(specs, key=lambda s: s.name != first)
    rec = Recommendation(
        run_id=run_id, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), status="running",
        task=_task_info(task, samples, threshold, seed), threshold=threshold, confidence=settings.confidence, max_drop=settings.max_drop,
        ranked_by=settings.by, candidates=[], settings=settings.model_dump(mode="json"), method={}, environment=environment(),
        registry={"path": str(reg.path), "candidates": [s.model_dump(mode="json", exclude_defaults=True) for s in specs]},
        samples={"texts": samples.texts, "labels": samples.labels},
        search={"strategy": "adaptive" if adaptive else "exhaustive", "note": why, "order": [s.name for s in specs],
                "first_shard": settings.first_shard if rules else None},
    )
    return _Run(task, reg, specs, samples, seed, context, Path(settings.reports_dir) / run_id / "results.json", rec,
                rules, unavailable, params, paths)


def _strategy(settings: Settings, threshold: float | None) -> tuple[bool, str]:
    """Whether the run is adaptive, and why not when it is not."""
    if settings.exhaustive:
        return False, "every candidate on every sample, as asked"
    if settings.max_drop is not None and not settings.reference:
        return False, "a relative goal without a named reference needs every candidate (the reference is the strongest); name one with --reference to search adaptively"
    return True, "cheapest first; dead ends stopped early; no candidate costlier than one that meets the goal is measured"


def _order(specs: list[CandidateSpec], reg: Registry, context: RunContext) -> tuple[list[CandidateSpec], dict[str, CandidateResult], dict[str, int | None], dict]:
    """Check each candidate can run here and order them by expected cost (parameters from the weights files' headers)."""
    from advisor.adaptive import cost_order
    from advisor.measure import resolved_sources
    from advisor.sources import parameter_count, size_on_disk

    unavailable, params, sizes, paths = {}, {}, {}, {}
    for spec in specs:
        found = resolved_sources(spec, reg.path.parent, context)
        if isinstance(found, CandidateResult):
            unavailable[spec.name] = found
            continue
        paths[spec.name] = found
        path = found[0]
        params[spec.name] = parameter_count(path)
        sizes[spec.name] = size_on_disk(path) if path is not None else 0
    by_name = {s.name: s for s in specs}
    ordered = cost_order(list(params), params, sizes)
    return [by_name[n] for n in ordered] + [s for s in specs if s.name in unavailable], unavailable, params, paths


def _execute(run: _Run, settings: Settings, observer: Observer) -> Recommendation:
    """Measure the candidates one at a time, saving results (and on interruption, the report) as they come."""
    executor = _executor(settings)
    metric, rec, t0, spent = run.task.spec.metric, run.rec, time.perf_counter(), 0.0
    results: list[CandidateResult] = []
    passed: str | None = None  # adaptive search: the cheapest candidate so far that meets the goal
    deployed_rank = _deployed_rank(run, settings)
    try:
        for i, spec in enumerate(run.specs):
            observer.candidate_started(spec, i, len(run.specs))
            if passed is not None and spec.name not in run.unavailable:
                m = Measured(_pruned(spec, passed, run.params), {}, {}, 0.0)
            elif deployed_rank is not None and i > deployed_rank and spec.name not in run.unavailable:
                m = Measured(_pruned(spec, settings.deployed, run.params, "the deployed model"), {}, {}, 0.0)
            else:
                m = _measure_one(spec, run, settings, executor, observer)
            spent += m.energy_j
            rec = rec.model_copy(update={"method": rec.method or m.method, "idle_power_w": rec.idle_power_w or m.idle_power_w})
            rec = _finish(rec, [*results, m.result], run.specs, metric, settings, t0, spent, "running")
            results = [c for c in rec.candidates if c.status != "not run"]  # assessed: intervals are computed once
            if run.rules is not None or (settings.reference and not settings.exhaustive):
                passed = passed or next((c.name for c in results if c.status == "ok" and c.verdict == "meets"
                                         and c.name not in (settings.reference, settings.deployed)), None)
            _save(rec, run)
            observer.candidate_finished(m.result)
    except BaseException:
        spent += executor.close()
        partial = _finish(rec, results, run.specs, metric, settings, t0, spent, "interrupted")
        _save(partial, run)
        _write_reports(partial, run.out.parent)
        raise
    spent += executor.close()
    rec = _finish(rec, results, run.specs, metric, settings, t0, spent, "complete")
    _save(rec, run)
    _write_reports(rec, run.out.parent)
    if settings.mlflow:
        _track(rec, run.out.parent, settings)
    return rec


def _track(rec: Recommendation, folder: Path, settings: Settings) -> None:
    """Log to MLflow; a tracking server problem is a warning, never a lost run (results.json is saved)."""
    import logging

    from advisor.errors import AdvisorError
    from advisor.tracking import log_run

    try:
        log_run(rec, folder, settings.mlflow, settings.mlflow_experiment)
    except AdvisorError:
        raise
    except Exception as exc:  # noqa: BLE001
        logging.getLogger("advisor").warning("not logged to MLflow at %s (%s: %s); results are in %s", settings.mlflow, type(exc).__name__, exc, folder)


def _deployed_rank(run: _Run, settings: Settings) -> int | None:
    """For a check: the deployed model's place in the cost order (candidates costlier than it are not needed)."""
    if not settings.deployed or settings.exhaustive:
        return None
    order = [n for n in run.rec.search["order"] if n != settings.deployed]
    cheaper = cost_rank(order, run.params, settings.deployed)
    return 1 + cheaper  # the deployed model runs first, then the cheaper ones


def _executor(settings: Settings):
    """Where candidates are measured: a Ray task each, a fresh local process each (default), or this process."""
    if settings.executor == "ray":
        from advisor.executor import RayExecutor

        return RayExecutor(settings.ray_address)
    if settings.isolate:
        return SubprocessExecutor()
    return InProcessExecutor(make_meter(settings.meter, settings.country), settings.idle_s)


def _pruned(spec: CandidateSpec, passed: str, params: dict[str, int | None], role: str | None = None) -> CandidateResult:
    from advisor.view import human_count

    mine, theirs = params.get(spec.name), params.get(passed)
    why = f"{human_count(mine)} vs {human_count(theirs)} parameters" if mine is not None and theirs is not None else "later in the cost order"
    if role:
        reason = f"not measured: expected to cost more than {role}, {passed} ({why}); --exhaustive measures it"
    else:
        reason = f"not measured: {passed} already meets the goal and this candidate is expected to cost more ({why}); --exhaustive measures it"
    return base_result(spec, "pruned", reason).model_copy(update={"parameters": mine})


def _save(rec: Recommendation, run: _Run) -> None:
    """results.json on disk and the run's row in the store, after every candidate."""
    rec.save(run.out)
    if run.store is not None:
        run.store.update_run(rec.run_id, rec.status, rec.to_dict())


def _fingerprint(spec: CandidateSpec, run: _Run, settings: Settings) -> dict[str, Any]:
    """Everything that determines a candidate's measurement: a stored one is reused only when all of it matches."""
    import dataclasses
    import os

    from advisor import __version__
    from advisor.sources import file_identity

    ctx = run.context
    measured = ("batch_size", "repeats", "min_window_s", "warmup_batches", "latency_queries", "idle_s", "meter", "country", "isolate")
    return {
        "advisor": __version__,
        "candidate": spec.model_dump(mode="json"),
        "files": [file_identity(p) if p is not None else None for p in run.paths.get(spec.name, (None, None))],
        "fitted": file_identity(Path(spec.options["fitted"])) if spec.options.get("fitted") and Path(spec.options["fitted"]).exists() else None,
        "samples": run.samples.sha256, "labels": run.samples.label_names, "metric": run.task.spec.metric.model_dump(mode="json"),
        "folds": run.task.spec.folds, "seed": run.seed,
        "prompt": ctx.prompt.model_dump(mode="json"), "few_shot": [ctx.few_shot_texts, ctx.few_shot_labels], "class_weight": ctx.class_weight,
        "settings": {k: getattr(settings, k) for k in measured},
        "rules": None if run.rules is None else {**dataclasses.asdict(run.rules), "metric": run.rules.metric.model_dump(mode="json")},
        "machine": {**run.rec.environment, "cpus": os.cpu_count()},
    }


def _measure_one(spec: CandidateSpec, run: _Run, settings: Settings, executor, observer: Observer) -> Measured:
    if spec.name in run.unavailable:
        return Measured(run.unavailable[spec.name], {}, {}, 0.0)
    key = measurement_key(_fingerprint(spec, run, settings)) if run.store is not None else None
    if key is not None and not settings.fresh:
        hit = run.store.get_measurement(key)
        if hit is not None:
            result = CandidateResult.model_validate(hit["result"])
            details = {**result.details, "reused_from": {"run_id": hit["run_id"], "key": key[:16]}}
            return Measured(result.model_copy(update={"details": details}), hit["method"], hit["idle_power_w"], 0.0)
    job = Job(spec=spec, registry_dir=run.registry.path.parent, texts=run.samples.texts, labels=run.samples.labels,
              label_names=run.samples.label_names, metric=run.task.spec.metric, folds=run.task.spec.folds, seed=run.seed,
              settings=settings, context=run.context, rules=run.rules)
    t0 = time.perf_counter()
    m = executor.run(job, lambda ph, d, t: observer.progress(spec, ph, d, t))
    m.result = m.result.model_copy(update={"cost": {"energy_j": m.energy_j, "duration_s": time.perf_counter() - t0}})
    if key is not None and m.result.status in ("ok", "dropped"):  # failures are retried next time, not remembered
        payload = {"result": m.result.to_dict(), "method": m.method, "idle_power_w": m.idle_power_w, "run_id": run.rec.run_id}
        run.store.put_measurement(key, run.rec.run_id, spec.name, payload)
    return m


def _write_reports(rec: Recommendation, folder: Path) -> None:
    """Render report.html and report.md beside results.json; a rendering problem never loses the results."""
    import logging

    from advisor.report import write_reports

    try:
        write_reports(rec, folder)
    except Exception as exc:  # noqa: BLE001 - results.json is already saved; say so and go on
        logging.getLogger("advisor").warning("report not written (%s); re-render with: advisor report %s", exc, folder / "results.json")


def goal_text(metric_label: str, threshold: float | None, max_drop: float | None, reference: str | None, confidence: float) -> str:
    """The quality goal in words, e.g. ``accuracy >= 0.80 with 95% confidence``."""
    parts = []
    if threshold is not None:
        parts.append(f"{metric_label} >= {threshold:.2f}")
    if max_drop is not None:
        parts.append(f"at most {max_drop:.3f} {metric_label} below {reference or 'the reference'}")
    return " and ".join(parts) + f" with {confidence:.0%} confidence"


def _finish(rec: Recommendation, results: list[CandidateResult], specs: list[CandidateSpec], metric: MetricSpec,
            settings: Settings, t0: float, spent: float, status: str) -> Recommendation:
    """Assess, rank and assemble the recommendation from the results so far."""
    from advisor.assess import assess
    from advisor.measure import base_result
    from advisor.ranking import pareto_front

    done = {r.name for r in results}
    pending = [base_result(s, "not run", "the run was interrupted first") for s in specs if s.name not in done]
    assessed, ref = assess(results, rec.samples["labels"], metric, rec.threshold, settings.confidence, settings.max_drop, settings.reference, rec.task.seed)
    goal = goal_text(metric.describe(), rec.threshold, settings.max_drop, ref, settings.confidence)
    ranking = rank(assessed, rec.threshold, settings.by, metric.describe(), goal)
    order = {n: i for i, n in enumerate(ranking.order)}
    ordered = sorted(assessed, key=lambda r: order.get(r.name, len(order))) + pending
    cost = {"energy_j": spent, "duration_s": time.perf_counter() - t0}
    if rec.search.get("strategy") == "adaptive":
        est_j, est_s = exhaustive_estimate(results, len(rec.samples["labels"]), settings)
        cost.update(exhaustive_estimate_j=est_j, exhaustive_estimate_s=est_s)
    return rec.model_copy(update={
        "candidates": ordered, "model": ranking.model, "best": ranking.best, "summary": ranking.summary, "decision": ranking.decision,
        "status": status, "reference": ref, "pareto": pareto_front(assessed), "advisor_cost": cost,
        **_worth(assessed, ranking.model, ranking.best, ref, rec, metric, settings, spent),
    })


def _worth(results: list[CandidateResult], model: str | None, best: str | None, ref: str | None, rec: Recommendation,
           metric: MetricSpec, settings: Settings, spent_j: float) -> dict:
    """Savings against the reference, and a cheaper cascade when one meets the goal."""
    from advisor.assess import metric_fn, quality_interval
    from advisor.impact import cascade, savings

    ok = {c.name: c for c in results if c.status == "ok" and c.energy is not None and c.quality is not None}
    out: dict = {"savings": None, "cascade": None}
    against = ok.get(ref or best or "")
    if model in ok and against is not None and against.name != model:
        out["savings"] = savings(ok[model], against, settings.queries_per_day, settings.country, settings.price_per_kwh, spent_j)
    large = ok.get(model or best or "")
    if large is None or rec.threshold is None or metric.generative:  # a cascade gates on classifier confidence
        return out
    labels, fn = rec.samples["labels"], metric_fn(metric)

    def interval(preds):
        probe = large.model_copy(update={"predictions": preds})
        return quality_interval(probe, labels, metric, settings.confidence, rec.task.seed)

    options = [cascade(small, large, labels, fn, rec.threshold, interval) for small in ok.values()
               if small.name != large.name and small.energy.per_query_j < large.energy.per_query_j]
    options = [o for o in options if o is not None]
    if options:
        out["cascade"] = min(options, key=lambda o: o["energy_per_query_j"])
    return out


def validate_all(registry: str | Path | None = None, tasks: list[str] | None = None) -> list[str]:
    """Load the registry and tasks (reading no data). Returns one line per file checked.

    Raises:
        SpecError: on the first invalid file.
    """
    from advisor.tasks import available_tasks

    reg = load_registry(registry)
    lines = [f"{reg.path}: {len(reg.candidates)} candidates ok"]
    for name in tasks or sorted(available_tasks()):
        t = load_task(name)
        lines.append(f"{t.path}: task '{t.name}' ok")
    if not reg.candidates:
        raise SpecError(reg.path, "candidates", "empty")
    return lines
