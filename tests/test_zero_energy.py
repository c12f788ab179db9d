"""Zero is a legal energy (the null meter, a window too short to read): nothing divides by it.

Every ratio, share and payback says "not measured" instead, in the terminal, the report, the check
and the serving answer.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from advisor import recommend
from advisor.core.results import Recommendation
from advisor.measure.metering import TEST_METER_ENV
from advisor.outputs.text import ratio, share_of, times
from tests.conftest import FAST

NULL = {**FAST, "meter": "null", "exhaustive": True}


@pytest.fixture
def null_meter(monkeypatch):
    monkeypatch.delenv(TEST_METER_ENV, raising=False)  # the user's own null meter, not the tests' fake one


def test_ratio_helpers_never_divide_by_zero():
    assert ratio(1.0, 0.0) is None and ratio(0.0, 0.0) is None and ratio(None, 2.0) is None
    assert ratio(1.0, 4.0) == 0.25 and ratio(0.0, 4.0) == 0.0
    assert times(None) == "not measured" and times(0.634) == "0.63x"
    assert "not measured" in share_of(None, "saved") and share_of(0.5, "saved") == "50% saved"


def test_a_null_meter_run_with_its_sweep_report_and_savings_ends_cleanly(null_meter, toy_task, tfidf_registry, tmp_path):
    from advisor.outputs.terminal import render_table

    rec = recommend(
        toy_task,
        registry=tfidf_registry,
        min_quality=0.5,
        reports_dir=tmp_path,
        store=tmp_path / "s.sqlite",
        **{**NULL, "serving": "recommended"},
        serve_batches=[1, 8],
        serve_threads=[1],
    )
    assert rec.method.energy == "not measured"
    assert all(c.energy.per_query_j == 0 for c in rec.candidates if c.status == "ok")
    assert rec.serving is not None and "energy was not measured" in rec.serving.answer
    console = Console(file=io.StringIO(), width=200)
    render_table(rec, console)  # raised ZeroDivisionError in the serving lines
    out = console.file.getvalue()
    assert "How to serve it" in out and "float division" not in out
    if rec.savings is not None:
        assert rec.savings.saved_share is None and "not measured" in out
    folder = tmp_path / rec.run_id
    assert (folder / "report.html").is_file() and (folder / "report.md").is_file()
    assert Recommendation.load(folder / "results.json").serving == rec.serving


def test_the_check_gate_with_a_null_meter_names_no_ratio(null_meter, toy_task, tfidf_registry, tmp_path):
    from advisor.gate import check

    result = check(
        toy_task,
        "tfidf-large",
        registry=tfidf_registry,
        min_quality=0.5,
        reports_dir=tmp_path,
        store=tmp_path / "s.sqlite",
        **NULL,
    )
    md = result.to_markdown()
    assert "inf" not in md and "nan" not in md.lower()
