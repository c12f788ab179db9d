"""Adaptive vs exhaustive search: energy, time and agreement, side by side.

Measuring every candidate for 20 seeds x 2 tasks would take hours here, so the seeds are
*replayed*: one exhaustive run per task records, for every candidate, its per-sample predictions
and what each phase cost (start-up and loading, the quality pass, the energy windows, the latency
queries). Each seed draws a bootstrap world (the task's samples resampled with replacement) and
plays both strategies on it with the advisor's own decision code (:class:`advisor.core.rules.Rules`,
:func:`advisor.core.assess.assess`, :func:`advisor.core.ranking.rank`):

* exhaustive: every candidate in full;
* adaptive: cheapest first, dead ends stopped at the shard where the rule drops them (paying the
  quality pass up to there), clear failures without energy windows, nothing after a pass.

Where real adaptive runs are given too (``--adaptive``), their measured cost is printed beside the
replay of the same samples, as a check of the cost model.

Usage:
    python bench/adaptive.py                       # measure both tasks (about 20 minutes here), then replay
    python bench/adaptive.py --exhaustive A.json B.json [--adaptive C.json D.json] [--seeds 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from advisor.core.assess import assess
from advisor.core.ranking import rank
from advisor.core.results import CandidateResult, Recommendation
from advisor.core.rules import Rules
from advisor.spec.schema import MetricSpec

TASKS = ("sentiment", "spam")
OUT = Path("reports/bench-adaptive")


def _measure(task: str, exhaustive: bool) -> Path:
    """One real run through the CLI (fresh: nothing reused from the result store); returns its results.json."""
    cmd = [sys.executable, "-m", "advisor.cli", "recommend", "--task", task, "--reports-dir", str(OUT), "--fresh", "--json"]
    out = subprocess.run([*cmd, *(["--exhaustive"] if exhaustive else [])], check=False, stdout=subprocess.PIPE, text=True).stdout
    return OUT / json.loads(out)["run_id"] / "results.json"


def _phase(c: CandidateResult, name: str, key: str) -> float:
    v = getattr(c.phases.get(name), key, None)
    return float(v or 0.0)


class Costs:
    """A candidate's measured cost split by phase, in joules and seconds."""

    def __init__(self, c: CandidateResult):
        self.total_j, self.total_s = (c.cost.energy_j if c.cost else 0.0), (c.cost.duration_s if c.cost else 0.0)
        watts = self.total_j / self.total_s if self.total_s else 0.0
        self.quality = (_phase(c, "quality", "energy_j"), _phase(c, "quality", "duration_s"))
        self.tail = (
            _phase(c, "energy", "energy_j") + watts * _phase(c, "latency", "duration_s"),
            _phase(c, "energy", "duration_s") + _phase(c, "latency", "duration_s"),
        )  # windows + latency queries
        self.fixed = (self.total_j - self.quality[0] - self.tail[0], self.total_s - self.quality[1] - self.tail[1])

    def partial(self, share: float, tail: bool) -> tuple[float, float]:
        """Cost when the quality pass stops at ``share`` of the samples, with or without the energy windows."""
        return tuple(self.fixed[i] + share * self.quality[i] + (self.tail[i] if tail else 0.0) for i in (0, 1))


def _world(c: CandidateResult, idx: np.ndarray) -> CandidateResult:
    preds = [c.predictions[i] for i in idx]
    return c.model_copy(update={"predictions": preds, "quality_ci": None, "verdict": None, "vs_reference": None})


def _decide(rec: Recommendation, metric: MetricSpec, pool: list[CandidateResult], labels: list[str]):
    assessed, _ = assess(pool, labels, metric, rec.threshold, rec.confidence, None, None, rec.task.seed)
    return assessed, rank(assessed, rec.threshold, "energy", metric.describe(), "")


