"""Numbers and the goals in words, written once for every layer: pure formatting, no results, no I/O.

The core's sentences (the ranking's summary), the search's, the serving choice's and every output
(:mod:`advisor.outputs.text` re-exports all of these) format through this module, so a figure reads the
same everywhere. Every formatter returns :data:`DASH` for an absent value.

Conventions: quality to 3 decimals (table cells give the interval to 2); energy and power to 4
significant digits (whole numbers with thousands separators from 1,000 up); latency to 0.1 ms;
shares as whole percentages.
"""

from __future__ import annotations

from collections.abc import Sequence

DASH = "–"
"""Shown where a figure is absent."""


# -- the goals -------------------------------------------------------------------------------------


def goal_text(
    metric_label: str,
    threshold: float | None,
    max_drop: float | None = None,
    reference: str | None = None,
    confidence: float | None = None,
    *,
    ge: str = ">=",
) -> str:
    """The quality goal in words, e.g. ``accuracy >= 0.80 with 95% confidence``.

    Handles an absolute threshold, a largest drop against a reference, or both; with neither it is
    ``the quality goal``. ``ge`` is the comparison sign (the HTML report passes ``≥``).
    """
    parts = []
    if threshold is not None:
        parts.append(f"{metric_label} {ge} {threshold:.2f}")
    if max_drop is not None:
        parts.append(f"at most {max_drop:.3f} {metric_label} below {reference or 'the reference'}")
    text = " and ".join(parts) or "the quality goal"
    return text + (f" with {percent(confidence)} confidence" if confidence is not None else "")


def latency_goal(max_latency_ms: float | None, ge: str = "<=", none: str = "no latency goal") -> str:
    """The latency goal in words: ``p95 <= 50 ms``, or ``none`` when there is no goal."""
    return f"p95 {ge} {milliseconds(max_latency_ms)}" if max_latency_ms else none


# -- numbers ---------------------------------------------------------------------------------------


def number(v: float | None, spec: str, unit: str = "") -> str:
    """``v`` formatted with ``spec`` and followed by ``unit``."""
    return DASH if v is None else f"{format(v, spec)}{unit}"


def _significant(v: float) -> str:
    """4 significant digits; from 1,000 up a whole number with thousands separators (never an exponent)."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def interval(ci: Sequence[float] | None, spec: str = ".3f") -> str:
    """``[low, high]`` as ``0.783–0.868``."""
    return DASH if not ci else f"{format(ci[0], spec)}–{format(ci[1], spec)}"


def quality(q: float | None, ci: Sequence[float] | None = None) -> str:
    """A quality in a sentence: ``0.830, CI 0.783–0.868`` (``0.830`` without an interval)."""
    if q is None:
        return DASH
    return f"{q:.3f}" + (f", CI {interval(ci)}" if ci else "")


def quality_cell(q: float | None, ci: Sequence[float] | None = None) -> str:
    """A quality in a table cell: ``0.830 (0.78–0.87)``."""
    if q is None:
        return DASH
    return f"{q:.3f}" + (f" ({interval(ci, '.2f')})" if ci else "")


def quality_change(d: float | None) -> str:
    """A signed quality difference: ``+0.012``."""
    return number(d, "+.3f")


def joules(j: float | None, unit: str = " J") -> str:
    """Energy in joules: ``0.01234 J``; ``unit=" J/query"`` per query, ``unit=""`` in a table cell."""
    return DASH if j is None else _significant(j) + unit


def watts(w: float | None) -> str:
    """Power in watts: ``10.5 W``."""
    return DASH if w is None else _significant(w) + " W"


def milliseconds(ms: float | None, unit: str = " ms") -> str:
    """A latency: ``12.3 ms``; ``unit=""`` in a table cell."""
    return number(ms, ".1f", unit)


def megabytes(mb: float | None, unit: str = " MB") -> str:
    """A memory figure given in MB: ``312 MB``; ``unit=""`` in a table cell."""
    return number(mb, ".0f", unit)


def percent(share: float | None) -> str:
    """A share (0..1) as a whole percentage: ``42%``."""
    return number(share, ".0%")


def ratio(num: float | None, den: float | None) -> float | None:
    """``num / den``, or None when either is missing or ``den`` is not positive (zero is a legal energy: never divide by it)."""
    if num is None or den is None or den <= 0:
        return None
    return num / den


def share_of(share: float | None, what: str) -> str:
    """``42% saved``, or ``share not measured`` when the share could not be computed (a zero reference)."""
    return f"{percent(share)} {what}" if share is not None else f"share {what} not measured (zero energy)"


def times(x: float | None) -> str:
    """A ratio as ``0.63x``, or ``not measured`` when there is none (a zero denominator)."""
    return f"{x:.2f}x" if x is not None else "not measured"


def change(x: float | None) -> str:
    """A relative change as a signed percentage: ``+12%``."""
    return number(x, "+.0%")


def relative_change(old: float | None, new: float | None) -> str:
    """How ``new`` differs from ``old``, as a signed percentage (a dash when either is absent or ``old`` is not positive)."""
    r = ratio(new, old)
    return DASH if r is None else change(r - 1)


def human_count(n: int | None) -> str:
    """A count: ``1234567`` -> ``1.2M``."""
    if n is None:
        return DASH
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def human_bytes(n: int | None) -> str:
    """A size in bytes with a binary unit: ``1.5 MiB``."""
    if n is None:
        return DASH
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def duration(seconds: float | None) -> str:
    """A span of time in the unit that reads best: ``45 s``, ``3.2 min``, ``5.1 h``, ``12.5 days``."""
    if seconds is None:
        return DASH
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
