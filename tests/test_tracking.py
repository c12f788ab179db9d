"""Experiment tracking against a real MLflow local file store."""

from __future__ import annotations

import advisor
from advisor import Settings
from tests.conftest import FAST as _FAST

FAST = {**_FAST, "exhaustive": True}


def test_each_candidate_becomes_a_nested_mlflow_run_with_the_report_as_artifact(toy_task, tfidf_registry, tmp_path):
    from mlflow.tracking import MlflowClient

    uri = (tmp_path / "mlruns").as_uri()
    rec = advisor.recommend(
        task=toy_task,
        registry=tfidf_registry,
        settings=Settings(reports_dir=tmp_path / "reports", mlflow=uri, mlflow_experiment="toy-exp", min_quality=0.6, **FAST),
    )
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("toy-exp")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {rec.run_id, "tfidf-small", "tfidf-large"}
    parent = runs[rec.run_id]
    assert parent.data.params["task"] == "toy" and parent.data.tags["advisor.model"] == (rec.model or "")
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"results.json", "report.html", "report.md"}
    for c in rec.candidates:
        child = runs[c.name]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.metrics["quality"] == c.quality and child.data.metrics["energy_per_query_j"] == c.energy_per_query_j
        assert child.data.tags["advisor.recommended"] == str(c.name == rec.model).lower()
