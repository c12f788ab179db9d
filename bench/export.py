"""Export each kind the default registry can recommend, and check what a user gets: the package's size, the time to
export it, its cold load in a fresh process, its parity with the measured model, and its energy per query at its
configuration against the run's figure, measured in one run.

    python bench/export.py [--task sentiment] [--samples 300] [--meter codecarbon] [--out bench-export]

One exhaustive run (serving sweep off: every package serves at the run's own configuration, so the two energy
figures are the same configuration measured twice) over TF-IDF, a PyTorch encoder + head, an ONNX encoder + head,
static embeddings + head, the PyTorch encoder fine-tuned (SetFit, 64 pairs) and a ready hub classifier when the hub
cache has it. Then, per candidate: ``advisor export`` (which loads the package in a fresh process, compares its
answers with the measured model's and meters a short window at its configuration), and a second fresh process that
only imports advisor and loads the package (the cold load a server pays). Energy is what the meter gives here
(estimated by CodeCarbon on a machine without RAPL/NVML; the script says which).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WANTED = (
    "tfidf-logreg",
    "all-MiniLM-L6-v2",
    "paraphrase-MiniLM-L3-v2 (onnx)",
    "all-MiniLM-L6-v2 [static]",
    "all-MiniLM-L6-v2 [fine-tuned]",
    "distilbert-sst2 (hub)",
)


def registry():
    """The default registry's candidates of each kind, with the PyTorch encoder fine-tuned on few pairs added."""
    from advisor.spec.registry import Registry, load_registry

    reg = load_registry()
    by = {c.name: c for c in reg.candidates}
    parent = by["all-MiniLM-L6-v2"]
    tuned = parent.model_copy(
        update={
            "name": "all-MiniLM-L6-v2 [fine-tuned]",
            "kind": "encoder-finetuned",
            "options": {"pairs": 64},
            "variants": [],
            "derived_from": parent.name,
        }
    )
    chosen = [by[n] for n in WANTED if n in by] + [tuned]
    return Registry(spec=reg.spec.model_copy(update={"candidates": chosen}), path=reg.path)


def cold_load_s(folder: Path) -> float:
    """Wall time of a fresh interpreter that imports advisor and loads the package (hashes checked)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import advisor; advisor.load({str(folder)!r}).close()"], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="sentiment")
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--meter", default="codecarbon")
    ap.add_argument("--out", type=Path, default=Path("bench-export"))
    args = ap.parse_args()

    import advisor
    from advisor.deploy.build import ExportError, export
    from advisor.measure.state import disk_bytes
    from advisor.outputs.text import human_bytes, ratio

    reg = registry()
    shutil.rmtree(args.out, ignore_errors=True)
    settings = advisor.Settings(
        sample_size=args.samples,
        exhaustive=True,
        serving="off",
        meter=args.meter,
        store=args.out / "store.sqlite",
        reports_dir=args.out / "reports",
        min_quality=0.5,
    )
    t0 = time.perf_counter()
    rec = advisor.recommend(task=args.task, registry=reg, settings=settings)
    print(f"run {rec.run_id}: {len(rec.candidates)} candidates on {rec.task.samples} samples in {time.perf_counter() - t0:.0f} s")
    print(f"energy {rec.method.energy} ({rec.method.meter}); machine: {rec.method.cpu_model or rec.method.cpu}")
    print(
        f"{'candidate':34} {'export s':>8} {'size':>10} {'state':>9} {'cold load s':>11} {'parity':>8} {'J/query run':>12} "
        f"{'package':>10} {'ratio':>6}"
    )
    for c in rec.candidates:
        if c.status != "ok":
            print(f"{c.name:34} not measured: {c.status} ({c.reason})")
            continue
        folder = args.out / "packages" / c.name.replace(" ", "_").replace("/", "_")
        try:
            done = export(rec, folder, candidate=c.name)
        except ExportError as exc:
            print(f"{c.name:34} not exported: {exc}")
            continue
        p = done.verification["parity"]
        e = done.verification.get("energy") or {}
        mine = e.get("per_query_j")
        r = ratio(mine, c.energy_per_query_j)
        print(
            f"{c.name:34} {done.seconds:8.1f} {human_bytes(done.size_bytes):>10} {human_bytes(disk_bytes(c.state)):>9} "
            f"{cold_load_s(folder):11.2f} {p['matches']:>4}/{p['samples']:<3} {c.energy_per_query_j:12.5f} "
            f"{(mine or 0):10.5f} {('%.2f' % r) if r is not None else 'n/a':>6}"
        )
    print("parity: answers equal to the measured model's on the reference samples (confidence within 1e-4);")
    print("ratio: the package's J/query in the export's check / the run's J/query, same configuration, same meter.")


if __name__ == "__main__":
    main()
