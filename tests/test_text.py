"""The goal sentence, number formats and shared sentences of advisor.outputs.text: written once, read the same everywhere."""

from __future__ import annotations

import pytest

from advisor.core.results import (
    CandidateResult,
    Cascade,
    Cost,
    Distillation,
    IdlePower,
    Method,
    Recommendation,
    RunAhead,
    Savings,
    Search,
    TaskInfo,
)
from advisor.outputs import text
from advisor.outputs.text import DASH
from tests.factories import candidate


def _rec(**update) -> Recommendation:
    task = TaskInfo(
        name="toy",
        path="/t.yaml",
        type="text-classification",
        metric="accuracy",
        metric_label="accuracy",
        samples=40,
        source_rows=100,
        seed=1,
        folds=3,
        data_sha256="0" * 64,
        spec={},
    )
    base = {
        "run_id": "r1",
        "created_at": "2026-01-01T00:00:00+00:00",
        "task": task,
        "threshold": 0.8,
        "ranked_by": "energy",
        "candidates": [],
        "settings": {"reports_dir": "reports"},
    }
    return Recommendation(**{**base, **update})


def _cand(name: str, **update) -> CandidateResult:
    return candidate(name, **{"kind": "tfidf", "quality": 0.9, **update})


# -- the goal ---------------------------------------------------------------------------------------


def test_goal_threshold_max_drop_both_and_neither():
    assert text.goal_text("accuracy", 0.8) == "accuracy >= 0.80"
    assert text.goal_text("accuracy", None, 0.02, "big") == "at most 0.020 accuracy below big"
    assert text.goal_text("accuracy", None, 0.02) == "at most 0.020 accuracy below the reference"
    both = text.goal_text("macro-F1", 0.75, 0.01, "big", 0.95)
    assert both == "macro-F1 >= 0.75 and at most 0.010 macro-F1 below big with 95% confidence"
    assert text.goal_text("accuracy", None) == "the quality goal"
    assert text.goal_text("accuracy", 0.8, ge="≥") == "accuracy ≥ 0.80"


def test_goal_of_a_run_names_both_parts():
    rec = _rec(threshold=0.8, max_drop=0.02, reference="big")
    assert text.goal_of(rec) == "accuracy >= 0.80 and at most 0.020 accuracy below big"
    assert text.goal_of(_rec(threshold=None, max_drop=0.05, reference="big")) == "at most 0.050 accuracy below big"


def test_ranking_and_check_use_the_same_goal_sentence():
    from advisor.core.ranking import rank
    from advisor.gate import judge

    assert (
        "No candidate meets accuracy >= 0.95"
        in rank([_cand("a", quality=0.9, energy=None, parameters=5)], 0.95, "params", "accuracy").summary
    )
    rec = _rec(threshold=0.8, max_drop=0.02, reference="big", candidates=[_cand("small", quality=0.7, verdict="fails")])
    result = judge(rec, "small", 0.2, None, "r.json")
    assert result.verdict == "below-goal"
    assert result.message == "small does not meet accuracy >= 0.80 and at most 0.020 accuracy below big: 0.700."


# -- numbers ----------------------------------------------------------------------------------------


def test_dash_is_one_character_for_every_absent_value():
    assert len(DASH) == 1 and DASH != "-"
    formatters = [
        text.quality,
        text.quality_cell,
        text.quality_change,
        text.joules,
        text.watts,
        text.milliseconds,
        text.megabytes,
        text.percent,
        text.change,
        text.human_count,
        text.human_bytes,
        text.duration,
    ]
    for f in formatters:
        assert f(None) == DASH, f.__name__
    assert text.number(None, ".2f", " GB") == DASH
    assert text.interval(None) == DASH
    assert text.relative_change(None, 1.0) == text.relative_change(1.0, None) == text.relative_change(0.0, 1.0) == DASH


def test_quality_with_and_without_interval():
    assert text.quality(0.8304, [0.7831, 0.8679]) == "0.830, CI 0.783–0.868"
    assert text.quality(0.8304) == "0.830"
    assert text.quality_cell(0.8304, [0.7831, 0.8679]) == "0.830 (0.78–0.87)"
    assert text.quality_cell(0.8304) == "0.830"
    assert text.quality_change(-0.0123) == "-0.012" and text.quality_change(0.01) == "+0.010"


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.0123456, "0.01235 J"),
        (2.5, "2.5 J"),
        (0.0, "0 J"),
        (123.456, "123.5 J"),
        (1234.0, "1,234 J"),
        (123456.7, "123,457 J"),
        (2.3e-06, "2.3e-06 J"),
    ],
)
def test_joules_four_significant_digits_no_exponent_for_large_values(value, expected):
    assert text.joules(value) == expected


