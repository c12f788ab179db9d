"""Terminal output: Rich tables on a terminal, plain unbroken rows in logs; diff tables; reports without sample texts."""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from advisor.core.results import EnergyStats, Recommendation, SampleSet, TaskInfo
from advisor.outputs.compare import Diff, compare
from advisor.outputs.report import render_html, render_markdown
from advisor.outputs.terminal import plain_table, print_table, render_table
from tests.factories import candidate, energy

LONG = [
    "all-MiniLM-L6-v2 [onnx-int8]",
    "paraphrase-multilingual-MiniLM-L12-v2 [int8-dynamic]",
    "sentence-transformers/all-mpnet-base-v2 [onnx]",
]


def _energy(j: float) -> EnergyStats:
    return energy(j, repeats=2, cpu_share=0.5, marginal=j / 3, window_queries=16)


def _rec(texts: bool = True) -> Recommendation:
    labels = ["pos", "neg"] * 5
    cands = [
        candidate(
            name,
            kind="encoder-head",
            backend="onnx",
            source="hub:x",
            quality=0.8 + 0.05 * i,
            quality_ci=[0.75 + 0.05 * i, 0.85 + 0.05 * i],
            verdict="meets" if i else "fails",
            energy=_energy(0.01 * (i + 1)),
            latency_p50_ms=1.0 + i,
            latency_p95_ms=2.0 + i,
            peak_rss_mb=300.0,
            parameters=22_700_000,
            predictions=["neg"] * 10,
            probabilities=[0.9] * 10,
        )
        for i, name in enumerate(LONG)
    ]
    cands.append(
        candidate(
            "tfidf-logreg [calibrated]",
            tier="tiny",
            kind="tfidf",
            status="dropped",
            reason="upper bound of quality below the threshold on the first shard " * 2,
            quality=0.6,
            samples_evaluated=100,
        )
    )
    task = TaskInfo(
        name="sentiment",
        path="/t.yaml",
        type="text-classification",
        metric="accuracy",
        metric_label="accuracy",
        samples=10,
        source_rows=100,
        seed=1,
        folds=3,
        data_sha256="0" * 64,
        spec={},
    )
    return Recommendation(
        run_id="r1",
        created_at="2026-01-01T00:00:00+00:00",
        task=task,
        threshold=0.8,
        ranked_by="energy",
        decision="recommended",
        model=LONG[1],
        best=LONG[2],
        summary=f"{LONG[1]} meets accuracy >= 0.80 (0.850, CI 0.800–0.900) at 1/2 of the energy per query of {LONG[2]}.",
        candidates=cands,
        settings={"reports_dir": "reports"},
        samples=SampleSet(texts=[f"text {i}" for i in range(10)] if texts else None, labels=labels),
    )


def _log(width: int = 80) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=False)


def test_without_a_terminal_every_row_is_one_unbroken_line():
    rec, console = _rec(), _log()
    render_table(rec, console)
    lines = console.file.getvalue().splitlines()
    for c in rec.candidates:
        mine = [line for line in lines if line.startswith(c.name + "  ")]
        assert len(mine) == 1, f"{c.name} is whole at the start of exactly one line"
        assert f"  {c.tier}  " in mine[0] and (c.reason or "").strip() in mine[0], "the row's cells, a long reason too, stay on its line"
    assert any(len(line) > 80 for line in lines), "rows are printed full width, not squeezed to the console"
    assert f"{LONG[1]} meets accuracy >= 0.80" in lines[len(rec.candidates) + 3], "the answer is one line after the table"
    assert lines[0] == "sentiment: accuracy >= 0.80 on 10 samples, 95% intervals (ranked by energy)"
    recommended = next(line for line in lines if line.startswith(LONG[1] + "  "))
    assert recommended.rstrip().endswith("* recommended") and "0.850 (0.80–0.90)" in recommended


def test_columns_are_aligned_and_numbers_right_justified():
    lines = plain_table("t", [("name", "left"), ("J", "right")], [["a", "1.5"], ["long name [x]", "12.25"]])
    assert lines == ["t", "name" + " " * 15 + "J", "-------------  -----", "a                1.5", "long name [x]  12.25"]
    assert plain_table(None, [("a", "left")], [[Text("multi\nline", style="bold")]]) == ["a", "-", "multi line"]


def test_on_a_terminal_a_rich_table_keeps_bracketed_names():
    console = Console(file=io.StringIO(), width=250, force_terminal=True, color_system=None)
    render_table(_rec(), console)
    out = console.file.getvalue()
    assert "┃" in out or "│" in out, "a Rich table"
    for name in LONG:
        assert name in out, "markup never eats [onnx-int8]"


def test_print_table_for_other_commands():
    rows = [
        ["all-MiniLM-L6-v2 [onnx-int8]", "small", "hub:sentence-transformers/all-MiniLM-L6-v2@8b3219a92973c328a8e22fadcfa821b5dc75636a"]
    ]
    console = _log(40)
    print_table(console, "registry.yaml", ["name", "tier", "source"], rows)
    lines = console.file.getvalue().splitlines()
    assert lines[0] == "registry.yaml" and lines[-1].startswith(rows[0][0]) and lines[-1].endswith(rows[0][2])
    live = Console(file=io.StringIO(), width=200, force_terminal=True, color_system=None)
    print_table(live, None, ["name", ("n", "right")], [["x [y]", "3"]], styles=["bold"])
    assert "x [y]" in live.file.getvalue()


def test_diff_is_data_printed_like_any_table():
    a = _rec()
    b = a.model_copy(
        update={"run_id": "r2", "candidates": a.candidates[:2] + [a.candidates[2].model_copy(update={"energy": _energy(0.06)})]}
    )
    d = compare(a, b)
    assert isinstance(d, Diff) and d.title == f"r1 -> r2: recommended {LONG[1]} -> {LONG[1]}"
    rows = {r[0]: r for r in d.rows}
    assert rows[LONG[2]][1:6] == ["0.900", "0.900", "0.03", "0.06", "+100%"]
    assert rows["tfidf-logreg [calibrated]"][1:] == ["0.600", "–", "–", "–", "–", "dropped -> absent"]
    console = _log()
    print_table(console, d.title, d.columns, d.rows)
    assert any(
        line.startswith("tfidf-logreg [calibrated]") and line.endswith("dropped -> absent") for line in console.file.getvalue().splitlines()
    )


def test_report_without_sample_texts_still_lists_the_misclassified():
    page = render_html(_rec(texts=False))
    assert "did not keep the sample texts" in page and page.count('class="sample"') == 5 and "sample #0" in page
    kept = render_html(_rec())
    assert "did not keep" not in kept and "text 0" in kept and "sample #" not in kept
    assert LONG[1] in render_markdown(_rec(texts=False)).replace("\\[", "[").replace("\\]", "]")
