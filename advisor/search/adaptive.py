"""Adaptive search: cheapest candidates first, dead ends stopped early, no climbing past a pass.

Three rules, each chosen so that it cannot change the answer an exhaustive run would give except
through the documented cost ordering:

* **Order.** Candidates run in order of expected cost: the parameter count read from the weights
  files' headers (:func:`advisor.spec.sources.parameter_count`; no model is loaded), then the cost of
  making it (a model whose body is trained on the samples comes after a frozen one of the same
  size), then size on disk. A TF-IDF model costs nothing.
* **Fine-tune only where it can matter.** Fine-tuning a sentence encoder costs several trainings
  (one per fold and the deployed model), so a fine-tuned variant is measured only once its frozen
  parent has been, and only when the parent's quality is below the goal by no more than
  ``finetune_within`` (default 0.10): further away, fine-tuning is not expected to close the gap;
  a parent that meets the goal already is cheaper (same inference, nothing to train).
* **Drop.** A candidate whose predictions do not depend on how many samples it has seen (a
  zero-/few-shot or ready-made classifier) is scored in shards of doubling size; after each shard it
  is dropped when the *upper* bound of its quality is below the threshold. Looking several times
  would inflate the error rate, so each look uses the confidence ``1 - (1 - c) / looks``
  (Bonferroni over the looks). Trainable candidates are never dropped early: their quality grows
  with the training samples, so a partial score would be biased against them.
* **Stop.** Once a candidate meets the goal, costlier candidates are not measured (``pruned``);
  the recommendation is the cheapest that meets it, and candidates later in the order are expected
  to cost more.

Candidates that clearly fail on the full sample skip the energy windows; their energy per query
comes from the metered quality pass and is flagged as such.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from advisor.spec.settings import Measurement

# --- expected cost ----------------------------------------------------------------------------------


def cost_rank(names: Sequence[str], params: dict[str, int | None], name: str) -> int:
    """How many of the other ``names`` are expected to cost no more than ``name`` (ties count: which is cheaper is unknown)."""
    mine = params.get(name)
    if mine is None:
        return len(names)
    return sum(1 for n in names if n != name and params.get(n) is not None and params[n] <= mine)


def cost_order(names: Sequence[str], params: dict[str, int | None], sizes: dict[str, int], trained: Sequence[str] = ()) -> list[str]:
    """Names sorted by expected cost: known parameter counts first (ascending), then those ``trained`` (whose body is
    trained on the samples) after the others of the same count, then size on disk; ties keep their order."""
    big = float("inf")
    return sorted(names, key=lambda n: (params.get(n) if params.get(n) is not None else big, n in trained, sizes.get(n, 0)))


# --- what an exhaustive run would have cost -----------------------------------------------------------


def _full_cost(c, n: int, m: Measurement) -> tuple[float, float] | None:
    """Estimated energy (J) and time (s) of measuring ``c`` in full, from what was measured of it."""
    if not c.cost:
        return None
    spent_j, spent_s = c.cost.energy_j, c.cost.duration_s
    q = c.phases.get("quality")
    if c.status not in ("ok", "dropped") or "energy" in c.phases or not q or not c.samples_evaluated:
        return spent_j, spent_s
    # cut short: the rest of the quality pass at its measured rate, plus the energy windows and latency queries
    per_sample_s, watts = q.duration_s / c.samples_evaluated, (q.energy_j or 0.0) / max(q.duration_s, 1e-9)
    extra_s = per_sample_s * (n - c.samples_evaluated) + m.repeats * m.min_window_s + per_sample_s * m.latency_queries
    return spent_j + watts * extra_s, spent_s + extra_s


def exhaustive_estimate(results: Sequence, n: int, m: Measurement) -> tuple[float, float, list[str]]:
    """Energy (J) and time (s) an exhaustive run would have spent, estimated from an adaptive run's results,
    and the pruned candidates it could not estimate.

    Measured candidates count at their real cost, or extrapolated from their measured quality pass
    when cut short. A pruned candidate was never loaded: it is scaled from the fully measured
    candidate of the same kind and nearest parameter count by the ratio of parameters (rough, and
    said so). With no measured candidate of its kind (a TF-IDF model says nothing of a transformer's
    cost) it is left out and named.
    """
    full = {c.name: _full_cost(c, n, m) for c in results}
    measured = [c for c in results if c.status == "ok" and "energy" in c.phases and full[c.name]]
    total_j = total_s = 0.0
    left_out = []
    for c in results:
        if c.status == "pruned":
            peers = [m for m in measured if m.kind == c.kind]
            if not peers:
                left_out.append(c.name)
                continue
            peer = min(peers, key=lambda m: _log_distance(c.parameters, m.parameters))
            j, s = full[peer.name]
            ratio = c.parameters / peer.parameters if c.parameters and peer.parameters else 1.0  # same kind, size unknown: as the peer
            total_j, total_s = total_j + j * ratio, total_s + s * ratio
        elif full.get(c.name):
            total_j, total_s = total_j + full[c.name][0], total_s + full[c.name][1]
    return total_j, total_s, left_out


def _log_distance(a: int | None, b: int | None) -> float:
    return abs(math.log(a / b)) if a and b else float("inf")
