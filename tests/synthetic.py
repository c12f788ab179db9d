"""A deterministic Recommendation with many candidates, built without running any model."""

from __future__ import annotations

from advisor.core.ranking import rank
from advisor.core.results import CandidateServing, Cost, EnergyStats, Making, MakingStep, Recommendation, ServingPoint, TaskInfo
from tests.factories import candidate, energy

EVIL = "<script>alert('x')</script>"


def _energy(j: float) -> EnergyStats:
    return energy(j, repeats=[0.95 * j, j, 1.05 * j], cpu_share=0.4, marginal=0.45 * j, window_queries=64, durations=[2.0, 2.1, 2.0])


def synthetic_recommendation(n: int = 20, threshold: float = 0.8) -> Recommendation:
    n_samples = 40
    texts = [f"sample {i} {EVIL if i == 3 else ''} | pipe *stars*" for i in range(n_samples)]
    labels = ["pos" if i % 2 else "neg" for i in range(n_samples)]
    cands = []
    for i in range(n):
        wrong = round((0.45 - 0.4 * i / max(n - 1, 1)) * n_samples)
        flip = set(range(i % 3, n_samples, max(1, n_samples // max(wrong, 1))))
        flip = set(sorted(flip)[:wrong])
        preds = [("neg" if y == "pos" else "pos") if k in flip else y for k, y in enumerate(labels)]
        q = 1 - len(flip) / n_samples
        name = EVIL if i == 1 else f"model-{i:02d}"
        cands.append(
            candidate(
                name,
                tier=("small", "distilled", "large")[i % 3],
                kind="encoder-head",
                backend="onnx",
                source=f"local:/m/{i}",
                quality=q,
                energy=_energy(0.002 * 1.4**i),
                latency_p50_ms=1.0 + i,
                latency_p95_ms=1.5 + i,
                throughput_qps=1000 / (1 + i),
                peak_rss_mb=300 + 40 * i,
                parameters=10_000 * 3**i,
                size_bytes=40_000 * 3**i,
                load_s=0.1,
                predictions=preds,
                confidence=[round(0.5 + 0.012 * k, 3) for k in range(n_samples)],
            )
        )
    cands.append(
        candidate(
            "hub-model",
            tier="large",
            kind="hf-pipeline",
            backend="transformers",
            source="hub:x/y@abc",
            status="skipped",
            reason=f"hub model 'x/y@abc' is not in the local cache {EVIL}",
        )
    )
    if n > 4:  # a bespoke model made from its neighbour: the report's lineage section and chart arrow
        cands[4] = cands[4].model_copy(
            update={
                "derived_from": cands[3].name,
                "kind": "static-head",
                "making": Making(
                    parent=cands[3].name,
                    method="distilled to static token embeddings (model2vec), then a head",
                    steps=[
                        MakingStep(what="distil the parent", energy_j=150.0, duration_s=12.0),
                        MakingStep(what="fit the head", energy_j=2.5),
                    ],
                    energy_j=152.5,
                    duration_s=12.5,
                ),
            }
        )
    from advisor.core.assess import assess
    from advisor.core.ranking import pareto_front
    from advisor.spec.schema import MetricSpec

    cands, _ = assess(cands, labels, MetricSpec(name="accuracy"), threshold=None, confidence=0.95)
    r = rank(cands, threshold, "energy", "accuracy")
    order = {name: k for k, name in enumerate(r.order)}
    from advisor.core.impact import savings

    by = {c.name: c for c in cands}
    saved = savings(by[r.model], by[r.best], 100_000, "USA", 0.2, 1234.0) if r.model and r.best != r.model else None
    task = TaskInfo(
        name="toy",
        path="/tasks/toy.yaml",
        type="text-classification",
        metric="accuracy",
        metric_label="accuracy",
        threshold=threshold,
        samples=n_samples,
        source_rows=100,
        seed=1,
        folds=3,
        data_sha256="0" * 64,
        spec={"name": "toy"},
    )
    rec = Recommendation(
        run_id="20260101-000000-toy",
        created_at="2026-01-01T00:00:00+00:00",
        task=task,
        threshold=threshold,
        ranked_by="energy",
        model=r.model,
        best=r.best,
        summary=r.summary,
        decision=r.decision,
        pareto=pareto_front(cands),
        savings=saved,
        candidates=sorted(cands, key=lambda c: order[c.name]),
        settings={
            "batch_size": 16,
            "repeats": 3,
            "min_window_s": 2.0,
            "warmup_batches": 2,
            "latency_queries": 20,
            "queries_per_day": 100000,
            "reports_dir": "reports",
        },
        method={
            "energy": "estimated",
            "meter": "codecarbon",
            "codecarbon_version": "3.3.2",
            "tracking_mode": "process",
            "cpu": "CPU(Cpu Load), load x TDP model",
            "gpu": "none detected",
            "ram": "constant RAM power model",
            "cpu_tdp_w": 8,
            "cpu_model": "Test CPU",
            "cpu_count": 2,
            "ram_total_gb": 16.0,
        },
        idle_power_w={"total": 10.0, "cpu": 0.0, "ram": 10.0, "gpu": 0.0},
        environment={"python": "3.11.7", "platform": "Linux", "versions": {"advisor": "0.1.0", "codecarbon": "3.3.2"}},
        registry={"path": "/registry.yaml", "candidates": [{"name": c.name} for c in cands]},
        advisor_cost={"energy_j": 1234.0, "duration_s": 99.0},
        samples={"texts": texts, "labels": labels},
    )
    return with_serving(rec) if rec.model else rec


def _point(runtime: str, batch: int, threads: int, j: float, p95_ms: float, default: bool = False) -> ServingPoint:
    return ServingPoint(
        runtime=runtime,
        batch_size=batch,
        threads=threads,
        energy=energy(j, ci=[0.95 * j, 1.05 * j], repeats=[0.95 * j, j, 1.05 * j]),
        throughput_qps=1000.0 * batch / p95_ms,
        batch_p50_ms=0.8 * p95_ms,
        batch_p95_ms=p95_ms,
        latency_p50_ms=0.8 * p95_ms,
        latency_p95_ms=p95_ms,
        latency_batches=30,
        default=default,
    )


def with_serving(rec: Recommendation) -> Recommendation:
    """``rec`` with a serving sweep of its recommended model, decided as a run decides (a 50 ms goal at 100 queries/s)."""
    from advisor.serving.run import decide_serving
    from advisor.spec.settings import Settings

    points = [
        _point("pytorch", 16, 2, 0.004, 60.0, default=True),
        _point("pytorch", 1, 1, 0.006, 9.0),
        _point("onnxruntime", 1, 1, 0.0025, 7.0),
        _point("onnxruntime", 4, 2, 0.0021, 18.0),
        _point("onnxruntime", 64, 2, 0.0015, 240.0),
    ]
    sweep = CandidateServing(name=rec.model, points=points, not_measured=["openvino: not installed (pip install openvino)"])
    settings = Settings(serving="recommended", max_latency_ms=50.0, queries_per_second=100.0)
    serving = decide_serving(rec, [sweep], settings, total_j=321.0)
    return rec.model_copy(update={"serving": serving.model_copy(update={"cost": Cost(energy_j=321.0, duration_s=42.0)})})
