"""Candidates in parallel on a two-node local Ray cluster: one measurement per node at a time, the same decision as here."""

from __future__ import annotations

import itertools

import pytest

import advisor
from advisor import Settings
from advisor.measure.executor import SLOT
from tests.conftest import FAST as _FAST

pytestmark = [pytest.mark.slow, pytest.mark.shared_cache]  # two Ray nodes and their workers start in about half a minute on a small machine

FAST = {**{k: v for k, v in _FAST.items() if k != "isolate"}, "fresh": True}
SIZES = (20, 50, 200, 5000)


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes on this machine, each with one CPU and one measuring slot."""
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()  # another module's local instance must not be the one joined
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {SLOT: 1}})
    nodes.add_node(num_cpus=1, resources={SLOT: 1})
    nodes.wait_for_nodes()
    yield nodes.address
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture
def four_tfidf(tmp_path):
    path = tmp_path / "registry.yaml"
    entry = "  - {{name: tfidf-{n}, tier: small, kind: tfidf-logreg, backend: sklearn, task_types: [text-classification], license: MIT, "
    entry += "options: {{max_features: {n}, ngram_max: 1}}}}\n"
    path.write_text("version: 1\ncandidates:\n" + "".join(entry.format(n=n) for n in SIZES), encoding="utf-8")
    return path


def _windows(rec) -> dict[str, list[tuple[float, float]]]:
    by_node: dict[str, list[tuple[float, float]]] = {}
    for c in rec.candidates:
        if c.status == "ok":
            by_node.setdefault(c.node.node_id, []).append((c.node.started, c.node.ended))
    return by_node


def _never_two_at_once(by_node: dict[str, list[tuple[float, float]]]) -> None:
    for node, spans in by_node.items():
        for (a0, a1), (b0, b1) in itertools.combinations(sorted(spans), 2):
            assert a1 <= b0, f"two measurements at once on node {node[:8]}: {a0:.2f}-{a1:.2f} and {b0:.2f}-{b1:.2f}"


def test_every_candidate_measured_in_parallel_gives_the_local_results(toy_task, four_tfidf, tmp_path, cluster):
    here = advisor.recommend(
        task=toy_task, registry=four_tfidf, settings=Settings(reports_dir=tmp_path / "a", isolate=False, exhaustive=True, **FAST)
    )
    on_ray = advisor.recommend(
        task=toy_task,
        registry=four_tfidf,
        settings=Settings(reports_dir=tmp_path / "b", executor="ray", ray_address=cluster, exhaustive=True, **FAST),
    )
    a, b = ({c.name: c for c in r.candidates} for r in (here, on_ray))
    assert set(a) == set(b) == {f"tfidf-{n}" for n in SIZES}
    for name in a:
        assert b[name].status == "ok"
        assert (a[name].quality, a[name].predictions, a[name].verdict) == (b[name].quality, b[name].predictions, b[name].verdict)
    ahead = on_ray.search.ahead
    assert ahead is not None and ahead.slots == 2
    assert ahead.used and not ahead.unused  # measuring everything: every look run ahead is used
    _never_two_at_once(_windows(on_ray))


def test_an_adaptive_search_run_ahead_decides_as_one_at_a_time(toy_task, four_tfidf, tmp_path, cluster):
    goal = {"min_quality": 0.5}
    here = advisor.recommend(
        task=toy_task, registry=four_tfidf, settings=Settings(reports_dir=tmp_path / "a", isolate=False, **FAST), **goal
    )
    on_ray = advisor.recommend(
        task=toy_task,
        registry=four_tfidf,
        settings=Settings(reports_dir=tmp_path / "b", executor="ray", ray_address=cluster, **FAST),
        **goal,
    )
    first, second, third = here.search.order[:3]
    assert on_ray.model == here.model == first
    assert {c.name: c.status for c in on_ray.candidates} == {c.name: c.status for c in here.candidates}
    ahead = on_ray.search.ahead
    # the second candidate started beside the first and was not needed once the first met the goal
    assert ahead.unused == [second] and third not in ahead.used + ahead.unused
    assert ahead.unused_energy_j >= 0 and ahead.cancelled_s >= 0
    assert on_ray.candidate(second).status == "pruned"
    _never_two_at_once(_windows(on_ray))
