"""The default run's energy against an oracle that knows the answer: does "fewest samples" reach every task?

    python bench/oracle.py [TASK ...] [--out bench-oracle] [--meter codecarbon]

Per task (default: the built-in ``sentiment`` and ``spam``, and ``bench/tasks/sms-all.yaml``, a task the project does
not ship: every one of the 4,534 unique SMS messages, macro-F1 >= 0.90, no ``sample.size``):

1. An exhaustive run on every row the task allows (``--samples`` = its cap: ``sample.size`` or every row), serving
   sweep off: every candidate's answers on every row, and what measuring it cost, phase by phase.
2. The default run (adaptive, first look sized to the goal, more samples for undecided candidates), fresh, in a
   store of its own.
3. The oracle, computed from run 1: it measures, in the default run's cost order, the candidates up to and including
   the one the exhaustive run recommends, each only on the smallest of the default run's planned sample sizes at
   which its verdict is decided (at that look's confidence), or on every row when none does. Its energy per
   candidate is run 1's load + windows + the fitting and quality phases scaled by samples (an estimate from measured
   phases, said so).

Prints, per task, both energies (measuring energy only: the sum of the runs' looks), their ratio (target <= 1.5),
both recommendations, and the oracle's sample size per candidate. Energy as the meter gives it (ESTIMATED by
CodeCarbon on a machine without RAPL/NVML).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HERE = Path(__file__).resolve().parent


def decided_at(predictions: list[str], labels: list[str], sizes: list[int], threshold: float, metric, level: float, seed: int) -> int:
    """The smallest planned size at which the candidate's interval clears the threshold either way (else the last)."""
    from advisor.core.assess import prediction_interval

    for n in sizes:
        lo, hi = prediction_interval(predictions[:n], labels[:n], metric, level, seed)
        if lo >= threshold or hi < threshold:
            return n
    return sizes[-1]


def cost_on(c, n: int, total: int) -> float:
    """What measuring candidate ``c`` on ``n`` of the ``total`` samples costs, from its phases on all of them."""
    ph = {k: (v.energy_j or 0.0) for k, v in c.phases.items()}
    scaled = ph.get("quality", 0.0) + ph.get("train", 0.0)
    return ph.get("load", 0.0) + scaled * n / total + ph.get("energy", 0.0)


def one(task_ref: str, out: Path, meter: str) -> dict:
    import advisor
    from advisor.spec.schema import MetricSpec

    task = advisor.load_task(task_ref)
    cap_rows = task.samples().source_rows - task.spec.prompt.few_shot
    cap = min(task.spec.sample.size or cap_rows, cap_rows)
    base = dict(serving="off", meter=meter)
    t0 = time.perf_counter()
    full = advisor.recommend(
        task=task,
        settings=advisor.Settings(
            **base, exhaustive=True, sample_size=cap, store=out / "exhaustive.sqlite", reports_dir=out / "reports", fresh=True
        ),
    )
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    default_settings = advisor.Settings(**base, store=out / "default.sqlite", reports_dir=out / "reports", fresh=True)
    run = advisor.recommend(task=task, settings=default_settings)
    t_run = time.perf_counter() - t0
    sizes = list(run.search.planned_samples)
    metric = MetricSpec.model_validate(full.task.spec["metric"])
    labels = full.samples.labels
    order = [n for n in run.search.order if full.candidate(n).status == "ok"]
    answer = full.model
    needed = order[: order.index(answer) + 1] if answer in order else order
    picks, oracle_j = {}, 0.0
    for name in needed:
        c = full.candidate(name)
        n = decided_at(c.predictions, labels, sizes, full.threshold, metric, run.search.look_confidence, run.task.seed)
        picks[name] = n
        oracle_j += cost_on(c, n, len(labels))
    run_j = sum(lk.energy_j for lk in run.search.looks)
    full_j = sum(lk.energy_j for lk in full.search.looks)
    return {
        "task": task.name,
        "rows": cap,
        "sizes": sizes,
        "exhaustive": (full.model, full_j, t_full),
        "default": (run.model, run_j, t_run, run.decision),
        "oracle": (answer, oracle_j, picks),
        "energy": run.method.energy,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tasks", nargs="*", default=["sentiment", "spam", str(HERE / "tasks" / "sms-all.yaml")])
    ap.add_argument("--out", type=Path, default=Path("bench-oracle"))
    ap.add_argument("--meter", default="codecarbon")
    args = ap.parse_args()
    from advisor.outputs.text import ratio

    shutil.rmtree(args.out, ignore_errors=True)
    for ref in args.tasks:
        r = one(ref, args.out / Path(ref).stem, args.meter)
        (m_full, j_full, s_full), (m_run, j_run, s_run, decision), (m_or, j_or, picks) = r["exhaustive"], r["default"], r["oracle"]
        x = ratio(j_run, j_or)
        print(f"\n{r['task']}: {r['rows']} rows, planned looks {r['sizes']}; energy {r['energy']}")
        print(f"  exhaustive on every row: {m_full}, {j_full:,.0f} J measuring, {s_full / 60:.1f} min")
        print(f"  default run:             {m_run} ({decision}), {j_run:,.0f} J measuring, {s_run / 60:.1f} min")
        print(f"  oracle (estimated):      {m_or}, {j_or:,.0f} J; samples per candidate: {picks}")
        print(f"  default / oracle: {('%.2f' % x) if x is not None else 'n/a'} (target <= 1.5); same answer: {m_run == m_or}")


if __name__ == "__main__":
    main()
