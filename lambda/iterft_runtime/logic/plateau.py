"""Knowing when to stop: the plateau rule over a lineage's decided rounds.

A round decided by the gate (promoted or rejected on its scores) is *marginal* when its change is shown
to be small, whether it was promoted or not: under `gate.decide_on: lower_bound` its primary interval's
upper bound is under the plateau threshold (the data cannot have moved the model by the threshold);
under `point`, |improvement| is under it. A candidate clearly worse than the champion is a
*regression*: it fell by the threshold or more, and (with an interval) its whole interval lies below
zero: the data hurt, which says nothing about gains being exhausted, so it leaves the count as it is
(and is recorded as such). Any other round resets the count: a gain of the threshold or more, and an
interval that reaches the threshold (not shown small: so "converged" means "shown not to improve", not
"did not happen to improve"). A round whose improvement cost more per point than
`gate.max_cost_per_point_usd` counts as marginal too, unless it is a regression: its gain was not
worth its price. Rounds the gate never decided (invalid data, rejected overrides, failures before
Decide) leave the count as it is too: they say nothing about the gains.
K marginal rounds in a row (regressions between them neither break nor extend the run) mark the
lineage converged; converged follows the count, so a later round that is not marginal (when rounds
keep running) clears it, and `iterft resume` resets both.
"""

from __future__ import annotations

from dataclasses import dataclass

from iterft_runtime.logic.gate import EPSILON
from iterft_runtime.models.lineage import GatePolicy


@dataclass(frozen=True)
class PlateauState:
    marginal_rounds: int
    converged: bool
    regression: bool = False
    """The round's candidate fell by the threshold or more: not counted (the data hurt)."""


def is_marginal(improvement: float, threshold: float, upper: float | None = None) -> bool:
    """A change shown small: the interval's `upper` bound (else |improvement|) under the threshold
    (a zero threshold: never)."""
    if upper is not None:
        return upper < threshold - EPSILON
    return abs(improvement) < threshold - EPSILON


def is_regression(improvement: float, threshold: float, upper: float | None = None) -> bool:
    """Clearly worse than the champion: a fall the plateau threshold does not call small, and (given the
    interval's `upper` bound) one the interval shows, wholly below zero."""
    fell = improvement < 0 and not abs(improvement) < threshold - EPSILON
    return fell and (upper is None or upper < 0)


def after_round(
    marginal_rounds: int,
    improvement: float,
    threshold: float,
    rounds: int,
    *,
    upper: float | None = None,
    costly: bool = False,
) -> PlateauState:
    """The plateau state after one decided round with primary `improvement` (candidate - champion), the
    `upper` bound of its interval when the rule reads intervals, and whether its improvement cost more
    per point than the lineage allows (`costly`)."""
    if is_regression(improvement, threshold, upper):
        return PlateauState(marginal_rounds, converged=marginal_rounds >= rounds, regression=True)
    marginal = costly or is_marginal(improvement, threshold, upper)
    count = marginal_rounds + 1 if marginal else 0
    return PlateauState(marginal_rounds=count, converged=count >= rounds)


def regression_note(improvement: float, gate: GatePolicy, upper: float | None = None) -> str:
    """What a regression's reason says: by how much the data hurt, and that it was not counted."""
    shown = f", its interval wholly below zero (upper bound {upper:+.4f})" if upper is not None else ""
    return (
        f"regression: the candidate fell {-improvement:.4f} below the champion{shown} (the plateau threshold "
        f"is {gate.plateau_limit:.4f}): the data hurt; not counted towards a plateau"
    )
