"""Candidates in parallel on Ray: the same task on the local executor and on a local Ray cluster of N nodes.

    python bench/ray_scaling.py [--task sentiment] [--samples 200] [--nodes 2] [--adaptive]

1. The local executor (a fresh process per candidate, the default), every candidate measured (``--exhaustive``
   unless ``--adaptive``), serving sweep and cascade off, a fresh store.
2. The same run with ``--executor ray`` on a Ray cluster started here (``ray.cluster_utils``): N nodes, each with
   an equal share of this machine's cores and one measuring slot (``advisor_slot``), so at most one measurement runs
   per node at a time.

Prints both wall times and their ratio, whether the answers and every candidate's quality agree, where each
candidate ran, and, from the local run's measured per-candidate times, the wall time a cluster of 1, 2, 4, 8 and 16
separate machines would take (greedy in the search's cost order: each candidate on the first node free, the run's
serial part, planning, judging and writing, added once). On one machine the nodes share its cores, so the measured
cluster wall time is a floor on what separate machines would show, and the cluster run's energy figures are not
comparable with the local run's (every node's meter sees the whole machine): only wall time is compared.
"""

from __future__ import annotations

import argparse
import heapq
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]


def projected_wall_s(durations: list[float], serial_s: float, nodes: int) -> float:
    """The run's wall time with ``nodes`` machines: jobs in order, each on the first node free, plus the serial part."""
    free = [0.0] * nodes
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return serial_s + max(free)


def run(task: str, settings, label: str):
    import advisor

    t0 = time.perf_counter()
    rec = advisor.recommend(task=task, settings=settings)
    wall = time.perf_counter() - t0
    print(f"{label}: {wall:.1f} s wall, answer {rec.model}, decision {rec.decision}", flush=True)
    return rec, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="sentiment")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--adaptive", action="store_true", help="the default adaptive search instead of measuring every candidate")
    args = ap.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    from advisor import Settings
    from advisor.measure.executor import SLOT

    work = Path(tempfile.mkdtemp(prefix="advisor-ray-bench-"))
    common = dict(sample_size=args.samples, exhaustive=not args.adaptive, serving="off", cascade="off", fresh=True)
    local, local_wall = run(args.task, Settings(reports_dir=work / "local", store=work / "local.sqlite", **common), "local executor")

    cores = os.cpu_count() or 1
    per_node = max(1, cores // args.nodes)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": per_node, "resources": {SLOT: 1}})
    for _ in range(args.nodes - 1):
        cluster.add_node(num_cpus=per_node, resources={SLOT: 1})
    cluster.wait_for_nodes()
    try:
        settings = Settings(reports_dir=work / "ray", store=work / "ray.sqlite", executor="ray", ray_address=cluster.address, **common)
        on_ray, ray_wall = run(args.task, settings, f"ray, {args.nodes} nodes x {per_node} cores")
    finally:
        ray.shutdown()
        cluster.shutdown()

    a = {c.name: c for c in local.candidates}
    b = {c.name: c for c in on_ray.candidates}
    same = all((a[n].status, a[n].quality, a[n].verdict) == (b[n].status, b[n].quality, b[n].verdict) for n in a)
    print(f"\nsame answer: {local.model == on_ray.model}; same status, quality and verdict for every candidate: {same}")
    print(f"wall time: local {local_wall:.1f} s, ray {ray_wall:.1f} s, ratio ray/local {ray_wall / local_wall:.2f}")
    if on_ray.search.ahead is not None:
        ah = on_ray.search.ahead
        print(f"run ahead: {ah.slots} slots, {len(ah.used)} used, unused {ah.unused or 'none'}, cancelled {ah.cancelled_s:.1f} s")
    print("\ncandidate                                  local s   ray node   ray window s")
    t_ray0 = min((c.node.started for c in on_ray.candidates if c.node), default=0.0)
    for name, c in a.items():
        r = b[name]
        where = (r.node.node_id or r.node.host)[:8] if r.node else ""
        span = f"{r.node.started - t_ray0:6.1f}-{r.node.ended - t_ray0:6.1f}" if r.node else "-"
        took = f"{c.cost.duration_s:8.1f}" if c.cost else "       -"
        print(f"{name[:42]:42} {took}   {where:8}   {span}")

    durations = [a[n].cost.duration_s for n in local.search.order if n in a and a[n].cost and a[n].status != "pruned"]
    serial = max(0.0, local_wall - sum(durations))
    print(f"\nprojected wall time on separate machines (local per-candidate times, {serial:.1f} s serial part):")
    one = projected_wall_s(durations, serial, 1)
    for n in (1, 2, 4, 8, 16):
        wall = projected_wall_s(durations, serial, n)
        print(f"  {n:2} nodes: {wall:7.1f} s  ({one / wall:.2f}x)")
    print("(energy is not compared: on one machine every node's meter sees all of it; ESTIMATED by CodeCarbon here)")


if __name__ == "__main__":
    main()
