"""Optional experiment tracking: a run becomes an MLflow run, each candidate a nested run.

Install with ``pip install 'advisor[mlflow]'``. Works against a local file store (``file:./mlruns``,
which recent MLflow releases keep in maintenance mode; the advisor opts in for it) or any tracking
URI (``http://…``, ``sqlite:///…`` with the full ``mlflow`` package, ``databricks``).
"""

from __future__ import annotations

import os
from pathlib import Path

from advisor.core.results import CandidateResult, Recommendation
from advisor.errors import AdvisorError
from advisor.spec.package import Manifest


def _is_file_store(uri: str) -> bool:
    return uri.startswith("file:") or "://" not in uri


def _candidate_metrics(c: CandidateResult) -> dict[str, float]:
    m = {
        "quality": c.quality,
        "energy_per_query_j": c.energy_per_query_j,
        "latency_p50_ms": c.latency_p50_ms,
        "latency_p95_ms": c.latency_p95_ms,
        "throughput_qps": c.throughput_qps,
        "peak_rss_mb": c.peak_rss_mb,
        "parameters": c.parameters,
        "size_bytes": c.size_bytes,
    }
    if c.quality_ci:
        m["quality_ci_low"], m["quality_ci_high"] = c.quality_ci
    if c.energy is not None:
        m["marginal_energy_per_query_j"] = c.energy.marginal_per_query_j
    return {k: float(v) for k, v in m.items() if v is not None}


def log_run(rec: Recommendation, folder: Path, uri: str, experiment: str | None = None) -> str:
    """Log ``rec`` (and the files in its report ``folder``) to MLflow; returns the parent run's id.

    Raises:
        AdvisorError: MLflow is not installed.
    """
    try:
        import mlflow
    except ImportError:
        raise AdvisorError("--mlflow needs MLflow: pip install 'advisor[mlflow]'") from None
    if _is_file_store(uri):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment or f"advisor-{rec.task.name}")
    energy = rec.method.energy
    with mlflow.start_run(run_name=rec.run_id) as parent:
        mlflow.log_params(
            {
                "task": rec.task.name,
                "metric": rec.task.metric_label,
                "threshold": rec.threshold,
                "confidence": rec.confidence,
                "max_drop": rec.max_drop,
                "samples": rec.task.samples,
                "seed": rec.task.seed,
                "data_sha256": rec.task.data_sha256,
                "strategy": rec.search.strategy,
                "ranked_by": rec.ranked_by,
            }
        )
        mlflow.set_tags(
            {"advisor.decision": rec.decision, "advisor.model": rec.model or "", "advisor.energy": energy, "advisor.status": rec.status}
        )
        mlflow.log_metrics({f"advisor_{k}": float(v) for k, v in rec.advisor_cost.to_dict().items() if isinstance(v, (int, float))})
        for name in ("results.json", "report.html", "report.md"):
            if (folder / name).is_file():
                mlflow.log_artifact(str(folder / name))
        for c in rec.candidates:
            with mlflow.start_run(run_name=c.name, nested=True):
                mlflow.log_params(
                    {"name": c.name, "tier": c.tier, "kind": c.kind, "backend": c.backend, "source": c.source[:500], "license": c.license}
                )
                mlflow.set_tags(
                    {
                        "advisor.status": c.status,
                        "advisor.verdict": c.verdict or "",
                        "advisor.reason": (c.reason or "")[:5000],
                        "advisor.recommended": str(c.name == rec.model).lower(),
                        "advisor.energy": energy,
                    }
                )
                metrics = _candidate_metrics(c)
                if metrics:
                    mlflow.log_metrics(metrics)
        return parent.info.run_id


def register_package(folder: Path, manifest: Manifest, uri: str, name: str | None = None) -> dict[str, str]:
    """Log an exported package (an MLflow pyfunc model) in a run of its own and register it in the model registry,
    with its quality, interval and energy per query as metrics and tags; returns the run id, model URI and version.

    Raises:
        AdvisorError: MLflow is not installed, or the package is not an MLflow model.
    """
    try:
        import mlflow
    except ImportError:
        raise AdvisorError("--mlflow needs MLflow: pip install 'advisor[mlflow]'") from None
    if not (folder / "MLmodel").is_file():
        raise AdvisorError(f"{folder}: not an MLflow model (no MLmodel file); export it with MLflow installed")
    if _is_file_store(uri):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(f"advisor-{manifest.task.name}")
    m, s = manifest.measured, manifest.serving
    metrics = {
        "quality": m.get("quality"),
        "energy_per_query_j": m.get("energy_per_query_j"),
        "latency_p50_ms": m.get("latency_p50_ms"),
        "latency_p95_ms": m.get("latency_p95_ms"),
    }
    if m.get("quality_ci"):
        metrics["quality_ci_low"], metrics["quality_ci_high"] = m["quality_ci"]
    tags = {
        "advisor.run_id": manifest.run_id,
        "advisor.candidate": manifest.candidate,
        "advisor.task": manifest.task.name,
        "advisor.metric": manifest.task.metric_label,
        "advisor.energy": str(m.get("energy_method")),
        "advisor.serving": f"{s.runtime}, batch {s.batch_size}, threads {s.threads or 'all'}, {s.device}",
        "advisor.samples": str(m.get("samples")),
    }
    with mlflow.start_run(run_name=f"export {manifest.name}") as run:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        mlflow.set_tags(tags)
        mlflow.log_artifacts(str(folder), artifact_path="model")
    model_uri = f"runs:/{run.info.run_id}/model"
    registered = name or f"{manifest.task.name}-{manifest.name}".replace(" ", "-").replace("/", "-")
    version = mlflow.register_model(model_uri, registered, tags=tags)
    return {"run_id": run.info.run_id, "model_uri": model_uri, "registered_model": registered, "version": str(version.version)}
