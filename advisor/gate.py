"""``advisor check``: a CI gate on the model in production.

It runs a recommendation with the deployed model measured first and only cheaper candidates after
it, then answers one question with an exit code:

====  ==================  ==================================================================
code  verdict             meaning
====  ==================  ==================================================================
0     right-sized         the deployed model meets the goal and no cheaper candidate does
3     undecided           the samples cannot tell whether the deployed model meets the goal
4     oversized           a cheaper candidate meets the goal
5     below-goal          the deployed model does not meet the goal
6     energy-regression   its energy per query rose more than allowed against the baseline
====  ==================  ==================================================================

When several apply, the first of below-goal, energy-regression, oversized, undecided wins.
The baseline is the newest earlier run in the result store, on the same task, that measured
the deployed model (or the run named with ``--baseline``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from advisor import exits
from advisor.api import recommend
from advisor.core.ranking import verdict_of
from advisor.core.results import Recommendation, ResultModel
from advisor.errors import SpecError
from advisor.outputs.text import change, goal_of, joules, percent, quality, ratio
from advisor.spec.package import is_package, read_manifest
from advisor.spec.registry import Registry, exported_entry, load_registry
from advisor.spec.settings import Settings
from advisor.spec.tasks import Task, load_task
from advisor.store import ResultStore, StoreError

EXIT_CODES = exits.FOR_VERDICT
Verdict = Literal["right-sized", "undecided", "oversized", "below-goal", "energy-regression"]


class CheckResult(ResultModel):
    """The gate's answer, with the evidence; ``exit_code`` follows :data:`EXIT_CODES`."""

    verdict: Verdict
    exit_code: int
    message: str
    deployed: str
    deployed_quality: float | None = None
    deployed_quality_ci: list[float] | None = None
    deployed_energy_per_query_j: float | None = None
    cheaper: str | None = Field(default=None, description="the cheapest candidate that meets the goal, when it is not the deployed one")
    cheaper_energy_per_query_j: float | None = None
    baseline: dict[str, Any] | None = Field(default=None, description="run_id and energy_per_query_j of the baseline run")
    energy_change: float | None = Field(default=None, description="relative change of energy per query against the baseline")
    max_energy_increase: float
    run_id: str
    results: str = Field(description="path of the run's results.json")
    energy_method: str = "unknown"
    serving: str | None = Field(default=None, description="how to serve the recommended model (the serving sweep's answer), when swept")

    def to_markdown(self) -> str:
        """A summary for a CI job page (e.g. ``$GITHUB_STEP_SUMMARY``)."""
        icon = {"right-sized": "✅", "undecided": "❔"}.get(self.verdict, "❌")
        rows = [
            ("deployed", self.deployed),
            ("quality", quality(self.deployed_quality, self.deployed_quality_ci)),
            ("energy per query", joules(self.deployed_energy_per_query_j) + f" ({self.energy_method})"),
        ]
        if self.cheaper:
            rows.append(("cheaper candidate that meets the goal", f"{self.cheaper}, {joules(self.cheaper_energy_per_query_j)}"))
        if self.baseline:
            rise = "" if self.energy_change is None else f", {change(self.energy_change)}"
            rows.append(
                (
                    "baseline",
                    (
                        f"run {self.baseline['run_id']}: {joules(self.baseline['energy_per_query_j'])}{rise}"
                        f" (allowed {change(self.max_energy_increase)})"
                    ),
                )
            )
        if self.serving:
            rows.append(("how to serve it", self.serving))
        table = "\n".join(f"| {k} | {v} |" for k, v in rows)
        return (
            f"### {icon} advisor check: {self.verdict}\n\n{self.message}\n\n| | |\n|---|---|\n{table}\n\nFull results: `{self.results}`\n"
        )


def _baseline(store: ResultStore, rec: Recommendation, deployed: str, baseline: str | None) -> dict | None:
    """The deployed model's energy in the named run, or in the newest earlier run of the task that measured it."""
    if baseline:
        candidates = [Recommendation.model_validate(store.get_run(baseline))]
    else:
        rows = [r for r in store.runs(limit=500) if r.task == rec.task.name and r.run_id != rec.run_id and r.status == "complete"]
        candidates = []
        for r in rows:
            try:
                candidates.append(Recommendation.model_validate(store.get_run(r.run_id)))
            except (StoreError, ValueError):
                continue
    for old in candidates:
        c = next((c for c in old.candidates if c.name == deployed and c.status == "ok" and c.energy is not None), None)
        if c is not None:
            return {"run_id": old.run_id, "energy_per_query_j": c.energy.per_query_j}
        if baseline:
            raise SpecError(None, "--baseline", f"run '{baseline}' has no measurement of '{deployed}'", "choose a run that measured it")
    return None


