"""The decision step on synthetic results: assess (intervals, paired comparisons), rank + Pareto, and the
cascade search, for 8 candidates x 2,000 samples x 10 classes, with macro-F1 and with accuracy. No model runs.

    python bench/decide.py [--candidates 8] [--samples 2000] [--classes 10] [--repeats 3] [--no-old]

Prints each step's time (best of the repeats) and the total per metric, and beside them the old
pure-Python bootstrap (one resampled metric computed per resample, as before the vectorised
statistics) timed on one candidate in the same run, with the ratio and whether the values agree.
Target: total <= 2 s per metric on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from advisor.core.assess import assess, metric_fn
from advisor.core.cascades import best_cascade
from advisor.core.ranking import pareto_front, rank
from advisor.core.results import CandidateResult
from advisor.spec.schema import MetricSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

THRESHOLD, CONFIDENCE, MAX_DROP, SEED = 0.80, 0.95, 0.05, 0


def candidates(n: int, k: int, count: int, seed: int = 0) -> tuple[list[CandidateResult], list[str]]:
    """``count`` classifiers from 60% to 97% right, energy rising 3x per step, probabilities higher when right."""
    from tests.factories import candidate, energy  # the tests' result factories (repo root on sys.path, above)

    rng = np.random.default_rng(seed)
    classes = [f"class-{i}" for i in range(k)]
    y = rng.integers(0, k, n)
    labels = [classes[i] for i in y]
    out = []
    for j, acc in enumerate(np.linspace(0.60, 0.97, count)):
        right = rng.random(n) < acc
        pred = np.where(right, y, (y + rng.integers(1, k, n)) % k)
        prob = np.clip(np.where(right, rng.beta(5, 2, n), rng.beta(2, 4, n)), 1e-6, 1.0)
        e = 0.001 * 3.0**j
        out.append(
            candidate(
                f"model-{j}",
                source="synthetic",
                predictions=[classes[i] for i in pred],
                probabilities=prob.tolist(),
                energy=energy(e, repeats=[e * 0.98, e, e * 1.02], window_queries=100, durations=[2.0, 2.0, 2.0]),
                parameters=10 ** (j + 3),
                latency_p50_ms=1.0 + j,
            )
        )
    return out, labels


def decide(cands: list[CandidateResult], labels: list[str], spec: MetricSpec) -> dict[str, float]:
    """One decision step as :mod:`advisor.search.judge` runs it; returns each step's seconds."""
    score = metric_fn(spec)
    cands = [c.model_copy(update={"quality": score(c.predictions, labels)}) for c in cands]
    times = {}
    t0 = time.perf_counter()
    assessed, _ = assess(cands, labels, spec, THRESHOLD, CONFIDENCE, max_drop=MAX_DROP, seed=SEED)
    t1 = time.perf_counter()
    ranking = rank(assessed, THRESHOLD, "energy", spec.describe())
    pareto_front(assessed)
    t2 = time.perf_counter()
    by = {c.name: c for c in assessed}
    large = by[ranking.model or ranking.best]

    found = [best_cascade(assessed, large, labels, spec, THRESHOLD, CONFIDENCE, SEED)]
    t3 = time.perf_counter()
    times.update({"assess": t1 - t0, "rank + pareto": t2 - t1, "cascade": t3 - t2, "total": t3 - t0})
    times["_cascades"] = sum(f is not None for f in found)
    return times


# --- the old implementation, for the ratio ----------------------------------------------------------


def _f1_of(label: str, predictions: Sequence[str], references: Sequence[str]) -> float:
    tp = sum(1 for p, r in zip(predictions, references) if p == label and r == label)
    fp = sum(1 for p, r in zip(predictions, references) if p == label and r != label)
    fn = sum(1 for p, r in zip(predictions, references) if p != label and r == label)
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else 0.0


def _old_macro_f1(predictions: Sequence[str], references: Sequence[str]) -> float:
    classes = sorted(set(references) | set(predictions))
    scores = [_f1_of(c, predictions, references) for c in classes]
    return sum(scores) / len(scores) if scores else 0.0


