"""advisor: which is the smallest model that is good enough for my task?

Measures candidate models on the user's own samples, for quality (the task's metric) and energy
per query (CodeCarbon), and recommends the least costly one that meets the quality threshold.

Example:
    >>> import advisor
    >>> rec = advisor.recommend(task="sentiment", min_quality=0.80)  # doctest: +SKIP
    >>> rec.model, rec.candidates[0].energy_per_query_j  # doctest: +SKIP
"""

from advisor.api import recommend, validate_all
from advisor.errors import AdvisorError, SpecError
from advisor.gate import EXIT_CODES, CheckResult, check
from advisor.ranking import Ranking, rank
from advisor.registry import Registry, load_registry
from advisor.results import SCHEMA_VERSION, CandidateResult, EnergyStats, Recommendation
from advisor.settings import Settings
from advisor.store import ResultStore, StoreError
from advisor.tasks import Samples, Task, available_tasks, load_task

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION",
    "EXIT_CODES",
    "AdvisorError",
    "CandidateResult",
    "CheckResult",
    "EnergyStats",
    "Ranking",
    "Recommendation",
    "Registry",
    "Samples",
    "Settings",
    "SpecError",
    "Task",
    "ResultStore",
    "StoreError",
    "available_tasks",
    "check",
    "load_registry",
    "load_task",
    "rank",
    "recommend",
    "validate_all",
]
