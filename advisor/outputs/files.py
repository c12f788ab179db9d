"""What a run leaves behind, chosen by the caller: results.json, the reports, the store's run row, MLflow.

Each output (:class:`advisor.search.run.Output`) receives the recommendation after every candidate (``update``) and once at
the end (``finish``, also on interruption). An output that fails to render never loses
what another already saved.
"""

from __future__ import annotations

import logging
from pathlib import Path

from advisor.core.results import Recommendation
from advisor.search.run import Output
from advisor.spec.settings import Settings
from advisor.store import ResultStore

log = logging.getLogger("advisor")


class ResultsFile:
    """``<folder>/results.json``, written atomically after every candidate."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / "results.json"

    def update(self, rec: Recommendation) -> None:
        rec.save(self.path)

    finish = update


class Reports:
    """``report.html`` and ``report.md`` beside results.json at the end; a rendering problem is a warning."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def update(self, rec: Recommendation) -> None:
        pass

    def finish(self, rec: Recommendation) -> None:
        from advisor.outputs.report import write_reports

        try:
            write_reports(rec, self.folder)
        except Exception as exc:  # noqa: BLE001 - results.json is already saved; say so and go on
            log.warning("report not written (%s); re-render with: advisor report %s", exc, self.folder / "results.json")


class StoreRow:
    """The run's row in the result store: created on the first update, kept current after."""

    def __init__(self, store: ResultStore):
        self.store = store
        self._started: set[str] = set()

    def update(self, rec: Recommendation) -> None:
        if rec.run_id not in self._started:
            self.store.start_run(rec.run_id, rec.task.name, rec.created_at, rec.settings)
            self._started.add(rec.run_id)
        self.store.update_run(rec.run_id, rec.status, rec.to_dict())

    finish = update


class MlflowRun:
    """The finished run logged to MLflow; a tracking-server problem is a warning (results.json is saved)."""

    def __init__(self, uri: str, experiment: str | None, folder: Path):
        self.uri, self.experiment, self.folder = uri, experiment, Path(folder)

    def update(self, rec: Recommendation) -> None:
        pass

    def finish(self, rec: Recommendation) -> None:
        from advisor.errors import AdvisorError
        from advisor.outputs.tracking import log_run

        if rec.status != "complete":
            return
        try:
            log_run(rec, self.folder, self.uri, self.experiment)
        except AdvisorError:
            raise
        except Exception as exc:  # noqa: BLE001
            log.warning("not logged to MLflow at %s (%s: %s); results are in %s", self.uri, type(exc).__name__, exc, self.folder)


class Outputs:
    """Several outputs fed in order."""

    def __init__(self, *outputs: Output):
        self.outputs = list(outputs)

    def update(self, rec: Recommendation) -> None:
        for o in self.outputs:
            o.update(rec)

    def finish(self, rec: Recommendation) -> None:
        for o in self.outputs:
            o.finish(rec)


def standard_outputs(folder: Path, settings: Settings, store: ResultStore | None) -> Outputs:
    """What ``advisor recommend`` leaves: results.json, the store row, the reports and (if asked) MLflow."""
    outs: list[Output] = [ResultsFile(folder)]
    if store is not None:
        outs.append(StoreRow(store))
    outs.append(Reports(folder))
    if settings.output.mlflow:
        outs.append(MlflowRun(settings.output.mlflow, settings.output.mlflow_experiment, folder))
    return Outputs(*outs)
