"""Knowing when to stop: the plateau rule over a lineage's decided rounds.

A round decided by the gate (promoted or rejected on its scores) whose primary improvement is
small, |improvement| under the plateau threshold, is *marginal*, whether it was promoted or not:
the data moved the model little either way. A candidate clearly worse than the champion (it fell
by the threshold or more) is a *regression*: the data hurt, which says nothing about gains being
exhausted, so it leaves the count as it is (and is recorded as such). A round that gained the
threshold or more resets the count. Rounds the gate never decided (invalid data, rejected
overrides, failures before Decide) leave the count as it is too: they say nothing about the gains.
K marginal rounds in a row (regressions between them neither break nor extend the run) mark the
lineage converged; converged follows the count, so a later round above the threshold (when rounds
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


def is_marginal(improvement: float, threshold: float) -> bool:
    """A small change either way: |improvement| under the threshold (a zero threshold: never)."""
    return abs(improvement) < threshold - EPSILON


def is_regression(improvement: float, threshold: float) -> bool:
    """Clearly worse than the champion: a fall the plateau threshold does not call small."""
    return improvement < 0 and not is_marginal(improvement, threshold)


def after_round(marginal_rounds: int, improvement: float, threshold: float, rounds: int) -> PlateauState:
    """The plateau state after one decided round with primary `improvement` (candidate - champion)."""
    if is_regression(improvement, threshold):
        return PlateauState(marginal_rounds, converged=marginal_rounds >= rounds, regression=True)
    count = marginal_rounds + 1 if is_marginal(improvement, threshold) else 0
    return PlateauState(marginal_rounds=count, converged=count >= rounds)


def regression_note(improvement: float, gate: GatePolicy) -> str:
    """What a regression's reason says: by how much the data hurt, and that it was not counted."""
    return (
        f"regression: the candidate fell {-improvement:.4f} below the champion (the plateau threshold "
        f"is {gate.plateau_limit:.4f}): the data hurt; not counted towards a plateau"
    )
