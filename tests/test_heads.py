"""The fitted head: regularisation chosen by inner cross-validation, class weights following the metric."""

from __future__ import annotations

import numpy as np

from advisor.runners.heads import C_GRID, Head, resolve_class_weight


def data(n=200, rare=0.1, seed=0):
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < rare, "spam", "ham")
    x = rng.normal(size=(n, 8)) + (y == "spam")[:, None] * 0.8
    return x, y


def test_c_is_chosen_from_the_grid_by_inner_cv_and_a_fixed_c_is_kept():
    x, y = data()
    head = Head(None, 0, None).fit(x, y)
    assert head.chosen_c in C_GRID and head.parameters() == 8 + 1
    assert Head(0.5, 0, None).fit(x, y).chosen_c == 0.5


def test_balanced_weights_predict_the_rare_class_more_often():
    x, y = data()
    plain = Head(1.0, 0, None).fit(x, y).predict_proba(x).argmax(1)
    balanced = Head(1.0, 0, "balanced").fit(x, y).predict_proba(x).argmax(1)
    spam = list(Head(1.0, 0, None).fit(x, y).classes_).index("spam")
    assert (balanced == spam).sum() > (plain == spam).sum()


def test_class_weight_option_resolution():
    assert resolve_class_weight("auto", "balanced") == "balanced"
    assert resolve_class_weight("auto", None) is None
    assert resolve_class_weight("none", "balanced") is None
    assert resolve_class_weight("balanced", None) == "balanced"


def test_a_class_too_small_for_inner_cv_falls_back_to_a_fixed_c():
    x, y = data(n=40, rare=0.0)
    y[:1] = "spam"
    head = Head(None, 0, None).fit(x, y)
    assert head.chosen_c == 1.0
