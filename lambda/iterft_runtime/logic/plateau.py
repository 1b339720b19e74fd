"""Knowing when to stop: the plateau rule over a lineage's decided rounds.

A round decided by the gate (promoted or rejected on its scores) whose primary improvement is
under the plateau threshold is *marginal*, whether it was promoted or not; a round above it
resets the count. Rounds the gate never decided (invalid data, rejected overrides, failures
before Decide) leave the count as it is: they say nothing about the gains. K marginal rounds in
a row mark the lineage converged; converged follows the count, so a later round above the
threshold (when rounds keep running) clears it, and `iterft resume` resets both.
"""

from __future__ import annotations

from dataclasses import dataclass

from iterft_runtime.logic.gate import EPSILON


@dataclass(frozen=True)
class PlateauState:
    marginal_rounds: int
    converged: bool


def after_round(marginal_rounds: int, improvement: float, threshold: float, rounds: int) -> PlateauState:
    """The plateau state after one decided round with primary `improvement` (candidate - champion)."""
    marginal = improvement < threshold - EPSILON
    count = marginal_rounds + 1 if marginal else 0
    return PlateauState(marginal_rounds=count, converged=count >= rounds)
