"""The results' sentences, rendered from typed reasons: pure, no I/O, numbers through :mod:`advisor.core.formats`.

The core, the search and the serving choice decide in data (:class:`~advisor.core.results.Outcome`, a pruned
candidate's ``pruned_by`` and ``pruned_as``, a bespoke model's ``payback_case``, the search's
:class:`~advisor.core.results.Stop` list, :class:`~advisor.core.results.BestBet`,
:class:`~advisor.core.results.ServingChoice`); this module alone turns those into the words results.json keeps
beside them and the terminal, the report and the service show. A pipeline reads the typed fields; a person reads
these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from advisor.core.figures import CandidateResult, Making, ServingChoice, ServingPoint
from advisor.core.formats import human_count, joules, latency_goal, milliseconds, percent, quality
from advisor.core.reasons import BestBet, NoCascade, Outcome, Stop, Unfit

_COST = {"energy": "energy per query", "params": "parameters", "latency": "median latency"}
"""What each ranking key is called in a sentence."""

EXHAUSTIVE = "--exhaustive measures it"


def _q(c: CandidateResult) -> str:
    return quality(c.quality, c.quality_ci)


def _fraction(ratio: float | None) -> str:
    """A cost ratio below 1 in words: ``1/12`` from about a half down, else a percentage; None: not measurable."""
    if ratio is None:
        return "an unmeasurable fraction"
    return f"1/{1 / ratio:.0f}" if ratio <= 1 / 1.95 else percent(ratio)


def summary(outcome: Outcome, goal: str, candidates: Mapping[str, CandidateResult]) -> str:
    """The ranking's answer in one sentence, e.g. ``a meets accuracy >= 0.80 (...) at 1/12 of the energy per query of b,
    the largest candidate that also meets it (0.91).``

    Args:
        outcome: the ranking's :class:`~advisor.core.results.Outcome`.
        goal: the goal in words (:func:`advisor.core.formats.goal_text`).
        candidates: the candidates by name, for the figures the sentence quotes.
    """
    case, get = outcome.case, candidates.get
    if case == "none_measured":
        return "No candidate was measured successfully."
    subject = get(outcome.subject or "")
    if case == "all_stopped" and subject is not None:
        return (
            f"No candidate meets {goal}: each was stopped early, its quality's upper bound already below the threshold "
            f"(highest: {subject.name}, {quality(subject.quality)} on {subject.samples_evaluated} samples)."
        )
    if case == "undecided" and subject is not None:
        n = subject.samples_needed
        need = f"about {n} samples would decide" if n else "no practical sample size would decide"
        return f"The data cannot decide: {subject.name} ({_q(subject)}) may or may not meet {goal}; {need}."
    if case == "none_meets" and subject is not None:
        return f"No candidate meets {goal}; the best is {subject.name} ({_q(subject)})."
    chosen = get(outcome.chosen or "")
    if chosen is None:
        return ""
    head = f"{chosen.name} meets {goal} ({_q(chosen)})"
    if case == "only":
        return f"{head}; it is the only candidate that does."
    largest = get(outcome.largest or "")
    if case == "largest" or largest is None:
        return f"{head}; it is the largest candidate that does."
    return (
        f"{head} at {_fraction(outcome.cost_ratio)} of the {_COST[outcome.by]} of {largest.name}, "
        f"the largest candidate that also meets it ({quality(largest.quality)})."
    )


def no_more_rows(used: int, rows: int, stopped: str | None) -> str:
    """Why an undecided run ends where it does: every row used, or what stopped the drawing."""
    if used >= rows:
        return f"The data has no more rows: all {rows} usable rows were used."
    return f"No more samples were drawn ({stopped}); {rows} usable rows exist."


def best_bet(bet: BestBet) -> str:
    """The best bet of an undecided run (:class:`~advisor.core.results.BestBet`), said as not a confident answer."""
    odds = "the cheapest at even odds or better" if bet.even_odds else "none reaches even odds"
    return (
        f"Best bet, not a confident recommendation: {bet.name} meets the goal with probability about {bet.likelihood:.0%} "
        f"(normal approximation of its interval; {odds})."
    )


def stop(s: Stop) -> str:
    """Why no more samples were drawn for one candidate (:class:`~advisor.core.results.Stop`)."""
    if s.case == "relative_goal":
        return "a relative goal (--max-drop) compares candidates on the same samples, so no more are drawn"
    v = s.value or 0.0
    return {
        "fixed_size": lambda: f"the sample size was fixed at {v:.0f} (--samples); leave it out to let the run draw more",
        "no_rows": lambda: f"no more rows to draw (all {v:.0f} used)",
        "max_samples": lambda: f"--max-samples reached ({v:.0f})",
        "energy_budget": lambda: f"the energy budget for more samples ({v:g} J) is spent",
        "time_budget": lambda: f"the time budget for more samples ({v:g} s) is spent",
    }[s.case]()


def stops(found: Sequence[Stop]) -> str | None:
    """Every candidate's stop, ``name: why`` joined (None when there is none)."""
    return "; ".join(f"{s.candidate}: {stop(s)}" for s in found) or None