def test_units_per_query_and_in_cells():
    assert text.joules(0.25, " J/query") == "0.25 J/query"
    assert text.joules(0.25, "") == "0.25"
    assert text.watts(10.0) == "10 W" and text.watts(0.51234) == "0.5123 W"
    assert text.milliseconds(12.345) == "12.3 ms" and text.milliseconds(12.345, "") == "12.3"
    assert text.megabytes(312.4) == "312 MB"


def test_counts_bytes_percentages_and_changes():
    assert text.human_count(999) == "999" and text.human_count(1234) == "1.2k" and text.human_count(22_700_000) == "22.7M"
    assert text.human_count(1_500_000_000) == "1.5B"
    assert text.human_bytes(512) == "512 B" and text.human_bytes(2048) == "2.0 KiB" and text.human_bytes(3 * 2**30) == "3.0 GiB"
    assert text.percent(0.4234) == "42%" and text.percent(0.95) == "95%"
    assert text.change(0.123) == "+12%" and text.change(-0.5) == "-50%"
    assert text.relative_change(2.0, 3.0) == "+50%"


@pytest.mark.parametrize(
    "seconds, expected",
    [
        (0.5, "0.5 s"),
        (3.456, "3.5 s"),
        (45.2, "45 s"),
        (99, "1.65 min"),
        (5400, "1.5 h"),
        (3 * 86400, "3 days"),
    ],
)
def test_durations_in_the_unit_that_reads_best(seconds, expected):
    assert text.duration(seconds) == expected


# -- shared sentences -------------------------------------------------------------------------------


def test_savings_sentences_from_the_typed_model():
    sv = Savings(
        reference="big",
        chosen="small",
        saved_per_query_j=0.0123,
        saved_share=0.9,
        quality_change=-0.01,
        country="USA",
        queries_per_day=100_000,
        saved_kwh_per_year=124.5,
        carbon_intensity_g_per_kwh=369,
        saved_kg_co2e_per_year=45.9,
        saved_money_per_year=24.9,
        price_per_kwh=0.2,
        advisor_payback_days=0.5,
    )
    lines = text.savings_lines(_rec(model="small", savings=sv))
    assert lines[0] == "Against big: 0.0123 J less per query (90% saved) for -0.010 accuracy."
    assert lines[1] == (
        "At 100,000 queries a day: 124.50 kWh, 45.90 kg CO2e (369 g/kWh, USA), 24.90 at 0.2/kWh saved a year on this hardware; "
        "this run's own energy is paid back in 12 h."
    )
    assert text.savings_lines(_rec(model="big", best="big")) == [
        "big is also the reference (highest quality): there is no larger model to save against."
    ]
    assert text.savings_lines(_rec()) == []


