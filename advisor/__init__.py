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

__version__ = "0.1.0"

_EXPORTS = {
    "recommend": "advisor.api",
    "validate_all": "advisor.api",
    "AdvisorError": "advisor.errors",
    "SpecError": "advisor.errors",
    "EXIT_CODES": "advisor.gate",
    "CheckResult": "advisor.gate",
    "check": "advisor.gate",
    "Ranking": "advisor.ranking",
    "rank": "advisor.ranking",
    "Registry": "advisor.registry",
    "load_registry": "advisor.registry",
    "SCHEMA_VERSION": "advisor.results",
    "CandidateResult": "advisor.results",
    "EnergyStats": "advisor.results",
    "Recommendation": "advisor.results",
    "Settings": "advisor.settings",
    "ResultStore": "advisor.store",
    "StoreError": "advisor.store",
    "Samples": "advisor.tasks",
    "Task": "advisor.tasks",
    "available_tasks": "advisor.tasks",
    "load_task": "advisor.tasks",
    "Plan": "advisor.plan",
    "make_plan": "advisor.plan",
    "execute": "advisor.run",
    "judge": "advisor.judge",
    "Executor": "advisor.executor",
    "make_executor": "advisor.executor",
    "Outputs": "advisor.outputs",
    "standard_outputs": "advisor.outputs",
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
    from advisor.errors import AdvisorError, SpecError
    from advisor.executor import Executor, make_executor
    from advisor.gate import EXIT_CODES, CheckResult, check
    from advisor.judge import judge
    from advisor.outputs import Outputs, standard_outputs
    from advisor.plan import Plan, make_plan
    from advisor.ranking import Ranking, rank
    from advisor.registry import Registry, load_registry
    from advisor.results import SCHEMA_VERSION, CandidateResult, EnergyStats, Recommendation
    from advisor.run import execute
    from advisor.settings import Settings
    from advisor.store import ResultStore, StoreError
    from advisor.tasks import Samples, Task, available_tasks, load_task
    from advisor.validate import validate_all
