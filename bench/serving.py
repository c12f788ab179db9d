"""Serving sweep on a real task: how much energy per query the chosen serving configuration saves against the
run's own configuration (batch 16, all threads, the model's runtime), both measured in the same sweep, and what
the sweep itself cost. One run of this script measures everything it prints.

For each model, the sweep runs as the advisor runs it (a fresh worker process with its own meter): it loads the
model once and measures every configuration of batch size x threads x runtime with the advisor's repeated metered
windows (CodeCarbon; on a machine without RAPL/NVML counters the energy is
ESTIMATED, and the table says so). The choice is made twice: with no latency goal (least energy) and with
``--max-latency-ms`` (least energy whose p95 meets it, batch fill wait at ``--queries-per-second`` included).

    python bench/serving.py [--task spam] [--models "all-MiniLM-L6-v2" "paraphrase-MiniLM-L3-v2 (onnx)"]
                            [--max-latency-ms 50] [--queries-per-second 100] [--min-window-s 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

MODELS = ["all-MiniLM-L6-v2", "paraphrase-MiniLM-L3-v2 (onnx)"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="spam")
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--max-latency-ms", type=float, default=50.0)
    ap.add_argument("--queries-per-second", type=float, default=100.0)
    ap.add_argument("--min-window-s", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from dataclasses import replace

    from advisor.core.results import Method, Recommendation
    from advisor.measure.executor import make_job_meter
    from advisor.measure.windows import idle_power
    from advisor.outputs.text import duration, joules, milliseconds
    from advisor.search.plan import make_plan
    from advisor.serving.choice import configuration, energy_label
    from advisor.serving.run import decide_serving, run_sweeps
    from advisor.spec.settings import Settings

    settings = Settings(candidates=args.models, min_window_s=args.min_window_s, repeats=args.repeats)
    plan = make_plan(args.task, None, settings)
    meter = make_job_meter(settings.measurement)  # the idle baseline, measured once here as a run measures it once
    meter.start()
    idle = idle_power(meter, settings.measurement.idle_s)
    meter.stop()
    sweeps, totals, method = [], {}, {}
    for spec in plan.specs:
        if spec.name in plan.unavailable:
            print(f"{spec.name}: not available here: {plan.unavailable[spec.name].reason}")
            continue
        t0 = time.perf_counter()
        got, totals[spec.name], method = run_sweeps([replace(plan.job(spec), idle_power_w=idle)], settings)
        sweeps += got
        print(f"swept {spec.name}: {len(got[0].points)} configurations in {duration(time.perf_counter() - t0)}", flush=True)
    label = energy_label(method.get("energy", ""))
    rec = Recommendation.model_construct(model=None, method=Method.model_validate(method))
    free = decide_serving(rec, sweeps, settings)
    goal = decide_serving(
        rec, sweeps, settings.model_copy(update={"max_latency_ms": args.max_latency_ms, "queries_per_second": args.queries_per_second})
    )

    print()
    where = f"{platform.node()}: {os.cpu_count()} CPUs"
    print(f"task {args.task}, {len(plan.samples)} samples; {where}; energy {label} (CodeCarbon {method.get('codecarbon_version')})")
    print(f"goal: p95 <= {milliseconds(args.max_latency_ms)} at {args.queries_per_second:g} queries/s (batch fill wait included)")
    head = f"{'model':<32} {'choice':<10} {'configuration':<34} {'J/query':>10} {'p95 ms':>9} {'vs default':>10}"
    print(head)
    print("-" * len(head))
    for name_free, c_free in zip(free.candidates, goal.candidates):
        default = next((p for p in c_free.points if p.default), None)
        rows = [("default", default)]
        rows.append(("no goal", name_free.points[name_free.chosen] if name_free.chosen is not None else None))
        rows.append(("p95 goal", c_free.points[c_free.chosen] if c_free.chosen is not None else None))
        for kind, p in rows:
            if p is None:
                print(f"{c_free.name:<32} {kind:<10} {'none meets the goal':<34}")
                continue
            ratio = p.energy.per_query_j / default.energy.per_query_j if default else float("nan")
            print(
                f"{c_free.name:<32} {kind:<10} {configuration(p):<34} {joules(p.energy.per_query_j, ''):>10} "
                f"{milliseconds(p.latency_p95_ms, ''):>9} {ratio:>9.2f}x"
            )
        print(
            f"{'':<32} sweep cost: {duration(c_free.cost.duration_s)}, {joules(totals[c_free.name])} ({label}, the worker's meter total); "
            f"{len(c_free.points)} configurations measured, {len(c_free.not_measured)} left out"
        )
        for why in c_free.not_measured:
            print(f"{'':<34}- {why}")
    print()
    print(f"no goal:  {free.answer}")
    print(f"p95 goal: {goal.answer}")
    print(f"sweep total: {duration(free.cost.duration_s)}, {joules(sum(v or 0.0 for v in totals.values()))} ({label})")


if __name__ == "__main__":
    main()
