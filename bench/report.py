"""Report rendering cost: time to render report.html + report.md from results for 20 candidates,
and the size of the files. The first render pays matplotlib's import; later ones are what a rerender costs.

    python bench/report.py [--candidates 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    from advisor.outputs.report import write_reports
    from tests.synthetic import synthetic_recommendation

    rec = synthetic_recommendation(args.candidates)
    out = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    html_path, md_path = write_reports(rec, out)
    first = time.perf_counter() - t0
    times = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        write_reports(rec, out)
        times.append(time.perf_counter() - t0)
    print(f"{len(rec.candidates)} candidates ({args.candidates} measured + 1 skipped)")
    print(f"  first render (includes imports): {first:.3f} s")
    print(f"  rerender, median of {args.rounds}:     {statistics.median(times):.3f} s")
    print(f"  report.html {html_path.stat().st_size / 1024:.0f} KiB, report.md {md_path.stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
