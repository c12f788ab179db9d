"""Peak memory on hostile data files, against a normal task: each is refused or read with memory bounded.

    python bench/hostile_data.py [--out bench-hostile] [--gib 1.0]

Writes, under ``--out``: a JSONL of ``--gib`` GiB (the size limit refuses it before reading), a JSONL whose one line
is 50 MB (refused by the line check, which reads 1 MiB at a time), a CSV whose header has a million columns (refused
at the header), and a normal 4,000-row JSONL. Each is loaded in a fresh process (``load_task(...).samples()``); the
process's peak resident memory and the one-line answer are printed. The files are deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROBE = textwrap.dedent(
    """
    import json, resource, sys
    from advisor.errors import SpecError
    from advisor.spec.tasks import load_task
    try:
        s = load_task(sys.argv[1]).samples()
        answer = f"read: {len(s)} samples"
    except SpecError as exc:
        answer = "refused: " + str(exc)
    print(json.dumps({"answer": answer, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)


def task(folder: Path, data: str, fmt: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = f"name: {folder.name}\ntype: text-classification\ndata: {{file: {data}, format: {fmt}}}\nlabels: [neg, pos]\n"
    spec += "metric: {name: accuracy}\nthreshold: 0.6\n"
    (folder / "task.yaml").write_text(spec, encoding="utf-8")
    return folder / "task.yaml"


def write_lines(path: Path, n_bytes: int) -> None:
    pair = (("good", "pos"), ("bad", "neg"))
    row = "".join(json.dumps({"text": f"a perfectly ordinary {w} review of a film " * 3, "label": y}) + "\n" for w, y in pair).encode()
    block = row * (2**20 // len(row) + 1)
    with path.open("wb") as f:
        written = 0
        while written < n_bytes:
            f.write(block)
            written += len(block)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench-hostile"))
    ap.add_argument("--gib", type=float, default=1.0, help="size of the big JSONL (under the 512 MiB limit it is read whole)")
    args = ap.parse_args()
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    cases = {}
    big = out / "big"
    write_lines((big.mkdir(parents=True) or big) / "rows.jsonl", int(args.gib * 2**30))
    cases[f"{args.gib:g} GiB JSONL"] = task(big, "rows.jsonl", "jsonl")
    line = out / "line"
    line.mkdir()
    (line / "rows.jsonl").write_text(
        json.dumps({"text": "ok", "label": "pos"}) + "\n" + json.dumps({"text": "x" * 50_000_000, "label": "neg"}) + "\n", encoding="utf-8"
    )
    cases["one 50 MB line"] = task(line, "rows.jsonl", "jsonl")
    wide = out / "wide"
    wide.mkdir()
    (wide / "rows.csv").write_text("text,label," + ",".join(f"c{i}" for i in range(1_000_000)) + "\nok,pos\n", encoding="utf-8")
    cases["a million CSV columns"] = task(wide, "rows.csv", "csv")
    normal = out / "normal"
    normal.mkdir()
    with (normal / "rows.jsonl").open("w", encoding="utf-8") as f:
        for i in range(4000):
            word, label = ("good", "pos") if i % 2 else ("bad", "neg")
            f.write(json.dumps({"text": f"review number {i} of a film, {word}", "label": label}) + "\n")
    cases["normal 4,000 rows"] = task(normal, "rows.jsonl", "jsonl")
    try:
        for name, path in cases.items():
            proc = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=1800)
            last = proc.stdout.strip().splitlines()[-1:] or [json.dumps({"answer": proc.stderr[-300:], "peak_mb": None})]
            got = json.loads(last[0])
            size = sum(f.stat().st_size for f in path.parent.iterdir()) / 2**20
            print(f"{name:24s} {size:10,.1f} MiB on disk  peak {got['peak_mb'] or 0:8,.0f} MB  {got['answer'][:160]}")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
