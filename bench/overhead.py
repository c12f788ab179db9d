"""Advisor overhead, three figures measured in one run of this script:

1. Per-query inference time of the advisor's measured path for all-MiniLM-L6-v2 (encoder + logistic
   head, as run inside an energy window) against a bare sentence-transformers ``encode`` loop on the
   same samples and batch size. Rounds alternate A/B to spread drift. Target: ratio <= 1.15.
2. Start-up: wall time of ``advisor --help`` and ``advisor ls tasks`` in fresh processes. Target <= 0.3 s.
3. A whole ``advisor recommend`` run (fresh store, real meter): the share of its wall time spent in the
   candidates' load/quality/energy/latency phases (target >= 80%) and each candidate's worker start-up
   (target <= 2 s; the first worker also waits for the worker server's one-off imports).

    python bench/overhead.py [--samples 256] [--batch-size 16] [--rounds 5] [--task sentiment] [--skip-run]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--task", default="sentiment", help="task of the whole run (part 3)")
    ap.add_argument("--skip-run", action="store_true", help="skip part 3 (minutes)")
    ap.add_argument("--only-run", action="store_true", help="only part 3")
    args = ap.parse_args()
    if not args.only_run:
        inference_ratio(args)
        startup()
    if not args.skip_run:
        whole_run(args.task)


def startup(repeats: int = 5) -> None:
    """Part 2: wall time of light commands in fresh processes (median of ``repeats``)."""
    import subprocess
    import sys

    for cmd in (["--help"], ["ls", "tasks"], ["validate"]):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "advisor.cli", *cmd], capture_output=True, check=True)
            times.append(time.perf_counter() - t0)
        print(f"start-up: advisor {' '.join(cmd):<10} {statistics.median(times):6.2f} s (median of {repeats}; target <= 0.3 s)")


def whole_run(task: str) -> None:
    """Part 3: one real recommendation, timed from outside; phases and worker start-up from its results.json."""
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "advisor.cli",
            "recommend",
            "--task",
            task,
            "--json",
            "--reports-dir",
            tmp,
            "--store",
            f"{tmp}/s.sqlite",
        ]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    rec = json.loads(out.stdout)
    looks = rec["search"]["looks"]  # every measurement of the run, more samples included
    work = sum(p["duration_s"] for lk in looks for k, p in lk["phases"].items() if k in ("load", "quality", "energy", "latency"))
    starts = [
        (", ".join(lk["measured"]), lk["samples"], lk["phases"]["startup"]["duration_s"]) for lk in looks if "startup" in lk["phases"]
    ]
    print(
        f"whole run: advisor recommend --task {task}: {wall:.0f} s wall, decision '{rec['decision']}' on {rec['task']['samples']} samples"
    )
    print(f"  share of wall time in load/quality/energy/latency: {work / wall:.0%} ({work:.0f} s; target >= 80%)")
    for name, n, s in starts:
        print(f"  worker start-up {name} ({n} samples): {s:.2f} s")
    if starts:
        later = [s for *_, s in starts[1:]]
        print(
            f"  first worker (waits for the server's one-off imports): {starts[0][2]:.1f} s; later workers: "
            f"{statistics.median(later) if later else float('nan'):.2f} s median (target <= 2 s)"
        )
    print(f"  energy {rec['method'].get('energy')} by {rec['method'].get('meter')}")


def inference_ratio(args) -> None:
    """Part 1: the advisor's inference path against bare sentence-transformers."""
    from sentence_transformers import SentenceTransformer

    from advisor.measure.candidate import quiet_libraries
    from advisor.runners import RunContext, runner_class
    from advisor.spec.registry import load_registry
    from advisor.spec.sources import resolve
    from advisor.spec.tasks import load_task

    quiet_libraries()
    samples = load_task("sentiment").samples(size=args.samples)
    spec = next(c for c in load_registry().candidates if c.name == "all-MiniLM-L6-v2")
    path = resolve(spec.source)
    ctx = RunContext(label_names=samples.label_names, prompt=load_task("sentiment").spec.prompt, batch_size=args.batch_size)
    runner = runner_class(spec.kind)(spec, path, ctx)
    runner.load()
    runner.fit(samples.texts[:64], samples.labels[:64])
    bare = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    bare.max_seq_length = runner.model.max_seq_length
    bs = args.batch_size
    batches = [samples.texts[i : i + bs] for i in range(0, len(samples.texts), bs)]

    def advisor_pass() -> float:
        t0 = time.perf_counter()
        for b in batches:
            runner.predict(b)
        return (time.perf_counter() - t0) / len(samples.texts)

    def bare_pass() -> float:
        t0 = time.perf_counter()
        for b in batches:
            bare.encode(b, batch_size=bs, convert_to_numpy=True, show_progress_bar=False)
        return (time.perf_counter() - t0) / len(samples.texts)

    advisor_pass(), bare_pass()  # warm-up
    a, b = [], []
    for _ in range(args.rounds):
        a.append(advisor_pass())
        b.append(bare_pass())
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"all-MiniLM-L6-v2, {len(samples.texts)} sentiment samples, batch size {bs}, {args.rounds} alternating rounds")
    print(f"  advisor path (encode + head):       {ma * 1000:8.3f} ms/query  (rounds: {', '.join(f'{x * 1000:.2f}' for x in a)})")
    print(f"  bare sentence-transformers encode:  {mb * 1000:8.3f} ms/query  (rounds: {', '.join(f'{x * 1000:.2f}' for x in b)})")
    print(f"  ratio advisor / bare: {ma / mb:.3f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
