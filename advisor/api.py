"""The library call behind ``advisor recommend``: plan, execute (measure and judge), serve, outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from advisor.core.results import Recommendation
from advisor.measure.executor import Executor, make_executor
from advisor.measure.supervisor import Heartbeat
from advisor.outputs.files import standard_outputs
from advisor.search.cache import CachedExecutor
from advisor.search.plan import make_plan
from advisor.search.run import Observer, Output, execute
from advisor.serving.run import serve
from advisor.spec.registry import Registry, load_registry
from advisor.spec.settings import Settings
from advisor.spec.tasks import Task, load_task
from advisor.store import HEARTBEAT_S, ResultStore


def recommend(
    task: str | Path | Task = "sentiment",
    min_quality: float | None = None,
    registry: str | Path | Registry | None = None,
    settings: Settings | None = None,
    observer: Observer | None = None,
    *,
    executor: Executor | None = None,
    output: Output | None = None,
    annotate: Callable[[Recommendation], Recommendation] | None = None,
    **overrides: Any,
) -> Recommendation:
    """Measure the registry's candidates on the task and recommend the smallest good-enough one.

    Args:
        task: a built-in task name, a task folder or YAML file, or a loaded :class:`Task`.
        min_quality: the quality threshold (default: the task's).
        registry: a registry file or loaded :class:`Registry` (default: ./registry.yaml or the project's).
        settings: how to measure; keyword ``overrides`` are applied on top (e.g. ``batch_size=8``).
        observer: optional progress receiver.
        executor: where candidates are measured (default: from the settings); wrapped by the result store's cache.
        output: what the run leaves (default: results.json, the store row, report.html/md, MLflow when asked).
        annotate: applied to the complete recommendation before it is written (e.g. a distillation's lineage).

    Returns:
        The :class:`Recommendation`; by default also in ``<reports_dir>/<run_id>/results.json``.

    Raises:
        SpecError: invalid task, registry, data or setting (one-line message naming file and field).
    """
    settings = Settings.merged(settings, min_quality=min_quality, **overrides)
    task = task if isinstance(task, Task) else load_task(task)
    registry = registry if isinstance(registry, Registry) else load_registry(registry)
    executor = executor or make_executor(settings)  # a worker server starts importing now, while the samples are read
    try:
        plan = make_plan(task, registry, settings)
    except BaseException:
        executor.close()
        raise
    with (
        ResultStore(settings.infrastructure.store) as store,
        Heartbeat(lambda: ResultStore(store.path), lambda s: s.heartbeat_run(plan.run_id), HEARTBEAT_S),
    ):
        out = output if output is not None else standard_outputs(plan.folder, settings, store)
        rec = execute(plan, CachedExecutor(executor, store, plan.run_id, fresh=settings.search.fresh), out, observer)
        try:
            rec = serve(plan, rec, observer, store)  # how to serve the recommended model: measured once the recommendation is complete
            rec = annotate(rec) if annotate is not None else rec
        finally:
            out.finish(rec)
        return rec
