"""The HTML report and Markdown summary: escaping, content, golden files, re-rendering, and a real browser.

Golden files: tests/golden/report.html and tests/golden/report.md are the synthetic recommendation (fixed numbers,
no model run) rendered, then scrubbed only of what may legitimately differ between machines and library versions
(see ``scrub``); every formatted number is compared exactly. After an intended change to the report, regenerate
both and review the diff before committing:

    ADVISOR_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_report.py -k golden
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.outputs.report import render_html, render_markdown, write_reports
from tests.synthetic import EVIL, synthetic_recommendation

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_ENV = "ADVISOR_UPDATE_GOLDEN"
RENDERERS = {"report.html": render_html, "report.md": render_markdown}


@pytest.fixture(scope="module")
def rec():
    return synthetic_recommendation()


@pytest.fixture(scope="module")
def page(rec):
    return render_html(rec)


def test_everything_user_supplied_is_escaped(page):
    assert "<script>alert" not in page, "names and sample texts render as text"
    assert "&lt;script&gt;alert" in page
    assert page.count("<script>") == 1, "only the report's own sort script"


def test_answer_threshold_savings_and_estimated_flag_come_first(page, rec):
    top = page[: page.index('id="chart-quality-energy"')]
    assert rec.summary.replace("'", "&#39;").replace(">", "&gt;") in top
    assert "accuracy ≥ 0.80, decided at 95% confidence on 40 samples" in top
    assert "less per query" in top and "kWh, " in top and "kg CO2e (369 g/kWh, USA)" in top and "paid back in" in top
    assert "Energy is estimated, not measured." in top


def test_charts_are_inline_svg_and_the_page_is_self_contained(page):
    assert page.count("<svg") >= 2 and "<?xml" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no external resources"
    assert "Content-Security-Policy" in page


def test_table_has_every_candidate_and_marks_the_recommended(page, rec):
    rows = re.findall(r"<tr class=\"([^\"]*)\" data-name=\"([^\"]*)\"", page)
    assert len(rows) == len(rec.candidates)
    recommended = [name for cls, name in rows if cls == "recommended"]
    assert recommended == [rec.model]
    assert "hub model &#39;x/y@abc&#39; is not in the local cache" in page


def test_misclassified_samples_of_the_recommended_model(page, rec):
    c = rec.candidate(rec.model)
    wrong = sum(p != y for p, y in zip(c.predictions, rec.samples.labels))
    assert page.count('class="sample"') == min(wrong, 8) > 0


def test_markdown_summary_escapes_tables(rec):
    md = render_markdown(rec)
    assert rec.model in md and "(recommended)" in md
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| candidate |"))
    table = [line for line in lines[start:] if line.startswith("| ")][: len(rec.candidates) + 1]
    assert len(table) == len(rec.candidates) + 1 and all(line.count(" | ") == 8 for line in table), "no cell breaks the table"
    head = next(i for i, line in enumerate(lines) if line.startswith("| model | runtime |"))
    serving = [line for line in lines[head + 2 :] if line.startswith("| ")]
    assert len(serving) == len(rec.serving.candidates[0].points) and sum("\\* chosen" in line for line in serving) == 1
    assert "<script>" not in md and "ESTIMATED" in md


# What may differ from machine to machine or between library versions, and nothing else. Every number of the
# synthetic recommendation is fixed, so the formatted figures (quality, joules, kWh, percentages, counts) stay as
# rendered and a change in how a number is formatted shows in the golden diff.
SCRUBS = [
    # matplotlib's SVG: glyph outlines, random clip-path ids and its own version/date metadata
    (re.compile(r"<svg\b.*?</svg>", re.S), "<svg/>"),
    # ISO 8601 timestamps (created, started, finished)
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"), "<TIMESTAMP>"),
    # run ids: YYYYMMDD-HHMMSS (the task name that follows stays)
    (re.compile(r"\b\d{8}-\d{6}\b"), "<RUN-ID>"),
    # versions of Python and the libraries (x.y.z, with any suffix)
    (re.compile(r"\bv?\d+\.\d+\.\d+(?:[.+-]?[0-9A-Za-z]+)*"), "<VERSION>"),
    # absolute paths on this machine (temporary folders, home, checkouts); the synthetic input's own paths stay
    (re.compile(r"(?<![\w.:/])/(?:tmp|var|private|home|Users|root|work|opt|usr)/[^\s\"'<>&|)`]*"), "<PATH>"),
    # hashes: hex digests, whole or shortened (a run of digits alone is a number, unless it is labelled a digest)
    (re.compile(r"\b(?=[0-9]*[a-f])[0-9a-f]{12,}\b"), "<HASH>"),
    (re.compile(r"\b(sha256|sha1|md5|hash)([:= ]+)[0-9a-f]{8,}", re.I), r"\1\2<HASH>"),
]


def scrub(text: str) -> str:
    for pattern, replacement in SCRUBS:
        text = pattern.sub(replacement, text)
    return text


def test_scrub_hides_only_what_varies():
    kept = (
        "0.800 (0.65–0.90) | 1.082 J less (91% saved), 10.97 kWh, 100,000 queries, 5.3B params, 16.4 min, #e6f4ea, local:/m/3, "
        'data-energy="0.0054880000000000005" data-params="11622614670000"'
    )
    assert scrub(kept) == kept
    varying = (
        "at 2026-01-01T00:00:00+00:00 run 20260101-000000-toy with codecarbon 3.3.2, Python 3.11.7 "
        "in /tmp/pytest-of-x/report.html sha256 9f86d081884c7d65…, sha256 0000000000000000…, commit 3f2c1e0b9a7d"
    )
    assert scrub(varying) == (
        "at <TIMESTAMP> run <RUN-ID>-toy with codecarbon <VERSION>, Python <VERSION> "
        "in <PATH> sha256 <HASH>…, sha256 <HASH>…, commit <HASH>"
    )
    assert scrub('<figure><svg width="1"><g id="p21b863add5"/></svg></figure>') == "<figure><svg/></figure>"


@pytest.mark.parametrize("name", list(RENDERERS))
def test_golden_file(rec, name):
    got = scrub(RENDERERS[name](rec))
    golden = GOLDEN_DIR / name
    if os.environ.get(UPDATE_ENV) == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(got, encoding="utf-8")
    want = golden.read_text(encoding="utf-8") if golden.is_file() else ""
    if got != want:
        diff = list(difflib.unified_diff(want.splitlines(), got.splitlines(), f"golden/{name}", "rendered", lineterm="", n=1))
        shown = "\n".join(diff[:80]) + (f"\n... {len(diff) - 80} more diff lines" if len(diff) > 80 else "")
        pytest.fail(
            f"{name} differs from tests/golden/{name}; if the change is intended, regenerate with\n"
            f"    {UPDATE_ENV}=1 .venv/bin/pytest tests/test_report.py -k golden\n{shown}",
            pytrace=False,
        )


def test_rerendering_from_results_json_is_identical(rec, tmp_path):
    folder = tmp_path / rec.run_id
    rec.save(folder / "results.json")
    html_path, md_path = write_reports(rec, folder)
    first = html_path.read_text()
    html_path.unlink()
    r = subprocess.run(
        [sys.executable, "-m", "advisor.cli", "report", str(folder / "results.json")], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert html_path.read_text() == first and md_path.is_file()


def test_report_command_rejects_a_foreign_file(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text('{"hello": 1}')
    r = subprocess.run([sys.executable, "-m", "advisor.cli", "report", str(bad)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr and str(bad) in r.stderr.replace("\n", "")


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.slow
@pytest.mark.browser
def test_in_headless_chromium(rec, tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
        pytest.skip("Chromium not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    html_path, _ = write_reports(rec, tmp_path)
    problems, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            pg = browser.new_page(viewport={"width": 1280, "height": 900})
            pg.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            pg.on("pageerror", lambda e: problems.append(str(e)))
            pg.on("request", lambda r: requests.append(r.url))
            pg.goto(html_path.as_uri())
            pg.wait_for_load_state("load")
            assert pg.locator("#chart-quality-energy svg path").count() > 10, "the chart is drawn"
            box = pg.locator("#chart-quality-energy svg").bounding_box()
            assert box and box["width"] > 300 and box["height"] > 200
            rec_row = pg.locator("tr.recommended")
            assert rec_row.count() == 1 and rec_row.get_attribute("data-name") == rec.model
            assert "rgb(230, 244, 234)" in rec_row.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
            assert pg.locator("text=" + EVIL).count() >= 1, "the evil name is shown as text"
            pg.locator("th[data-key=quality]").click()
            pg.locator("th[data-key=quality]").click()  # descending: best quality first
            assert pg.locator("#candidates tbody tr").first.get_attribute("data-name") == rec.best
            shot = tmp_path / "report.png"
            pg.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert requests == [html_path.as_uri()], "no network requests"
    assert shot.stat().st_size > 20_000


def test_report_command_rejects_another_schema_major(rec, tmp_path):
    path = tmp_path / "results.json"
    data = rec.to_dict()
    data["schema_version"] = "2.0"
    path.write_text(json.dumps(data))
    r = subprocess.run([sys.executable, "-m", "advisor.cli", "report", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "schema_version 2.0" in r.stderr and "Traceback" not in r.stderr
