"""Advisor overhead: per-query inference time of the advisor's measured path for all-MiniLM-L6-v2
(encoder + logistic head, as run inside an energy window) against a bare sentence-transformers
``encode`` loop on the same samples and batch size. Rounds alternate A/B to spread drift.

    python bench/overhead.py [--samples 256] [--batch-size 16] [--rounds 5]

Target: ratio <= 1.15.
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
    args = ap.parse_args()

    from sentence_transformers import SentenceTransformer

    from advisor.measure import quiet_libraries
    from advisor.registry import load_registry
    from advisor.runners import RunContext, runner_class
    from advisor.sources import resolve
    from advisor.tasks import load_task

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