def pruned(by: str, role: str | None, mine: int | None, theirs: int | None) -> str:
    """Why a candidate was not measured: ``by`` met the goal (``role`` None) or is the deployed model, and this one
    is expected to cost more (its parameters against ``by``'s, when both are known)."""
    why = f"{human_count(mine)} vs {human_count(theirs)} parameters" if mine and theirs else "later in the cost order"
    if role:
        return f"not measured: expected to cost more than {role}, {by} ({why}); {EXHAUSTIVE}"
    return f"not measured: {by} already meets the goal and this candidate is expected to cost more ({why}); {EXHAUSTIVE}"


def parent_not_measured(parent: CandidateResult) -> str:
    """Why a model trained from a frozen parent is not made: the parent itself was not measured in full."""
    return f"not measured: its parent {parent.name} was not measured in full ({parent.status}); {EXHAUSTIVE}"


def parent_too_far(parent: CandidateResult, threshold: float, within: float) -> str:
    """Why a model trained from a frozen parent is not made: the parent scored too far below the goal."""
    gap = threshold - (parent.quality or 0.0)
    return (
        f"not measured: its frozen parent {parent.name} scored {parent.quality:.3f}, {gap:.3f} below the goal {threshold:g}; "
        f"fine-tuning is tried within {within:g} of the goal (--finetune-within); {EXHAUSTIVE}"
    )


def payback(mk: Making) -> str | None:
    """What making a bespoke model buys, from its ``payback_case``: the queries after which its one-off energy is
    repaid against ``payback_against``, or why it never is (None when no case was decided)."""
    made, other = joules(mk.energy_j), mk.payback_against
    return {
        None: None,
        "no_candidate": "no measured candidate it would replace",
        "unknown": "the energy of making it is unknown",
        "same_architecture": (
            f"has the architecture of its parent {other}, so a query costs the same (figures that differ are the machine's "
            f"noise): the {made} of making it buys quality, not energy"
        ),
        "overlap": (
            f"uses about as much energy per query as {other} (the intervals overlap): the {made} of making it buys quality, not energy"
        ),
        "never": f"never repays the {made} of making it against {other}: it uses as much energy per query or more",
        "repays": (
            f"repays the {made} of making it after {mk.payback_queries or 0:,.0f} queries against {other} "
            f"({joules(mk.payback_saved_j)} less per query)"
        ),
    }[mk.payback_case]


# -- serving -----------------------------------------------------------------------------------------


def configuration(p: ServingPoint) -> str:
    """``onnxruntime, batch 4, 2 threads`` (and the device when it is not the CPU)."""
    where = f", {p.device}" if p.device != "cpu" else ""
    how = f" grouped by length (gathering {p.wait_queries})" if p.batching == "length" else ""
    return f"{p.runtime}, batch {p.batch_size}{how}, {p.threads} thread{'s' if p.threads != 1 else ''}{where}"


