"""The Ray executor on a local Ray instance: the same measurements as measuring here, each on a node of its own."""

from __future__ import annotations

import pytest

import advisor
from advisor import Settings
from tests.conftest import FAST as _FAST

pytestmark = [pytest.mark.slow, pytest.mark.shared_cache]  # starting Ray and its workers takes minutes on a small machine

FAST = {**{k: v for k, v in _FAST.items() if k != "isolate"}, "exhaustive": True, "fresh": True}  # each test sets isolate


@pytest.fixture(scope="module")
def ray_local():
    import ray  # installed by the dev extra: a missing ray is a failure, not a skip

    yield ray
    ray.shutdown()


def test_ray_tasks_give_the_same_results_as_local_processes(toy_task, tfidf_registry, tmp_path, ray_local):
    here = advisor.recommend(task=toy_task, registry=tfidf_registry, settings=Settings(reports_dir=tmp_path / "a", isolate=False, **FAST))
    on_ray = advisor.recommend(
        task=toy_task, registry=tfidf_registry, settings=Settings(reports_dir=tmp_path / "b", executor="ray", **FAST)
    )
    a, b = ({c.name: c for c in r.candidates} for r in (here, on_ray))
    assert set(a) == set(b) == {"tfidf-small", "tfidf-large"}
    for name in a:
        assert b[name].status == "ok" and b[name].node.host and b[name].isolated
        assert (a[name].quality, a[name].predictions) == (b[name].quality, b[name].predictions)  # same seed, same data: same model
        assert b[name].energy_per_query_j > 0 and b[name].peak_rss_mb > 0
    assert on_ray.method.energy == "fake"


def test_the_serving_sweep_runs_as_a_ray_task_too(toy_task, tfidf_registry, tmp_path, ray_local):
    phases = []

    class Observer:
        def candidate_started(self, spec, index, total):
            pass

        def progress(self, spec, phase, done, total):
            phases.append(phase)

        def candidate_finished(self, result):
            pass

    settings = Settings(reports_dir=tmp_path, executor="ray", **{**FAST, "serving": "recommended"}, serve_batches=[1, 8], serve_threads=[1])
    rec = advisor.recommend(task=toy_task, registry=tfidf_registry, min_quality=0.5, settings=settings, observer=Observer())
    sweep = rec.serving.candidates[0]
    assert sweep.failed is None and {p.batch_size for p in sweep.points} >= {1, 8}
    assert "sweeping on ray" in phases and sweep.cost.duration_s > 0