def judge(rec: Recommendation, deployed: str, max_energy_increase: float, baseline: dict | None, results: str) -> CheckResult:
    """The verdict from a finished recommendation (pure; no measurement)."""
    d = rec.candidate(deployed)
    meets = [c for c in rec.candidates if c.status == "ok" and verdict_of(c, rec.threshold) == "meets"]
    cheaper = [c for c in meets if c.name != deployed and d.energy is not None and c.energy_per_query_j < d.energy.per_query_j]
    best = min(cheaper, key=lambda c: c.energy_per_query_j) if cheaper else None
    r = ratio(d.energy.per_query_j, baseline["energy_per_query_j"]) if baseline and d.energy is not None else None
    rise = r - 1 if r is not None else None
    goal, q = goal_of(rec), quality(d.quality, d.quality_ci)
    if d.status != "ok":
        verdict, msg = "below-goal", f"{deployed} could not be measured: {d.status}: {d.reason}"
    elif verdict_of(d, rec.threshold) == "fails":
        verdict, msg = "below-goal", f"{deployed} does not meet {goal}: {q}."
    elif rise is not None and rise > max_energy_increase:
        verdict, msg = (
            "energy-regression",
            (
                f"{deployed}'s energy per query rose {change(rise)} against run {baseline['run_id']} "
                f"(allowed {change(max_energy_increase)})."
            ),
        )
    elif best is not None:
        verdict, msg = (
            "oversized",
            (
                f"{best.name} meets {goal} at {joules(best.energy_per_query_j)} per query, "
                f"{percent(best.energy_per_query_j / d.energy.per_query_j)} of {deployed}'s {joules(d.energy.per_query_j)}."
            ),
        )
    elif verdict_of(d, rec.threshold) == "undecided":
        verdict, msg = (
            "undecided",
            f"the samples cannot tell whether {deployed} meets {goal}: {q}"
            + (f"; about {d.samples_needed} samples would decide." if d.samples_needed else "."),
        )
    else:
        verdict, msg = "right-sized", f"{deployed} meets {goal} ({q}) and no cheaper candidate does."
    return CheckResult(
        verdict=verdict,
        exit_code=EXIT_CODES[verdict],
        message=msg,
        deployed=deployed,
        deployed_quality=d.quality,
        deployed_quality_ci=d.quality_ci,
        deployed_energy_per_query_j=d.energy.per_query_j if d.energy else None,
        cheaper=best.name if best else None,
        cheaper_energy_per_query_j=best.energy_per_query_j if best else None,
        baseline=baseline,
        energy_change=rise,
        max_energy_increase=max_energy_increase,
        run_id=rec.run_id,
        results=results,
        energy_method=rec.method.energy,
        serving=rec.serving.answer if rec.serving and rec.serving.candidates else None,
    )


def with_package(registry, folder: Path, task: Task) -> tuple[Registry, str]:
    """The registry with the package ``folder`` as a candidate of its own (first), and that candidate's name.

    Raises:
        SpecError: the package cannot be read, was changed, or answers with other labels than the task's.
    """
    reg = registry if isinstance(registry, Registry) else load_registry(registry)
    entry = exported_entry(folder, where="--deployed")
    labels = read_manifest(folder, verify=False).task.label_names
    declared = task.spec.label_names()
    if labels and declared and set(labels) != set(declared):
        raise SpecError(
            None,
            "--deployed",
            f"{folder} answers {', '.join(labels)}, but task '{task.name}' has the labels {', '.join(declared)}",
            "check it on a task with the same labels",
        )
    others = [c for c in reg.candidates if c.name != entry.name]
    return Registry(spec=reg.spec.model_copy(update={"candidates": [entry, *others]}), path=reg.path), entry.name


def check(
    task,
    deployed: str,
    registry=None,
    settings: Settings | None = None,
    max_energy_increase: float = 0.2,
    baseline: str | None = None,
    observer=None,
    **overrides: Any,
) -> CheckResult:
    """Is the deployed model right-sized? Measures it and the cheaper candidates, then judges.

    Args:
        task: a built-in task name, a task folder or YAML file, or a loaded task.
        deployed: the registry name of the model in production, or the folder of its exported package.
        registry: registry file or loaded registry (default: ./registry.yaml or the project's).
        settings: how to measure; keyword ``overrides`` apply on top.
        max_energy_increase: the largest relative rise of energy per query tolerated against the baseline.
        baseline: a stored run id to compare with (default: the newest earlier run that measured ``deployed``).

    Returns:
        The :class:`CheckResult`; the run's results.json and report are written as for a recommendation.
    """
    if is_package(deployed):  # the very artifact in production, measured like any candidate
        task = task if isinstance(task, Task) else load_task(task)
        registry, deployed = with_package(registry, Path(deployed), task)
        chosen = (settings or Settings()).search.candidates or overrides.get("candidates")
        if chosen and deployed not in chosen:
            overrides["candidates"] = [deployed, *chosen]
    settings = (settings or Settings()).replaced(**overrides, deployed=deployed)
    rec = recommend(task=task, registry=registry, settings=settings, observer=observer)
    with ResultStore(settings.infrastructure.store) as store:
        base = _baseline(store, rec, deployed, baseline)
    return judge(rec, deployed, max_energy_increase, base, str(settings.output.reports_dir / rec.run_id / "results.json"))