def _others(n: int) -> str:
    return f"{n} other{'s' if n > 1 else ''}"


def serving_answer(
    c: ServingChoice, model: str | None, point: ServingPoint | None, max_latency_ms: float | None, energy_label: str = ""
) -> str:
    """The serving decision in one sentence: which model and configuration, and why (or why none).

    Args:
        c: the decision.
        model: the model chosen, and ``point`` its configuration (both None unless ``c.case`` is ``chosen``).
        max_latency_ms: the latency goal (None: least energy, whatever the latency).
        energy_label: how energy was obtained, said at the figure (e.g. ``ESTIMATED``).
    """
    goal = latency_goal(max_latency_ms) if max_latency_ms else None
    if c.case == "none_measured":
        return "no serving configuration could be measured"
    if c.case == "none_meets" or point is None:
        models = f"the {c.models} models swept" if c.models > 1 else (c.fastest or "the model")
        hint = " (--serving frontier also tries the other candidates that meet the quality goal)" if c.models <= 1 else ""
        fastest = c.fastest_point
        where = f"{c.fastest} at {configuration(fastest)} with p95 {milliseconds(fastest.latency_p95_ms)}" if fastest else "none"
        return (
            f"No configuration of {models} meets {goal}: the fastest is {where}; relax --max-latency-ms or serve on faster hardware{hint}."
        )
    among = (
        f"of the {c.configurations} configurations{f' of {c.models} models' if c.models > 1 else ''} meeting {goal}"
        if goal
        else "with no latency goal"
    )
    if not c.energy_measured:
        text = (
            f"Serve {model} with {configuration(point)}: energy was not measured (every configuration reads 0 J), so this is "
            f"the fastest {among} (p95 {milliseconds(point.latency_p95_ms)})"
        )
    else:
        label = f" {energy_label}" if energy_label else ""
        tie = f"; tied on energy with {_others(c.ties)}, intervals overlapping: the fastest of them" if c.ties else ""
        text = (
            f"Serve {model} with {configuration(point)}: it uses the least energy per query {among} "
            f"({joules(point.energy.per_query_j)}{label}, p95 {milliseconds(point.latency_p95_ms)}{tie})"
        )
    if c.recommended:
        if c.recommended_best_j is not None:
            text += f", less than {c.recommended} at its best configuration meeting the goal ({joules(c.recommended_best_j)})"
        else:
            text += f", while {c.recommended} meets it at no configuration"
    return text + "."


# -- cascades ----------------------------------------------------------------------------------------


def unfit(u: Unfit) -> str:
    """Why a candidate cannot answer early in a cascade (:class:`~advisor.core.results.Unfit`), after its name."""
    return {
        "no_confidence": "gives no confidence score",
        "constant_confidence": f"gives every answer the same confidence ({u.detail}): no gate can tell its sure answers apart",
        "foreign_labels": f"answers labels the task does not have ({u.detail}): stages must predict the same label set",
    }[u.case]


def no_cascade(n: NoCascade) -> str:
    """Why a run has no cascade (:class:`~advisor.core.results.NoCascade`), one sentence."""
    bad = "; ".join(f"{u.candidate} {unfit(u)}" for u in n.unfit)
    if n.case == "off":
        return "Cascades were left out (--cascade off)."
    if n.case == "generative":
        return "No cascade: a generative task's answers carry no classifier confidence to gate on."
    if n.case == "relative_goal":
        return "No cascade: a relative goal (--max-drop) has no fixed threshold to certify a gate against."
    if n.case == "nothing_cheaper":
        return f"No cascade: no measured candidate costs less per query than {n.last}."
    if n.case == "none_can_gate":
        return f"No cascade: {bad}."
    return (
        f"No cascade: none of those tried with {', '.join(n.tried)} before {n.last} is certified to meet the goal for "
        f"less energy than {n.last} alone" + (f" ({bad})" if bad else "") + "."
    )
