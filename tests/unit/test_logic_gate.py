"""The promotion gate and the plateau rule, table-driven: each rule's boundary and its verdict."""

from __future__ import annotations

import pytest
from iterft_runtime.logic.gate import EPSILON, GateDecision, decide
from iterft_runtime.logic.plateau import PlateauState, after_round


def primary_only(candidate: float, champion: float, minimum: float) -> GateDecision:
    return decide(
        {"token_f1": candidate}, {"token_f1": champion}, primary="token_f1", min_improvement=minimum
    )


def scores(token_f1: float, exact_match: float, rouge_l: float) -> dict[str, float]:
    return {"token_f1": token_f1, "exact_match": exact_match, "rouge_l": rouge_l}


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
def test_promote_iff_the_primary_gain_meets_the_minimum(
    candidate: float, champion: float, minimum: float, promote: bool
) -> None:
    decision = primary_only(candidate, champion, minimum)
    assert decision.promote is promote
    assert decision.decision == ("promoted" if promote else "rejected")
    assert decision.improvement == pytest.approx(candidate - champion)
    assert [rule["passed"] for rule in decision.rules] == [promote]


CHAMPION = scores(0.60, 0.40, 0.55)


@pytest.mark.parametrize(
    ("candidate", "guards", "promote", "verdicts"),
    [
        # primary +0.05 >= 0.02, guards within tolerance (a guard may also rise)
        (scores(0.65, 0.38, 0.60), {"exact_match": 0.05, "rouge_l": 0.0}, True, [True, True, True]),
        # a guard falling by exactly its tolerance holds (0.40 - 0.35 is 0.05000000000000004 in floats)
        (scores(0.65, 0.35, 0.55), {"exact_match": 0.05}, True, [True, True]),
        # a guard falling past its tolerance rejects a candidate whose primary passed
        (scores(0.70, 0.30, 0.60), {"exact_match": 0.05, "rouge_l": 0.0}, False, [True, False, True]),
        # a zero tolerance: any fall rejects
        (scores(0.70, 0.45, 0.54), {"rouge_l": 0.0}, False, [True, False]),
        # guards hold but the primary gain is marginal
        (scores(0.61, 0.50, 0.60), {"exact_match": 0.05}, False, [False, True]),
        # both fail
        (scores(0.50, 0.10, 0.60), {"exact_match": 0.05}, False, [False, False]),
    ],
)
def test_guards_may_fall_by_at_most_their_tolerance(
    candidate: dict[str, float], guards: dict[str, float], promote: bool, verdicts: list[bool]
) -> None:
    decision = decide(candidate, CHAMPION, primary="token_f1", min_improvement=0.02, guards=guards)
    assert decision.promote is promote
    assert [rule["passed"] for rule in decision.rules] == verdicts
    assert decision.deltas == pytest.approx({name: candidate[name] - CHAMPION[name] for name in CHAMPION})


def test_each_rule_and_the_reason_carry_the_numbers() -> None:
    decision = decide(
        {"token_f1": 0.655, "exact_match": 0.30},
        {"token_f1": 0.6, "exact_match": 0.40},
        primary="token_f1",
        min_improvement=0.02,
        guards={"exact_match": 0.05},
    )
    assert decision.to_dict() == {
        "promote": False,
        "decision": "rejected",
        "reason": (
            "token_f1: candidate 0.6550 vs champion 0.6000: improvement +0.0550 meets the required 0.0200; "
            "guard exact_match fell 0.1000, more than its tolerance 0.0500"
        ),
        "improvement": pytest.approx(0.055),
        "deltas": {"exact_match": pytest.approx(-0.1), "token_f1": pytest.approx(0.055)},
        "gate": [
            {"rule": "primary token_f1 +0.0550 >= 0.0200", "passed": True},
            {"rule": "guard exact_match -0.1000 >= -0.0500", "passed": False},
        ],
    }
    assert primary_only(0.6, 0.61, 0.02).reason == (
        "token_f1: candidate 0.6000 vs champion 0.6100: improvement -0.0100 is below the required 0.0200"
    )
    held = decide(
        {"token_f1": 0.7, "rouge_l": 0.5}, {"token_f1": 0.6, "rouge_l": 0.5},
        primary="token_f1", min_improvement=0.02, guards={"rouge_l": 0.01},
    )  # fmt: skip
    assert held.promote and held.reason.endswith("; every guard held")


def test_a_metric_missing_from_either_side_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="exact_match"):
        decide({"token_f1": 0.9}, {"token_f1": 0.1, "exact_match": 0.1}, primary="token_f1",
               min_improvement=0.0, guards={"exact_match": 0.1})  # fmt: skip
    with pytest.raises(ValueError, match="rouge_l"):
        decide({"token_f1": 0.9}, {"token_f1": 0.1}, primary="rouge_l", min_improvement=0.0)


@pytest.mark.parametrize(
    ("before", "improvement", "threshold", "rounds", "after"),
    [
        (0, 0.001, 0.02, 3, PlateauState(1, False)),  # marginal, whether promoted or rejected
        (1, -0.019, 0.02, 3, PlateauState(2, False)),  # a small fall is marginal too
        (1, -0.20, 0.02, 3, PlateauState(1, False, regression=True)),  # clearly worse: not counted
        (2, -0.02, 0.02, 3, PlateauState(2, False, regression=True)),  # a fall of exactly the threshold
        (3, -0.5, 0.02, 3, PlateauState(3, True, regression=True)),  # neither clears converged
        (2, -0.02 + EPSILON / 2, 0.02, 3, PlateauState(2, False, regression=True)),  # float noise
        (2, 0.019, 0.02, 3, PlateauState(3, True)),  # the K-th marginal round in a row converges
        (3, 0.0, 0.02, 3, PlateauState(4, True)),  # stays converged
        (2, 0.02, 0.02, 3, PlateauState(0, False)),  # exactly the threshold is not marginal: reset
        (2, 0.02 - EPSILON / 2, 0.02, 3, PlateauState(0, False)),  # within float noise of it
        (5, 0.30, 0.02, 3, PlateauState(0, False)),  # a real gain resets and clears converged
        (0, 0.0, 0.0, 1, PlateauState(0, False)),  # threshold 0: nothing is marginal
        (0, -0.01, 0.0, 1, PlateauState(0, False, regression=True)),  # and any fall is a regression
        (0, -0.01, 0.02, 1, PlateauState(1, True)),  # K = 1
    ],
)
def test_plateau_rule(
    before: int, improvement: float, threshold: float, rounds: int, after: PlateauState
) -> None:
    assert after_round(before, improvement, threshold, rounds) == after


def test_regressions_between_marginal_rounds_neither_break_nor_extend_the_run() -> None:
    state = PlateauState(0, False)
    for improvement in (0.005, -0.15, -0.01, -0.3):
        state = after_round(state.marginal_rounds, improvement, 0.02, 3)
    assert state == PlateauState(2, False, regression=True)  # two marginal rounds, not four
    assert after_round(state.marginal_rounds, 0.0, 0.02, 3) == PlateauState(3, True)
