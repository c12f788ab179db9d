"""advisor: which is the smallest model that is good enough for my task?

Measures candidate models on the user's own samples, for quality (the task's metric) and energy
per query (CodeCarbon), and recommends the least costly one that meets the quality threshold.

Names are imported on first use, so ``import advisor`` (and the CLI's start) stays light.

Example:
    >>> import advisor
    >>> rec = advisor.recommend(task="sentiment", min_quality=0.80)  # doctest: +SKIP
    >>> rec.model, rec.candidates[0].energy_per_query_j  # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from advisor.version import __version__

_EXPORTS = {
    "recommend": "advisor.api",
    "validate_all": "advisor.api",
    "AdvisorError": "advisor.errors",
    "SpecError": "advisor.errors",
    "EXIT_CODES": "advisor.gate",
    "CheckResult": "advisor.gate",
    "check": "advisor.gate",
    "Ranking": "advisor.core.ranking",
    "rank": "advisor.core.ranking",
    "Registry": "advisor.spec.registry",
    "load_registry": "advisor.spec.registry",
    "SCHEMA_VERSION": "advisor.core.results",
    "CandidateResult": "advisor.core.results",
    "EnergyStats": "advisor.core.results",
    "Recommendation": "advisor.core.results",
    "Settings": "advisor.spec.settings",
    "ResultStore": "advisor.store",
    "StoreError": "advisor.store",
    "Samples": "advisor.spec.tasks",
    "Task": "advisor.spec.tasks",
    "available_tasks": "advisor.spec.tasks",
    "load_task": "advisor.spec.tasks",
    "Plan": "advisor.search.plan",
    "make_plan": "advisor.search.plan",
    "execute": "advisor.search.run",
    "judge": "advisor.search.judge",
    "Executor": "advisor.measure.executor",
    "make_executor": "advisor.measure.executor",
    "Outputs": "advisor.outputs.files",
    "standard_outputs": "advisor.outputs.files",
    "load": "advisor.deploy.predictor",
    "Predictor": "advisor.deploy.predictor",
    "export": "advisor.deploy.build",
    "Exported": "advisor.deploy.build",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'advisor' has no attribute '{name}'")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # for type checkers and IDEs only
    from advisor.api import recommend
    from advisor.core.ranking import Ranking, rank
    from advisor.core.results import SCHEMA_VERSION, CandidateResult, EnergyStats, Recommendation
    from advisor.deploy.build import Exported, export
    from advisor.deploy.predictor import Predictor, load
    from advisor.errors import AdvisorError, SpecError
    from advisor.gate import EXIT_CODES, CheckResult, check
    from advisor.measure.executor import Executor, make_executor
    from advisor.outputs.files import Outputs, standard_outputs
    from advisor.search.judge import judge
    from advisor.search.plan import Plan, make_plan
    from advisor.search.run import execute
    from advisor.spec.registry import Registry, load_registry
    from advisor.spec.settings import Settings
    from advisor.spec.tasks import Samples, Task, available_tasks, load_task
    from advisor.spec.validate import validate_all
    from advisor.store import ResultStore, StoreError
