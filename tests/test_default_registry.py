"""The real default registry on the built-in sentiment task (minutes: marked slow, still run in CI)."""

from __future__ import annotations

import pytest

import advisor
from advisor import Settings

pytestmark = [pytest.mark.slow, pytest.mark.hardware, pytest.mark.shared_cache]  # real models, the real meter


def test_default_registry_on_sentiment(tmp_path):
    settings = Settings(
        reports_dir=tmp_path,
        store=tmp_path / "s.sqlite",
        sample_size=150,
        repeats=3,
        latency_queries=5,
        min_quality=0.6,
        exhaustive=True,
        serving="off",  # the real registry's measurements are the subject; the sweep has tests of its own
    )
    rec = advisor.recommend(task="sentiment", settings=settings)
    by = {c.name: c for c in rec.candidates}
    offline_kinds = {"tfidf-logreg", "encoder-head", "encoder-finetuned", "static-head", "prompted"}
    for c in rec.candidates:
        if c.kind in offline_kinds:
            assert c.status == "ok", f"{c.name}: {c.reason}"
            assert 0 <= c.quality <= 1 and c.energy_per_query_j > 0 and c.parameters > 0 and c.size_bytes > 0
            assert c.peak_rss_mb > 100 and c.latency_p50_ms <= c.latency_p95_ms
        else:  # ready hub classifiers: skipped offline with the reason
            assert c.status in {"ok", "skipped"}
            if c.status == "skipped":
                assert "hub" in c.reason
    # measured, not typed in: the known sizes of the shipped models
    assert by["all-MiniLM-L6-v2"].details["encoder_parameters"] == pytest.approx(22.7e6, rel=0.01)
    assert by["all-mpnet-base-v2"].details["encoder_parameters"] == pytest.approx(109.5e6, rel=0.01)
    assert by["SmolLM2-135M-Instruct (gguf)"].parameters == pytest.approx(134.5e6, rel=0.01)
    # a larger encoder costs more energy per query than a smaller one on the same runtime
    assert by["all-mpnet-base-v2"].energy_per_query_j > by["all-MiniLM-L6-v2"].energy_per_query_j
    assert by["tfidf-logreg"].energy_per_query_j < by["paraphrase-MiniLM-L3-v2 (onnx)"].energy_per_query_j
    # the static variant: distilled from the real encoder, its making metered apart, far cheaper per query
    static = by["all-MiniLM-L6-v2 [static]"]
    assert static.making.parent == "all-MiniLM-L6-v2" and static.making.steps[0].what == "distil the parent"
    assert static.making.energy_j > 0 and static.parameters < by["all-MiniLM-L6-v2"].parameters
    assert static.energy_per_query_j < by["all-MiniLM-L6-v2"].energy_per_query_j / 3
    assert rec.method.meter == "codecarbon" and rec.method.energy in {"estimated", "measured"}
    assert rec.status == "complete" and (tmp_path / rec.run_id / "results.json").is_file()
