"""The vectorised statistics equal the plain-Python implementation they replaced, resample for resample.

The reference functions below are the pre-vectorisation code: the metric computed on each
resample in turn, over object arrays of label names.
"""

from __future__ import annotations

import _thread
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.core import stats, textmetrics
from advisor.core.scores import Scorer
from advisor.core.stats import bootstrap_interval, bootstrap_values, paired_bootstrap_difference, resample_indices, resampled_sums

# --- the reference: plain Python, one resample at a time --------------------------------------------------


def ref_accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    n = len(references)
    return sum(p == r for p, r in zip(predictions, references)) / n if n else 0.0


def ref_f1_of(label: str, predictions: Sequence[str], references: Sequence[str]) -> float:
    tp = sum(1 for p, r in zip(predictions, references) if p == label and r == label)
    fp = sum(1 for p, r in zip(predictions, references) if p == label and r != label)
    fn = sum(1 for p, r in zip(predictions, references) if p != label and r == label)
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else 0.0


def ref_macro_f1(predictions: Sequence[str], references: Sequence[str]) -> float:
    classes = sorted(set(references) | set(predictions))
    scores = [ref_f1_of(c, predictions, references) for c in classes]
    return sum(scores) / len(scores) if scores else 0.0


def ref_mean(per_sample: Callable[[str, str], float]) -> Callable[[Sequence[str], Sequence[str]], float]:
    def fn(predictions, references):
        n = len(references)
        return sum(per_sample(p, r) for p, r in zip(predictions, references)) / n if n else 0.0

    return fn


REFERENCE = {
    "accuracy": ref_accuracy,
    "macro_f1": ref_macro_f1,
    "f1": lambda p, r: ref_f1_of("c1", p, r),
    "exact_match": ref_mean(textmetrics.exact_match),
    "token_f1": ref_mean(textmetrics.token_f1),
}


def scorer(name: str) -> Scorer:
    return Scorer.named(name, "c1" if name == "f1" else None)


def ref_bootstrap_interval(predictions, references, metric, confidence=0.95, n_boot=1000, seed=0):
    p, r = np.asarray(predictions, dtype=object), np.asarray(references, dtype=object)
    idx = np.random.default_rng(seed).integers(0, len(r), size=(n_boot, len(r)))
    values = np.array([metric(p[i], r[i]) for i in idx])
    a = (1 - confidence) / 2
    return float(np.quantile(values, a)), float(np.quantile(values, 1 - a))


def ref_paired(pred_a, pred_b, references, metric, confidence=0.95, n_boot=1000, seed=0):
    a, b, r = (np.asarray(x, dtype=object) for x in (pred_a, pred_b, references))
    idx = np.random.default_rng(seed).integers(0, len(r), size=(n_boot, len(r)))
    diffs = np.array([metric(a[i], r[i]) - metric(b[i], r[i]) for i in idx])
    q = (1 - confidence) / 2
    return metric(a, r) - metric(b, r), float(np.quantile(diffs, q)), float(np.quantile(diffs, 1 - q))