def _old_accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def _old_bootstrap_interval(predictions, references, metric: Callable, confidence=0.95, n_boot=1000, seed=0) -> tuple[float, float]:
    p, r = np.asarray(predictions, dtype=object), np.asarray(references, dtype=object)
    idx = np.random.default_rng(seed).integers(0, len(r), size=(n_boot, len(r)))
    values = np.array([metric(p[i], r[i]) for i in idx])
    a = (1 - confidence) / 2
    return float(np.quantile(values, a)), float(np.quantile(values, 1 - a))


def _old_paired(pred_a, pred_b, references, metric: Callable, confidence=0.95, n_boot=1000, seed=0) -> tuple[float, float, float]:
    a, b, r = (np.asarray(x, dtype=object) for x in (pred_a, pred_b, references))
    idx = np.random.default_rng(seed).integers(0, len(r), size=(n_boot, len(r)))
    diffs = np.array([metric(a[i], r[i]) - metric(b[i], r[i]) for i in idx])
    q = (1 - confidence) / 2
    return metric(a, r) - metric(b, r), float(np.quantile(diffs, q)), float(np.quantile(diffs, 1 - q))


def old_versus_new(cands: list[CandidateResult], labels: list[str], spec: MetricSpec) -> tuple[str, float, float, bool]:
    """Time one candidate's interval (macro-F1: bootstrap; accuracy: its paired bootstrap against another) both ways."""
    from advisor.core.stats import bootstrap_interval, paired_bootstrap_difference

    a, b = cands[-2].predictions, cands[-1].predictions
    if spec.name == "accuracy":  # its interval is Wilson's, closed form: time the paired bootstrap instead
        what, old_fn = "paired bootstrap of one candidate", lambda: _old_paired(a, b, labels, _old_accuracy, seed=SEED)
        new_fn = lambda: paired_bootstrap_difference(a, b, labels, metric_fn(spec), seed=SEED)
    else:
        what, old_fn = "bootstrap interval of one candidate", lambda: _old_bootstrap_interval(a, labels, _old_macro_f1, seed=SEED)
        new_fn = lambda: bootstrap_interval(a, labels, metric_fn(spec), seed=SEED)
    t0 = time.perf_counter()
    old = old_fn()
    t1 = time.perf_counter()
    new = new_fn()
    t2 = time.perf_counter()
    return what, t1 - t0, t2 - t1, old == new


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each step; the best is shown (the first pays the resample draw)")
    ap.add_argument("--no-old", action="store_true", help="skip timing the old pure-Python bootstrap (about 10-30 s for macro-F1)")
    args = ap.parse_args()
    cands, labels = candidates(args.samples, args.classes, args.candidates)
    print(
        f"{args.candidates} candidates x {args.samples} samples x {args.classes} classes; threshold {THRESHOLD}, max_drop {MAX_DROP}, "
        f"{CONFIDENCE:.0%} intervals, 1,000 resamples"
    )
    for name in ("macro_f1", "accuracy"):
        spec = MetricSpec(name=name)
        from advisor.core import stats

        stats._cached_counts.cache_clear()  # each metric's first run pays the resample draw again
        runs = [decide(cands, labels, spec) for _ in range(args.repeats)]
        first, best = runs[0], {k: min(r[k] for r in runs) for k in runs[0]}
        print(f"\n{spec.describe()}: cascades found {first['_cascades']}")
        for step in ("assess", "rank + pareto", "cascade", "total"):
            print(f"  {step:<14} {best[step]:8.3f} s   (first run {first[step]:.3f} s)")
        if not args.no_old:
            what, old_s, new_s, same = old_versus_new(cands, labels, spec)
            print(
                f"  {what}: old pure-Python {old_s:.3f} s, vectorised {new_s:.4f} s, "
                f"{old_s / max(new_s, 1e-9):,.0f}x faster; same values: {'yes' if same else 'NO'}"
            )


if __name__ == "__main__":
    main()