def replay(rec: Recommendation, seed: int) -> dict:
    """Both strategies on one bootstrap world of ``rec``'s samples (seed 0 with ``identity``: the samples as drawn)."""
    from advisor.core.metrics import score

    metric = MetricSpec.model_validate(rec.task.spec["metric"])
    n = len(rec.samples.labels)
    idx = np.arange(n) if seed < 0 else np.random.default_rng(seed).integers(0, n, n)
    labels = [rec.samples.labels[i] for i in idx]
    order = {name: i for i, name in enumerate(rec.search.order)}
    cands = sorted(rec.candidates, key=lambda c: order.get(c.name, len(order)))
    ok = [c for c in cands if c.status == "ok" and c.predictions]
    world = {c.name: _world(c, idx).model_copy(update={"quality": score(metric, [c.predictions[i] for i in idx], labels)}) for c in ok}
    _, full_rank = _decide(rec, metric, list(world.values()), labels)
    full_j = sum(Costs(c).total_j for c in cands)
    full_s = sum(Costs(c).total_s for c in cands)

    rules = Rules(rec.threshold, rec.confidence, metric, rec.settings.get("first_shard", 32), rec.task.seed)
    spent_j = spent_s = 0.0
    done: list[CandidateResult] = []
    passed = None
    for c in cands:
        costs = Costs(c)
        if c.name not in world:  # skipped or failed: the same in both strategies
            spent_j, spent_s = spent_j + costs.total_j, spent_s + costs.total_s
            continue
        if passed:
            continue
        w = world[c.name]
        share, tail = 1.0, True
        if c.fit is None:  # not trainable: shards
            for end in rules.shards(n)[:-1]:
                if rules.should_drop(w.predictions[:end], labels, n):
                    share, tail = end / n, False
                    break
        if share == 1.0 and rules.clearly_fails(w.predictions, labels):
            tail = False
        j, s = costs.partial(share, tail)
        spent_j, spent_s = spent_j + j, spent_s + s
        if share == 1.0:
            done.append(w)
            assessed, _ = _decide(rec, metric, done, labels)
            passed = next((a.name for a in assessed if a.verdict == "meets"), None)
    _, ad_rank = _decide(rec, metric, done, labels) if done else (None, None)
    return {
        "full_j": full_j,
        "full_s": full_s,
        "adaptive_j": spent_j,
        "adaptive_s": spent_s,
        "full_model": full_rank.model,
        "adaptive_model": ad_rank.model if ad_rank else None,
        "full_decision": full_rank.decision,
        "adaptive_decision": ad_rank.decision if ad_rank else "none",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exhaustive", nargs="*", type=Path, help="results.json of exhaustive runs (default: measure both built-in tasks now)")
    ap.add_argument(
        "--adaptive", nargs="*", type=Path, default=[], help="results.json of real adaptive runs on the same samples, to check the replay"
    )
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    if not args.exhaustive:
        args.exhaustive = [_measure(t, True) for t in TASKS]
        args.adaptive = [_measure(t, False) for t in TASKS]
    real = {Recommendation.load(p).task.name: Recommendation.load(p) for p in args.adaptive}
    print(
        f"{'task':<10} {'seed':>4} {'exhaustive J':>13} {'adaptive J':>11} {'ratio':>6} {'exh. s':>7} {'adapt. s':>8}"
        "  same answer  (exhaustive -> adaptive)"
    )
    grand = {"full_j": 0.0, "adaptive_j": 0.0, "full_s": 0.0, "adaptive_s": 0.0, "same": 0, "n": 0}
    for path in args.exhaustive:
        rec = Recommendation.load(path)
        if rec.search.strategy != "exhaustive":
            sys.exit(f"{path}: not an exhaustive run (strategy {rec.search.strategy}); run it with --exhaustive")
        rows = [replay(rec, s) for s in range(args.seeds)]
        for s, r in enumerate(rows):
            same = r["full_model"] == r["adaptive_model"]
            print(
                f"{rec.task.name:<10} {s:>4} {r['full_j']:>13.0f} {r['adaptive_j']:>11.0f} {r['adaptive_j'] / r['full_j']:>6.2f}"
                f" {r['full_s']:>7.0f} {r['adaptive_s']:>8.0f}"
                f"  {'yes' if same else 'NO ':<11}"
                f"  ({r['full_model'] or r['full_decision']} -> {r['adaptive_model'] or r['adaptive_decision']})"
            )
            for k in ("full_j", "adaptive_j", "full_s", "adaptive_s"):
                grand[k] += r[k]
            grand["same"] += same
            grand["n"] += 1
        task_j = sum(r["adaptive_j"] for r in rows) / sum(r["full_j"] for r in rows)
        agree = sum(r["full_model"] == r["adaptive_model"] for r in rows) / len(rows)
        print(f"{rec.task.name}: adaptive energy {task_j:.0%} of exhaustive, same answer in {agree:.0%} of {len(rows)} worlds")
        if rec.task.name in real:
            ident, r = replay(rec, -1), real[rec.task.name]
            print(
                f"  check, the samples as drawn: replayed adaptive {ident['adaptive_j']:.0f} J / {ident['adaptive_s']:.0f} s"
                f" -> {ident['adaptive_model']}; real adaptive run {r.advisor_cost.energy_j:.0f} J / {r.advisor_cost.duration_s:.0f} s"
                f" -> {r.model or r.decision}; its own estimate of exhaustive {(r.advisor_cost.exhaustive_estimate_j or 0):.0f} J"
                f" vs measured {ident['full_j']:.0f} J"
            )
    print(
        f"ALL: adaptive energy {grand['adaptive_j'] / grand['full_j']:.0%} of exhaustive (target <= 35%),"
        f" time {grand['adaptive_s'] / grand['full_s']:.0%};"
        f" same recommendation in {grand['same']}/{grand['n']} = {grand['same'] / grand['n']:.0%} (target >= 95%)"
    )
    meta = Recommendation.load(args.exhaustive[0])
    print(
        f"energy {meta.method.energy} by CodeCarbon {meta.method.codecarbon_version or ''};"
        " replayed worlds are bootstrap resamples of each run's samples"
    )


if __name__ == "__main__":
    main()
