"""A deterministic Recommendation with many candidates, built without running any model."""

from __future__ import annotations

from advisor.ranking import rank
from advisor.results import CandidateResult, EnergyStats, Recommendation, TaskInfo

EVIL = "<script>alert('x')</script>"


def _energy(j: float) -> EnergyStats:
    return EnergyStats(per_query_j=j, cpu_per_query_j=0.4 * j, ram_per_query_j=0.6 * j, gpu_per_query_j=0.0, marginal_per_query_j=0.45 * j,
                       repeats_per_query_j=[0.95 * j, j, 1.05 * j], window_queries=64, window_durations_s=[2.0, 2.1, 2.0])


def synthetic_recommendation(n: int = 20, threshold: float = 0.8) -> Recommendation:
    texts = [f"sample {i} {EVIL if i == 3 else ''} | pipe *stars*" for i in range(12)]
    labels = ["pos" if i % 2 else "neg" for i in range(12)]
    cands = []
    for i in range(n):
        q = round(0.55 + 0.4 * i / max(n - 1, 1), 3)
        preds = [y if (k + i) % 4 else ("neg" if y == "pos" else "pos") for k, y in enumerate(labels)]
        name = EVIL if i == 1 else f"model-{i:02d}"
        cands.append(CandidateResult(
            name=name, tier=("small", "distilled", "large")[i % 3], kind="encoder-head", backend="onnx", source=f"local:/m/{i}", license="MIT",
            status="ok", quality=q, energy=_energy(0.002 * 1.4**i), latency_p50_ms=1.0 + i, latency_p95_ms=1.5 + i, throughput_qps=1000 / (1 + i),
            peak_rss_mb=300 + 40 * i, parameters=10_000 * 3**i, size_bytes=40_000 * 3**i, load_s=0.1, predictions=preds,
            confidence=[0.5 + 0.04 * k for k in range(12)]))
    cands.append(CandidateResult(name="hub-model", tier="large", kind="hf-pipeline", backend="transformers", source="hub:x/y@abc", license="MIT",
                                 status="skipped", reason=f"hub model 'x/y@abc' is not in the local cache {EVIL}"))
    r = rank(cands, threshold, "energy", "accuracy")
    order = {name: k for k, name in enumerate(r.order)}
    task = TaskInfo(name="toy", path="/tasks/toy.yaml", type="text-classification", metric="accuracy", metric_label="accuracy",
                    threshold=threshold, samples=12, source_rows=100, seed=1, folds=3, data_sha256="0" * 64, spec={"name": "toy"})
    return Recommendation(
        run_id="20260101-000000-toy", created_at="2026-01-01T00:00:00+00:00", task=task, threshold=threshold, ranked_by="energy",
        model=r.model, best=r.best, summary=r.summary, candidates=sorted(cands, key=lambda c: order[c.name]),
        settings={"batch_size": 16, "repeats": 3, "min_window_s": 2.0, "warmup_batches": 2, "latency_queries": 20, "queries_per_day": 100000,
                  "reports_dir": "reports"},
        method={"energy": "estimated", "meter": "codecarbon", "codecarbon_version": "3.3.2", "tracking_mode": "process",
                "cpu": "CPU(Cpu Load), load x TDP model", "gpu": "none detected", "ram": "constant RAM power model", "cpu_tdp_w": 8,
                "cpu_model": "Test CPU", "cpu_count": 2, "ram_total_gb": 16.0},
        idle_power_w={"total": 10.0, "cpu": 0.0, "ram": 10.0, "gpu": 0.0},
        environment={"python": "3.11.7", "platform": "Linux", "versions": {"advisor": "0.1.0", "codecarbon": "3.3.2"}},
        registry={"path": "/registry.yaml", "candidates": [{"name": c.name} for c in cands]},
        advisor_cost={"energy_j": 1234.0, "duration_s": 99.0}, samples={"texts": texts, "labels": labels},
    )
