"""Frozen vs fine-tuned vs static-embedding small encoders, measured side by side in one run per task.

For each task (default: the built-in ``sentiment`` and ``spam``; any task file may be given), the
frozen encoder with a head, its SetFit fine-tuned variant and its model2vec static variant are
measured exhaustively on the same samples with the same meter, batch and windows. Printed per
candidate: quality with its interval, J/query (inference only), p50 latency, the one-off cost of
making it (time and energy) and its payback against the frozen parent, then the ratios to the
parent measured in the same run.

    python bench/bespoke.py [TASK ...] [--encoder NAME] [--samples N]

Energy is whatever the meter reports here: ESTIMATED by CodeCarbon on a machine without RAPL/NVML.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import advisor
    from advisor import Settings
    from advisor.outputs.text import duration, joules

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tasks", nargs="*", default=["sentiment", "spam"])
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2", help="a registry entry with variants [fine-tuned, static]")
    ap.add_argument("--samples", type=int, default=None, help="sample size (default: each task's own)")
    args = ap.parse_args()
    names = [args.encoder, f"{args.encoder} [fine-tuned]", f"{args.encoder} [static]"]
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            t0 = time.perf_counter()
            settings = Settings(reports_dir=Path(tmp), exhaustive=True, fresh=True, candidates=names, sample_size=args.samples)
            rec = advisor.recommend(task=task, settings=settings)
            print(
                f"\n{rec.task.name}: {rec.task.metric_label} on {rec.task.samples} samples, energy {rec.method.energy} "
                f"({rec.method.meter}); run took {duration(time.perf_counter() - t0)}"
            )
            print(f"{'candidate':36} {'quality (CI)':24} {'J/query':>10} {'p50 ms':>8} {'making':>16}  payback")
            by = {c.name: c for c in rec.candidates}
            for n in names:
                c = by[n]
                if c.status != "ok":
                    print(f"{n:36} {c.status}: {c.reason}")
                    continue
                ci = f"{c.quality:.3f} ({c.quality_ci[0]:.3f}-{c.quality_ci[1]:.3f})" if c.quality_ci else f"{c.quality:.3f}"
                mk = c.making
                making = f"{duration(mk.duration_s)}, {joules(mk.energy_j)}" if mk else "-"
                print(
                    f"{n:36} {ci:24} {c.energy_per_query_j:10.4g} {c.latency_p50_ms or 0:8.1f} {making:>16}  "
                    f"{(mk.payback_note if mk else '') or ''}"
                )
            parent = by[names[0]]
            for n in names[1:]:
                c = by[n]
                if c.status == "ok" and parent.status == "ok":
                    print(
                        f"  {n} / {names[0]}: J/query x{c.energy_per_query_j / parent.energy_per_query_j:.3g}, "
                        f"quality {c.quality - parent.quality:+.3f}"
                    )


if __name__ == "__main__":
    main()
