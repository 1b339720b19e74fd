"""The promotion gate: a candidate replaces the champion only when it is measurably better.

Two kinds of rule, each reported with its verdict: the primary metric must improve by at least
`gate.min_improvement`, and every guard metric may fall by at most its tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    """Candidate minus champion on the primary metric."""
    deltas: dict[str, float] = field(default_factory=dict)
    """Candidate minus champion, overall, for every metric both were scored on."""
    rules: list[dict[str, Any]] = field(default_factory=list)
    """One `{"rule": text, "passed": bool}` per rule, the primary first."""

    def to_dict(self) -> dict[str, Any]:
        """The Decide state's result (`$.decision`)."""
        return {
            "promote": self.promote,
            "decision": self.decision,
            "reason": self.reason,
            "improvement": self.improvement,
            "deltas": dict(self.deltas),
            "gate": [dict(rule) for rule in self.rules],
        }


def decide(
    candidate: Mapping[str, float],
    champion: Mapping[str, float],
    *,
    primary: str,
    min_improvement: float,
    guards: Mapping[str, float] | None = None,
) -> GateDecision:
    """Promote iff the primary gain >= min_improvement and no guard falls by more than its tolerance.

    `candidate` and `champion` are overall scores by metric name, measured on the same set version.
    """
    guards = guards or {}
    missing = sorted({primary, *guards} - (set(candidate) & set(champion)))
    if missing:
        raise ValueError(f"the gate needs both models' scores for: {', '.join(missing)}")
    deltas = {name: candidate[name] - champion[name] for name in sorted(set(candidate) & set(champion))}
    improvement = deltas[primary]
    primary_passed = improvement >= min_improvement - EPSILON
    rules = [
        {"rule": f"primary {primary} {improvement:+.4f} >= {min_improvement:.4f}", "passed": primary_passed}
    ]
    comparison = "meets" if primary_passed else "is below"
    reasons = [
        f"{primary}: candidate {candidate[primary]:.4f} vs champion {champion[primary]:.4f}: "
        f"improvement {improvement:+.4f} {comparison} the required {min_improvement:.4f}"
    ]
    broken = []
    for name, tolerance in sorted(guards.items()):
        passed = deltas[name] >= -tolerance - EPSILON
        rules.append({"rule": f"guard {name} {deltas[name]:+.4f} >= {-tolerance:+.4f}", "passed": passed})
        if not passed:
            broken.append(f"guard {name} fell {-deltas[name]:.4f}, more than its tolerance {tolerance:.4f}")
    if broken:
        reasons += broken
    elif guards and primary_passed:
        reasons.append("every guard held")
    promote = primary_passed and not broken
    decision = Decision.PROMOTED if promote else Decision.REJECTED
    return GateDecision(
        promote=promote,
        decision=decision.value,
        reason="; ".join(reasons),
        improvement=improvement,
        deltas=deltas,
        rules=rules,
    )