def test_cascade_distillation_cost_and_energy_sentences():
    c = Cascade(
        small="s",
        large="l",
        gate=0.9,
        deferred_share=0.25,
        quality=0.912,
        quality_ci=[0.88, 0.94],
        energy_per_query_j=0.05,
        stages=["s", "l"],
        shares=[0.75, 0.25],
        samples_calibration=150,
        samples_held_out=150,
        certified_at=0.95,
    )
    line = text.cascade_line(_rec(cascade=c))
    assert line.startswith("Cascade: s answers 75% of queries (confidence >= 0.90), l the rest (25%): accuracy 0.912")
    assert line.endswith("on 150 held-out samples, 0.05 J/query computed from the stages' own figures; not measured as one pipeline.")
    failed = text.cascade_line(_rec(cascade=c.model_copy(update={"candidate": "s+l", "not_measured": "load failed: OSError"})))
    assert "its pipeline failed (load failed: OSError), so it is not ranked" in failed
    measured = c.model_copy(
        update={"candidate": "s+l", "measured_energy_per_query_j": 0.06, "measured_shares": [0.7, 0.3], "verdict": "meets"}
    )
    rows = [candidate("s", quality=0.8, energy_j=0.001), candidate("l", quality=0.95, energy_j=0.12)]
    line = text.cascade_line(_rec(cascade=measured, candidates=rows))
    assert line.startswith("Cascade: s answers 70% of queries (confidence >= 0.90), l the rest (30%)")
    assert "at 0.06 J/query measured as one pipeline, 50% less than l alone (0.05 J/query computed" in line
    assert line.endswith("it meets the goal.")
    open_ = measured.model_copy(update={"verdict": "undecided"})
    assert "certified at 95.0% on 150 other samples, but the held-out interval cannot confirm the goal" in text.cascade_line(
        _rec(cascade=open_, candidates=rows)
    )
    zero = [rows[0], candidate("l", quality=0.95, energy_j=0.0)]
    assert "the saving against l is not measured: its energy reads zero" in text.cascade_line(_rec(cascade=measured, candidates=zero))
    assert text.cascade_line(_rec()) is None
    d = Distillation(
        name="d",
        teacher="t",
        student="st",
        task="toy",
        task_samples_sha256="0",
        unlabelled="the task's unused rows",
        texts=500,
        state="/x",
        caveat="the teacher saw the samples",
        note="agrees on 95%",
    )
    assert text.distillation_lines(_rec(distillation=d)) == [
        "Distilled: st trained on 500 texts labelled by t (the task's unused rows).",
        "agrees on 95%",
        "Caveat: the teacher saw the samples.",
    ]
    cost = Cost(energy_j=1234.0, duration_s=99.0, exhaustive_estimate_j=4936.0, exhaustive_estimate_s=400.0)
    assert text.cost_line(_rec(advisor_cost=cost, search=Search(strategy="adaptive"))) == (
        "This run (adaptive): 1.65 min, 1,234 J (same method). Measuring every candidate on every sample: about 4,936 J and 6.67 min "
        "(estimated; this run spent 25% of it)."
    )
    partial = cost.model_copy(update={"not_estimated": ["gguf-lm", "hub-clf"]})
    line = text.cost_line(_rec(advisor_cost=partial, search=Search(strategy="adaptive")))
    assert "%" not in line  # no share of a partial estimate
    assert "not stated (at least 4,936 J for the candidates it can be scaled for, nothing of their kind was measured" in line
    assert "for gguf-lm, hub-clf), so neither is the share this run spent." in line
    assert text.cost_line(_rec()) == "This run (exhaustive): 0 s, 0 J (same method)."
    ahead = RunAhead(slots=2, used=["a", "c"], unused=["b"], unused_energy_j=0.0, cancelled_s=4.0)
    assert text.cost_line(_rec(search=Search(ahead=ahead))).endswith(
        "Ran ahead on 2 measuring nodes, one measurement each at a time: 2 first looks used; 1 not needed by the search "
        "(b: 0 J metered, counted above; 4 s of cancelled work reported no energy)."
    )
    est = Method(energy="estimated", codecarbon_version="3.3.2", cpu="load x TDP", cpu_tdp_w=8, ram="constant RAM power model")
    note = text.energy_note(_rec(method=est, idle_power_w=IdlePower(total=10.0)))
    assert "CPU load x TDP" in note and "Idle baseline 10 W" in note and note.startswith("Energy is ESTIMATED by CodeCarbon 3.3.2")
    assert "--cpu-power-w" in note  # the way out for a VM whose CPU CodeCarbon cannot identify
    stated = est.model_copy(update={"cpu_power_w": 65.0, "cpu": "estimated: load x 65 W stated by the user"})
    assert "65 W stated" in text.energy_note(_rec(method=stated)) and "--cpu-power-w" not in text.energy_note(_rec(method=stated))
    assert text.energy_note(_rec()) == "Energy: unknown."


def test_verdict_words():
    rec = _rec(model="a")
    assert text.verdict_text(_cand("a"), rec, "meets") == "recommended"
    assert text.verdict_text(_cand("b"), rec, "meets") == "meets"
    assert text.verdict_text(_cand("b"), rec, "fails") == "below goal"
    assert text.verdict_text(_cand("b", samples_needed=700), rec, "undecided") == "undecided (~700 samples would decide)"
    assert text.verdict_text(_cand("b"), rec, "undecided") == "undecided"


def test_every_stop_is_worded_including_those_without_a_figure():
    from advisor.core import sentences
    from advisor.core.results import Stop

    cases = {"fixed_size": 100, "relative_goal": None, "no_rows": 120, "max_samples": 800, "energy_budget": 500.0, "time_budget": 90.0}
    worded = {case: sentences.stop(Stop(candidate="a", case=case, value=v)) for case, v in cases.items()}
    assert worded["relative_goal"].startswith("a relative goal (--max-drop)") and "120" in worded["no_rows"]
    assert "500 J" in worded["energy_budget"] and "90 s" in worded["time_budget"] and len(set(worded.values())) == len(cases)
    assert sentences.stops([Stop(candidate="a", case="relative_goal"), Stop(candidate="b", case="no_rows", value=3)]).startswith(
        "a: a relative"
    )
