"""The Ray executor on a local Ray instance: the same measurements as measuring here, each on a node of its own."""

from __future__ import annotations

import pytest

import advisor
from advisor import Settings

pytestmark = pytest.mark.slow  # starting Ray and its workers takes minutes on a small machine

FAST = dict(idle_s=0, repeats=2, min_window_s=0.05, latency_queries=3, batch_size=8, exhaustive=True, fresh=True)


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
        assert b[name].status == "ok" and b[name].details["node"]
        assert (a[name].quality, a[name].predictions) == (b[name].quality, b[name].predictions)  # same seed, same data: same model
        assert b[name].energy_per_query_j > 0 and b[name].peak_rss_mb > 0
    assert on_ray.method.energy == "fake"
