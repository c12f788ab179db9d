"""Cascades on real tasks: does the best cascade beat the recommended single model, measured as one pipeline?

    python bench/cascade.py [TASK ...] [--out bench-cascade] [--meter codecarbon] [--worlds 1000]

Per task (default: the built-in ``sentiment`` and ``spam``, and ``bench/tasks/sms-all.yaml``, a task the project does
not ship), one default run (adaptive, cascades on, serving sweep off), fresh, in a store of its own. Prints:

- the model the cascade ends in (the recommended single model, or the best) and its J/query;
- the best certified cascade: its J/query measured as one pipeline beside the computed figure (stage shares x stage
  energies), the ratio to the single model, its held-out quality interval, the share each stage answered in the
  metered windows and on the held-out samples, its verdict; or the run's one-line reason when there is none;
- the extra cost of finding it: the looks drawn to decide a cascade plus the cascade's own measurement, against the
  whole run's measuring energy.

Then the coverage simulation: in many simulated worlds (two and three stages, calibrated early stages), how often the
chosen cascade's true accuracy falls below the threshold, against the stated 5%, and how often a gate chosen in-sample
(by its point accuracy) does. Energy as the meter gives it (ESTIMATED by CodeCarbon on a machine without RAPL/NVML).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HERE = Path(__file__).resolve().parent


def one(task_ref: str, out: Path, meter: str) -> dict:
    import advisor

    settings = advisor.Settings(serving="off", meter=meter, store=out / "store.sqlite", reports_dir=out / "reports", fresh=True)
    t0 = time.perf_counter()
    rec = advisor.recommend(task=task_ref, settings=settings)
    seconds = time.perf_counter() - t0
    looks = rec.search.looks
    return {
        "rec": rec,
        "seconds": seconds,
        "run_j": sum(lk.energy_j for lk in looks),
        "cascade_j": sum(lk.energy_j for lk in looks if lk.for_cascade),
        "cascade_s": sum(lk.duration_s for lk in looks if lk.for_cascade),
    }


def show(r: dict) -> None:
    from advisor.outputs.text import joules, percent, quality

    rec, c = r["rec"], r["rec"].cascade
    print(f"\n{rec.task.name}: {rec.task.samples} samples at the last look, energy {rec.method.energy}; {r['seconds'] / 60:.1f} min")
    print(f"  answer: {rec.summary}")
    single = rec.candidate(c.stages[-1]) if c is not None else (rec.candidate(rec.model) if rec.model else None)
    if single is not None and single.energy is not None:
        q = quality(single.quality, single.quality_ci)
        print(f"  single model: {single.name}, {joules(single.energy_per_query_j, ' J/query')}, {q}")
    if c is None:
        print(f"  {rec.no_cascade}")
    else:
        m = c.measured_energy_per_query_j
        x = m / single.energy_per_query_j if m is not None and single.energy_per_query_j else None
        print(f"  cascade {' -> '.join(c.stages)}, gate {c.gate:.2f}, verdict {c.verdict}")
        print(
            f"    measured {joules(m, ' J/query')} ({'%.2fx the single model' % x if x is not None else 'ratio not measured'}); "
            f"computed {joules(c.energy_per_query_j, ' J/query')}; queries: {c.queries_from}"
        )
        q = quality(c.quality, c.quality_ci)
        print(f"    quality on {c.samples_held_out} held-out samples: {q}; certified at {c.certified_at:.1%}")
        print(f"    shares answered: windows {[percent(s) for s in c.measured_shares]}, held out {[percent(s) for s in c.shares]}")
    share = r["cascade_j"] / r["run_j"] if r["run_j"] else None
    print(
        f"  cost of the cascade search: {joules(r['cascade_j'])} in {r['cascade_s']:.0f} s "
        f"({percent(share) if share is not None else 'not measured'} of the run's {joules(r['run_j'])} measuring)"
    )


def simulate(worlds: int, n: int = 600, threshold: float = 0.90, delta: float = 0.05, seed: int = 7) -> None:
    """The stated guarantee in simulated worlds: calibrated early stages, a last stage right 94% of the time."""
    from advisor.core.cascades import GATES, Stage, answers, choose, exact_lower_bound

    def world(rng, size: int, stages: int):
        labels = rng.choice(["a", "b"], size)
        other = np.where(labels == "a", "b", "a")
        out = []
        for i in range(stages):
            if i < stages - 1:
                conf = rng.uniform(0.5, 1.0, size)
                right = rng.random(size) < np.minimum(conf, 0.97)
            else:
                conf, right = np.ones(size), rng.random(size) < 0.94
            out.append(Stage(f"s{i}", np.where(right, labels, other).tolist(), conf.tolist(), float(10**i)))
        return out, labels.tolist()

    def bound(preds, labels):
        return exact_lower_bound(sum(p == y for p, y in zip(preds, labels)), len(labels), delta)

    for stages in (2, 3):
        rng = np.random.default_rng(seed)
        pop, pop_labels = world(rng, 200_000, stages)
        truth = {}
        for g in GATES:
            preds, _ = answers(pop, np.arange(len(pop_labels)), g)
            truth[g] = float(np.mean(np.asarray(preds) == np.asarray(pop_labels)))
        chosen = below = naive = 0
        for _ in range(worlds):
            st, labels = world(rng, n, stages)
            got = choose(st, labels, threshold, bound)
            if got is not None:
                chosen += 1
                below += truth[got.gate] < threshold
            ok = [g for g in GATES if np.mean(np.asarray(answers(st, np.arange(n), g)[0]) == np.asarray(labels)) >= threshold]
            naive += truth[min(ok)] < threshold if ok else 0
        print(
            f"  {stages} stages, {worlds} worlds of {n} samples: a cascade chosen in {chosen}; its true accuracy below "
            f"{threshold} in {below} ({below / worlds:.1%}, stated at most {delta:.0%}); gate chosen in-sample: {naive} "
            f"({naive / worlds:.1%})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tasks", nargs="*", default=["sentiment", "spam", str(HERE / "tasks" / "sms-all.yaml")])
    ap.add_argument("--out", type=Path, default=Path("bench-cascade"))
    ap.add_argument("--meter", default="codecarbon")
    ap.add_argument("--worlds", type=int, default=1000)
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    for ref in args.tasks:
        show(one(ref, args.out / Path(ref).stem, args.meter))
    if args.worlds:
        print("\ncoverage simulation (Learn-then-Test, exact bound):")
        simulate(args.worlds)


if __name__ == "__main__":
    main()
