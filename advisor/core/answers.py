"""Turn a generative model's raw output into its answer.

Strategies:

- ``first_line``: the first non-empty line, without a leading ``Answer:``/``A:`` label, surrounding
  quotes or trailing punctuation. Suits short answers.
- ``full``: the whole text with whitespace collapsed. Suits summaries.
- ``regex``: the first group of a user pattern at its first match; no match gives ``""``.

Parsing never raises: output that is missing, not text, or empty after cleaning yields ``""``,
which the metrics count as wrong.
"""

from __future__ import annotations

import re
from typing import Literal

Strategy = Literal["first_line", "full", "regex"]

MAX_CHARS = 20_000
"""Output beyond this many characters is ignored (bounds the work a runaway generation can cause)."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_LABEL = re.compile(r"^[*_\s]*(?:final\s+answer|answer|ans|a)[*_\s]*[:：][*_\s]*", re.IGNORECASE)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
_TRAILING = ".,;:!?\u3002"


def clean(text: object) -> str:
    """Text fit for parsing: bytes decoded leniently, control characters removed, length capped.

    Anything that is neither ``str`` nor ``bytes`` (``None`` included) gives ``""``.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text[: MAX_CHARS * 4]).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return ""
    return _CONTROL.sub("", text[:MAX_CHARS]).replace("\r\n", "\n").replace("\r", "\n")


def _trim(answer: str) -> str:
    """Strip whitespace, surrounding quotes and trailing punctuation until nothing changes."""
    while True:
        before = answer
        answer = answer.strip().strip(_QUOTES).rstrip(_TRAILING)
        if answer == before:
            return answer


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` without an answer label, quotes or trailing punctuation."""
    body = _LABEL.sub("", text.strip(), count=1)
    for line in body.split("\n"):
        line = _trim(_LABEL.sub("", line.strip(), count=1))
        if line:
            return line
    return ""


def full(text: str) -> str:
    """The whole text with runs of whitespace collapsed to single spaces."""
    return " ".join(text.split())


def by_regex(text: str, pattern: str | re.Pattern) -> str:
    """The first group of ``pattern``'s first match in ``text``, stripped; ``""`` when nothing matches."""
    match = re.search(pattern, text)
    if not match or match.re.groups < 1:
        return ""
    return (match.group(1) or "").strip()


def parse(text: object, strategy: Strategy = "first_line", pattern: str | None = None) -> str:
    """The answer in a model's raw output; ``""`` for malformed output. Never raises.

    Args:
        text: the generated text (anything else, ``None`` included, counts as malformed).
        strategy: ``"first_line"``, ``"full"`` or ``"regex"``.
        pattern: the regular expression for ``"regex"``; its first group is the answer.
    """
    try:
        body = clean(text)
        if not body.strip():
            return ""
        if strategy == "first_line":
            return first_line(body)
        if strategy == "full":
            return full(body)
        if strategy == "regex" and pattern:
            return by_regex(body, pattern)
    except Exception:  # noqa: BLE001 - a bad pattern or odd input is a wrong answer, not a crash
        return ""
    return ""


__all__ = ["Strategy", "by_regex", "clean", "first_line", "full", "parse"]
