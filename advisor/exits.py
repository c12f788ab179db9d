"""Exit codes of every ``advisor`` command, in one table: one code means one thing everywhere.

====  ===================  ==========================================================================
code  name                 meaning
====  ===================  ==========================================================================
0     ok                   done: a model is recommended, the deployed model is right-sized, or the command succeeded
1     bad-input            a mistake in the command line, a task, a registry, a data file or a results file
2     none-meets           no candidate meets the goal (recommend)
3     undecided            the samples cannot decide whether a candidate meets the goal
4     oversized            check: a cheaper candidate meets the goal
5     below-goal           check: the deployed model does not meet the goal
6     energy-regression    check: the deployed model's energy per query rose more than allowed
130   interrupted          stopped by Ctrl-C; what was measured is saved
====  ===================  ==========================================================================
"""

from __future__ import annotations

OK, BAD_INPUT, NONE_MEETS, UNDECIDED, OVERSIZED, BELOW_GOAL, ENERGY_REGRESSION, INTERRUPTED = 0, 1, 2, 3, 4, 5, 6, 130

FOR_DECISION = {"recommended": OK, "none": NONE_MEETS, "undecided": UNDECIDED}
"""``advisor recommend``: the exit code of each decision."""

FOR_VERDICT = {
    "right-sized": OK,
    "undecided": UNDECIDED,
    "oversized": OVERSIZED,
    "below-goal": BELOW_GOAL,
    "energy-regression": ENERGY_REGRESSION,
}
"""``advisor check``: the exit code of each verdict."""
