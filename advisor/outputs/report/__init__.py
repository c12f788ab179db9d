"""The HTML report and the Markdown summary: results -> view model -> Jinja2 templates -> files.

Both render from a saved ``results.json`` alone; no model runs.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from advisor.core.results import Recommendation
from advisor.outputs.report.view import ReportView, build_view
from advisor.paths import write_atomic


def _md(text: object) -> str:
    """Escape text for a Markdown table cell: HTML-significant characters, pipes, newlines, emphasis."""
    s = html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")
    return re.sub(r"([*_`\[\]])", r"\\\1", s)


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("advisor.outputs.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = _md
    return env


def render_html(rec: Recommendation, view: ReportView | None = None) -> str:
    """One self-contained HTML page: inline CSS, inline SVG charts, a small inline sort script."""
    return _env().get_template("report.html.j2").render(v=view or build_view(rec))


def render_markdown(rec: Recommendation, view: ReportView | None = None) -> str:
    """A short Markdown summary for a pull-request comment or a CI log."""
    env = _env()
    env.autoescape = False  # Markdown: escaping is done by the md filter
    return env.get_template("report.md.j2").render(v=view or build_view(rec))


def write_reports(rec: Recommendation, folder: str | Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    view = build_view(rec)
    html_path, md_path = folder / "report.html", folder / "report.md"
    write_atomic(html_path, render_html(rec, view))  # a full disk leaves the previous report, never half of one
    write_atomic(md_path, render_markdown(rec, view))
    return html_path, md_path


__all__ = ["render_html", "render_markdown", "write_reports"]
