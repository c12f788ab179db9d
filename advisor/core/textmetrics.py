"""Quality metrics for generated text: exact match and token F1 (SQuAD conventions) and ROUGE.

Every metric has a per-sample form returning one score per sample, so that callers can bootstrap
confidence intervals over samples, and a corpus form that is the mean of the per-sample scores.
A reference may be one string or a list of acceptable answers; a sample scores the best match.
ROUGE comes from the ``rouge_score`` package, imported only when first used.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

Reference = str | Sequence[str]
"""One acceptable answer, or several (the best-matching one counts)."""

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str | None) -> str:
    """Lower-case, drop ASCII punctuation and the articles a/an/the, collapse whitespace."""
    if not text:
        return ""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _as_list(refs: Reference | None) -> list[str]:
    """The acceptable answers as a list of strings (a bare string is one answer)."""
    if refs is None:
        return []
    if isinstance(refs, str):
        return [refs]
    return [r if isinstance(r, str) else str(r) for r in refs if r is not None]


def _check_lengths(preds: Sequence, refs: Sequence) -> None:
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references; they must pair up one to one")


def _exact(pred: str, ref: str) -> float:
    return float(normalize_answer(pred) == normalize_answer(ref))


def _f1(pred: str, ref: str) -> float:
    """Harmonic mean of token precision and recall after normalisation; two empty answers agree."""
    p, r = normalize_answer(pred).split(), normalize_answer(ref).split()
    if not p or not r:
        return float(p == r)
    same = sum((Counter(p) & Counter(r)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(r)
    return 2 * precision * recall / (precision + recall)


def exact_match(pred: str | None, refs: Reference) -> float:
    """1.0 when the normalised prediction equals a normalised reference, else 0.0 (0.0 for no references)."""
    return max((_exact(pred or "", r) for r in _as_list(refs)), default=0.0)


def token_f1(pred: str | None, refs: Reference) -> float:
    """Best token-overlap F1 of the prediction against the references (0.0 for no references)."""
    return max((_f1(pred or "", r) for r in _as_list(refs)), default=0.0)


@lru_cache(maxsize=4)
def _scorer(types: tuple[str, ...], stemming: bool):
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(list(types), use_stemmer=stemming)


def rouge_scores(
    preds: Sequence[str | None], refs: Sequence[Reference], types: Sequence[str] = ROUGE_TYPES, stemming: bool = True
) -> dict[str, list[float]]:
    """Per-sample ROUGE F-measure for each type, e.g. ``{"rouge1": [..], "rouge2": [..], "rougeL": [..]}``.

    Tokens are lower-cased ASCII letters and digits (``rouge_score``'s tokenizer; other characters
    split words); Porter stemming applies to words over three letters. With several references
    a sample takes, per type, its best F-measure.
    """
    _check_lengths(preds, refs)
    types = tuple(types)
    scorer = _scorer(types, stemming)
    out: dict[str, list[float]] = {t: [] for t in types}
    for pred, ref in zip(preds, refs):
        per_ref = [scorer.score(r, pred or "") for r in _as_list(ref)]
        for t in types:
            out[t].append(max((s[t].fmeasure for s in per_ref), default=0.0))
    return out