def classified(n: int, k: int, acc: float, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = np.where(rng.random(n) < acc, y, rng.integers(0, k + 1, n))  # class k is predicted but never true
    return [f"c{i}" for i in p], [f"c{i}" for i in y]


def answered(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    words = ["the cat", "a dog", "paris", "blue whale", "london bridge", "seven", "Seven.", "no idea"]
    refs = [words[i] for i in rng.integers(0, len(words), n)]
    preds = [r if rng.random() < 0.5 else words[i] for r, i in zip(refs, rng.integers(0, len(words), n))]
    return preds, refs


# --- equality with the reference ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["accuracy", "macro_f1", "f1"])
@pytest.mark.parametrize("n,k,seed", [(1, 2, 0), (9, 3, 1), (120, 10, 2), (400, 4, 3)])
def test_classification_values_equal_the_reference_to_the_last_bit(name, n, k, seed):
    preds, refs = classified(n, k, 0.7, seed)
    other, _ = classified(n, k, 0.5, seed + 100)
    metric, ref = scorer(name), REFERENCE[name]
    assert metric(preds, refs) == ref(preds, refs)
    assert bootstrap_interval(preds, refs, metric, 0.9, n_boot=300, seed=seed) == ref_bootstrap_interval(preds, refs, ref, 0.9, 300, seed)
    assert paired_bootstrap_difference(preds, other, refs, metric, 0.95, n_boot=300, seed=seed) == ref_paired(
        preds, other, refs, ref, 0.95, 300, seed
    )


@pytest.mark.parametrize("name", ["exact_match", "token_f1"])
def test_generative_values_equal_the_reference_up_to_rounding(name):
    preds, refs = answered(150, 4)
    other, _ = answered(150, 5)
    metric, ref = scorer(name), REFERENCE[name]
    assert metric(preds, refs) == ref(preds, refs)  # the point value adds in the same order
    # resampled sums add in another order: equal to ~1e-16, not to the bit
    assert bootstrap_interval(preds, refs, metric, n_boot=300, seed=7) == pytest.approx(
        ref_bootstrap_interval(preds, refs, ref, 0.95, 300, 7), abs=1e-12
    )
    assert paired_bootstrap_difference(preds, other, refs, metric, n_boot=300, seed=7) == pytest.approx(
        ref_paired(preds, other, refs, ref, 0.95, 300, 7), abs=1e-12
    )


def test_many_small_chunks_and_no_cache_give_the_same_values(monkeypatch):
    preds, refs = classified(257, 5, 0.6, 9)
    whole = bootstrap_values(preds, refs, scorer("macro_f1"), n_boot=500, seed=3)
    monkeypatch.setattr(stats, "CHUNK_ENTRIES", 1000)  # 3 resamples per chunk
    monkeypatch.setattr(stats, "CACHE_ENTRIES", 0)
    chunked = bootstrap_values(preds, refs, scorer("macro_f1"), n_boot=500, seed=3)
    assert np.array_equal(whole, chunked)
    p, r = np.asarray(preds, dtype=object), np.asarray(refs, dtype=object)
    idx = np.random.default_rng(3).integers(0, 257, size=(500, 257))
    assert np.array_equal(chunked, [ref_macro_f1(p[i], r[i]) for i in idx])


@pytest.mark.parametrize("n,n_boot,chunk", [(1, 5, 1), (7, 10, 2), (2000, 50, 4096), (3, 1000, 7), (2**33, 3, 1 << 18)])
def test_chunked_draws_are_the_single_draw(monkeypatch, n, n_boot, chunk):
    """numpy's generator gives the same stream however the draw is split: the property the chunking relies on."""
    monkeypatch.setattr(stats, "CHUNK_ENTRIES", chunk)
    cols = n if n < 10**6 else 4
    single = np.random.default_rng(11).integers(0, n, size=(n_boot, cols))
    rng = np.random.default_rng(11)
    rows = max(1, chunk // cols)
    parts = [rng.integers(0, n, size=(min(rows, n_boot - s), cols)) for s in range(0, n_boot, rows)]
    assert np.array_equal(single, np.concatenate(parts))
    if n < 10**6:
        assert np.array_equal(single, np.concatenate(list(resample_indices(n, n_boot, 11))))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from("abcde")), min_size=1, max_size=40), st.integers(0, 2**32 - 1))
def test_property_resampled_metrics_equal_the_metric_on_each_resample(pairs, seed):
    preds, refs = [p for p, _ in pairs], [r for _, r in pairs]
    p, r = np.asarray(preds, dtype=object), np.asarray(refs, dtype=object)
    idx = np.random.default_rng(seed).integers(0, len(refs), size=(20, len(refs)))
    for name in ("accuracy", "macro_f1", "f1"):
        values = bootstrap_values(preds, refs, scorer(name), n_boot=20, seed=seed)
        assert values.tolist() == [REFERENCE[name](p[i], r[i]) for i in idx]
        assert np.all((0 <= values) & (values <= 1))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 6), st.integers(0, 1000))
def test_property_resampled_sums_are_sums_over_the_drawn_samples(n, m, seed):
    table = np.random.default_rng(seed).integers(0, 3, size=(n, m)).astype(float)
    [sums] = resampled_sums([table], n_boot=15, seed=seed)
    idx = np.random.default_rng(seed).integers(0, n, size=(15, n))
    assert np.array_equal(sums, table[idx].sum(axis=1))


# --- Ctrl-C and imports -------------------------------------------------------------------------------------


def test_ctrl_c_during_a_long_bootstrap_is_seen_between_chunks():
    preds, refs = classified(300_000, 10, 0.8, 0)  # undisturbed, 1,000 resamples of 300,000 samples take several seconds here
    metric = scorer("macro_f1")
    timer = threading.Timer(0.5, _thread.interrupt_main)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # also where the suite was started with Ctrl-C ignored
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            bootstrap_interval(preds, refs, metric, n_boot=1000)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - start < 0.5 + 0.5, "the interrupt waited for a long uninterruptible numpy call"


def test_the_statistics_import_no_scipy():
    code = (
        "import sys; from advisor.core.stats import mcnemar, mean_interval, wilson_interval, z_value; "
        "mcnemar(3, 9); mcnemar(40, 20); mean_interval([1.0, 2.0, 4.0]); wilson_interval(3, 10); "
        "print('scipy' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
