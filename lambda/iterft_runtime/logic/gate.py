"""The promotion gate: a candidate replaces the champion only when it is measurably better."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from iterft_runtime.models.records import Decision

EPSILON = 1e-9
"""Scores are means of floats: 0.83 - 0.81 is 0.019999999999999907, not 0.02. Differences within
EPSILON of the threshold count as meeting it, so a gain of exactly min_improvement promotes."""


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    decision: str
    reason: str
    improvement: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(candidate_score: float, champion_score: float, min_improvement: float) -> GateDecision:
    """Promote iff candidate - champion >= min_improvement (up to EPSILON)."""
    improvement = candidate_score - champion_score
    promote = improvement >= min_improvement - EPSILON
    comparison = "meets" if promote else "is below"
    reason = (
        f"candidate {candidate_score:.4f} vs champion {champion_score:.4f}: "
        f"improvement {improvement:+.4f} {comparison} the required {min_improvement:.4f}"
    )
    decision = Decision.PROMOTED if promote else Decision.REJECTED
    return GateDecision(promote=promote, decision=decision.value, reason=reason, improvement=improvement)
