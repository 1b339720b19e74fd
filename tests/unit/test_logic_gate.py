"""The promotion gate's boundary: exactly the minimum improvement promotes, a hair less does not."""

from __future__ import annotations

import pytest
from iterft_runtime.logic.gate import EPSILON, decide


@pytest.mark.parametrize(
    ("candidate", "champion", "minimum", "promote"),
    [
        (0.83, 0.81, 0.02, True),  # 0.83 - 0.81 is 0.019999999999999907 in floats
        (0.3, 0.1, 0.2, True),  # 0.19999999999999998
        (0.61, 0.60, 0.02, False),
        (0.62 - 2 * EPSILON, 0.60, 0.02, False),
        (0.70, 0.60, 0.02, True),
        (0.60, 0.60, 0.0, True),  # no minimum: a tie promotes
        (0.59, 0.60, 0.0, False),
        (0.30, 0.60, 0.02, False),
        (1.0, 0.0, 1.0, True),
    ],
)
def test_promote_iff_the_gain_meets_the_minimum(
    candidate: float, champion: float, minimum: float, promote: bool
) -> None:
    decision = decide(candidate, champion, minimum)
    assert decision.promote is promote
    assert decision.decision == ("promoted" if promote else "rejected")
    assert decision.improvement == pytest.approx(candidate - champion)


def test_the_reason_carries_the_numbers() -> None:
    assert decide(0.655, 0.6, 0.02).reason == (
        "candidate 0.6550 vs champion 0.6000: improvement +0.0550 meets the required 0.0200"
    )
    assert decide(0.6, 0.61, 0.02).reason == (
        "candidate 0.6000 vs champion 0.6100: improvement -0.0100 is below the required 0.0200"
    )


def test_to_dict_is_the_decision_state_result() -> None:
    assert decide(0.7, 0.6, 0.05).to_dict() == {
        "promote": True,
        "decision": "promoted",
        "reason": "candidate 0.7000 vs champion 0.6000: improvement +0.1000 meets the required 0.0500",
        "improvement": pytest.approx(0.1),
    }
