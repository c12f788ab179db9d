"""Build ``trivia.jsonl`` for the built-in ``trivia`` task: ``python tasks/trivia/build.py``.

The ChatterBot corpus (``chatterbot-corpus`` on PyPI, BSD licence by its classifier) holds a trivia conversation
file: each conversation is a question followed by its answer. The file is read from the installed
distribution without importing the package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from advisor.spec.sources import package_file

CHATTERBOT_PACKAGE = "chatterbot-corpus"
CHATTERBOT_TRIVIA = "chatterbot_corpus/data/english/trivia.yml"
_QUOTES = "'\""


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _unquote(text: str) -> str:
    """Drop one pair of matching surrounding quotes (left over when YAML quoting failed)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
        return text[1:-1].strip()
    return text


def pairs_from_conversations(conversations: Any) -> list[dict[str, str]]:
    """``{"question", "answer"}`` rows from ChatterBot conversations.

    A conversation is normally a list whose first two entries are the question and the answer.
    An entry that YAML read as one string ``"question - answer"`` (a missing list dash in the
    source) is split at its last ``" - "``. Entries without both parts are skipped.
    """
    rows = []
    for conv in conversations or []:
        if isinstance(conv, list) and len(conv) >= 2:
            question, answer = _text(conv[0]), _unquote(_text(conv[1]))
        elif isinstance(conv, str) and " - " in conv:
            head, _, tail = conv.rpartition(" - ")
            question, answer = _text(head), _unquote(_text(tail))
        else:
            continue
        if question and answer:
            rows.append({"question": question, "answer": answer})
    return rows


def load_chatterbot_trivia() -> list[dict[str, str]]:
    """The trivia question–answer pairs of the installed ``chatterbot-corpus``, in file order.

    Raises:
        SourceUnavailable: the package is not installed (``pip install chatterbot-corpus==1.3.3``).
    """
    import yaml

    path = package_file(CHATTERBOT_PACKAGE, CHATTERBOT_TRIVIA)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return pairs_from_conversations(data.get("conversations") if isinstance(data, dict) else None)


if __name__ == "__main__":
    out = Path(__file__).with_name("trivia.jsonl")
    rows = load_chatterbot_trivia()
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    sys.stdout.write(f"wrote {len(rows)} question-answer pairs to {out}\n")
