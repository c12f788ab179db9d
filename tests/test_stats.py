"""Statistics against textbook and hand-computed values."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from advisor.core.scores import Scorer
from advisor.core.stats import bootstrap_interval, mcnemar, mean_interval, paired_bootstrap_difference, t_value, wilson_interval, z_value

acc = Scorer.named("accuracy")


def test_wilson_zero_successes_by_hand():
    # k = 0: lower bound 0, upper bound z^2 / (n + z^2)
    z = z_value(0.95)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(z * z / (10 + z * z))
    assert hi == pytest.approx(0.2775, abs=1e-4)


def test_wilson_textbook_examples():
    # Newcombe (1998), Statistics in Medicine 17:857, Table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson_interval(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)


def test_wilson_is_symmetric_and_narrows_with_n():
    lo, hi = wilson_interval(50, 100)
    assert lo + hi == pytest.approx(1.0)
    assert (wilson_interval(500, 1000)[1] - wilson_interval(500, 1000)[0]) < hi - lo
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_mcnemar_textbook_chi_square():
    # The classic example (b=121, c=59): without correction chi2 = 62^2/180 = 21.36; with Edwards' correction 61^2/180 = 20.67
    r = mcnemar(121, 59)
    assert not r.exact and r.statistic == pytest.approx(61**2 / 180) and r.p_value < 1e-4


def test_mcnemar_exact_by_hand():
    # b=1, c=6: two-sided exact p = 2 * P(X <= 1 | n=7, 1/2) = 2 * 8/128 = 0.125
    r = mcnemar(1, 6)
    assert r.exact and r.p_value == pytest.approx(0.125)
    assert mcnemar(0, 0).p_value == 1.0 and mcnemar(5, 5).p_value == pytest.approx(1.0)


def test_bootstrap_interval_covers_the_point_and_is_reproducible():
    refs = ["a"] * 50 + ["b"] * 50
    preds = ["a"] * 40 + ["b"] * 10 + ["b"] * 45 + ["a"] * 5  # accuracy 0.85
    lo, hi = bootstrap_interval(preds, refs, acc, n_boot=500, seed=1)
    assert lo < 0.85 < hi and hi - lo < 0.2
    assert (lo, hi) == bootstrap_interval(preds, refs, acc, n_boot=500, seed=1)


def test_paired_bootstrap_detects_a_real_difference():
    refs = ["a", "b"] * 100
    good = list(refs)
    bad = [("b" if y == "a" else "a") if i % 5 == 0 else y for i, y in enumerate(refs)]  # 20% wrong
    d, lo, hi = paired_bootstrap_difference(good, bad, refs, acc, n_boot=500, seed=0)
    assert d == pytest.approx(0.2) and 0.1 < lo <= d <= hi


def test_mcnemar_without_scipy_matches_scipy():
    for b, c in [(0, 3), (2, 9), (11, 13), (30, 12), (121, 59), (400, 430)]:
        n = b + c
        assert mcnemar(b, c, exact=True).p_value == pytest.approx(min(1.0, 2 * sps.binom.cdf(min(b, c), n, 0.5)), rel=1e-12)
        stat = (abs(b - c) - 1) ** 2 / n
        assert mcnemar(b, c, exact=False).p_value == pytest.approx(sps.chi2.sf(stat, 1), rel=1e-9, abs=1e-300)


def test_normal_and_student_quantiles_match_scipy():
    for c in (0.5, 0.8, 0.9, 0.95, 0.99, 0.999):
        assert z_value(c) == pytest.approx(sps.norm.ppf(0.5 + c / 2), rel=1e-12)
        for df in (1, 2, 3, 4, 5, 9, 10, 29, 100):
            assert t_value(c, df) == pytest.approx(sps.t.ppf(0.5 + c / 2, df), rel=1e-11)


def test_mean_interval_by_hand():
    lo, hi = mean_interval([1.0, 2.0, 3.0])
    half = 4.302653 * 1.0 / math.sqrt(3)  # t(0.975, 2) * s / sqrt(n)
    assert (lo, hi) == pytest.approx((2 - half, 2 + half), rel=1e-5)
    assert mean_interval([5.0]) == (5.0, 5.0)


def test_samples_to_decide_by_hand():
    from advisor.core.stats import samples_to_decide

    # 0.90 observed on 400 with interval 0.86-0.93 against 0.88: the lower side (0.04) must shrink to 0.02 -> 4x the samples
    assert samples_to_decide(400, 0.90, 0.86, 0.93, 0.88) == 1600
    # below the bound: the upper side decides
    assert samples_to_decide(100, 0.70, 0.60, 0.80, 0.75) == 400
    assert samples_to_decide(100, 0.75, 0.70, 0.80, 0.75) is None
    assert samples_to_decide(100, 0.90, 0.895, 0.905, 0.80) == 101, "never fewer than one more sample"
