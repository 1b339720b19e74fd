"""The promotion gate and the plateau rule, table-driven: each rule's boundary and its verdict."""

from __future__ import annotations

import pytest
from iterft_runtime.logic.gate import EPSILON, GateDecision, decide
from iterft_runtime.logic.paired import Interval, PairedComparison
from iterft_runtime.logic.plateau import PlateauState, after_round
from iterft_runtime.models.lineage import DecideOn


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
    assert {name: delta["delta"] for name, delta in decision.deltas.items()} == pytest.approx(
        {name: candidate[name] - CHAMPION[name] for name in CHAMPION}
    )
    assert all(delta["ci_low"] is None and delta["ci_high"] is None for delta in decision.deltas.values())


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
        "deltas": {
            "exact_match": {"delta": pytest.approx(-0.1), "ci_low": None, "ci_high": None},
            "token_f1": {"delta": pytest.approx(0.055), "ci_low": None, "ci_high": None},
        },
        "gate": [
            {"rule": "primary token_f1 +0.0550: delta >= 0.0200", "passed": True},
            {"rule": "guard exact_match -0.1000: delta >= -0.0500", "passed": False},
        ],
        "inconclusive": False,
        "records_to_resolve": None,
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


# -- with intervals ----------------------------------------------------------------------------------


def comparison(
    intervals: dict[str, tuple[float, float, float]],
    *,
    records: int = 50,
    spread: float = 0.2,
    categories: dict[str, tuple[float, float, float]] | None = None,
) -> PairedComparison:
    """A round's paired comparison as logic/paired.compare returns it, with the intervals given."""
    return PairedComparison(
        overall={name: Interval(*values) for name, values in intervals.items()},
        by_category={name: Interval(*values) for name, values in (categories or {}).items()},
        records=records,
        confidence=0.95,
        seed=1,
        difference_spread=dict.fromkeys(intervals, spread),
    )


def gated(
    primary: tuple[float, float, float],
    decide_on: DecideOn,
    *,
    guard: tuple[float, float, float] | None = None,
    categories: dict[str, tuple[float, float, float]] | None = None,
    max_category_drop: float | None = None,
) -> GateDecision:
    intervals = {"token_f1": primary, **({"exact_match": guard} if guard else {})}
    champion = {"token_f1": 0.5, "exact_match": 0.5}
    candidate = {name: 0.5 + values[0] for name, values in intervals.items()}
    return decide(
        {**champion, **candidate},
        champion,
        primary="token_f1",
        min_improvement=0.02,
        guards={"exact_match": 0.05} if guard else None,
        comparison=comparison(intervals, categories=categories),
        decide_on=decide_on,
        max_category_drop=max_category_drop,
    )


LOWER, POINT = DecideOn.LOWER_BOUND, DecideOn.POINT


@pytest.mark.parametrize(
    ("primary", "decide_on", "promote", "inconclusive"),
    [
        ((0.05, 0.03, 0.07), LOWER, True, False),  # the whole interval clears 0.02
        ((0.05, 0.02, 0.08), LOWER, True, False),  # a lower bound of exactly the minimum
        ((0.05, 0.02 - 2 * EPSILON, 0.08), LOWER, False, True),
        ((0.05, -0.01, 0.11), LOWER, False, True),  # straddles 0.02: not shown either way
        ((0.01, -0.03, 0.05), LOWER, False, True),  # below on its mean, but not shown below
        ((0.01, 0.005, 0.015), LOWER, False, False),  # shown below 0.02: a clear rejection
        ((-0.1, -0.2, -0.05), LOWER, False, False),
        ((0.05, -0.01, 0.11), POINT, True, False),  # point: the mean alone
        ((0.01, 0.005, 0.015), POINT, False, False),
    ],
)
def test_the_primary_rule_reads_the_interval_under_lower_bound(
    primary: tuple[float, float, float], decide_on: DecideOn, promote: bool, inconclusive: bool
) -> None:
    decision = gated(primary, decide_on)
    assert (decision.promote, decision.inconclusive) == (promote, inconclusive)
    assert decision.deltas["token_f1"] == {"delta": primary[0], "ci_low": primary[1], "ci_high": primary[2]}
    assert ("inconclusive" in decision.reason) is inconclusive
    assert (decision.records_to_resolve is not None) is inconclusive


def test_an_inconclusive_reason_says_how_many_more_records_would_resolve_it() -> None:
    # Spread 0.2, a difference 0.05 against 0.02: an interval reaching 0.03 needs (1.96 x 0.2 / 0.03)^2
    # = 170.7, so 171 records: 121 more than the 50 scored.
    decision = gated((0.05, -0.01, 0.11), LOWER)
    assert decision.records_to_resolve == 121
    assert decision.reason == (
        "token_f1: candidate 0.5500 vs champion 0.5000: improvement +0.0500 (95% CI -0.0100 to +0.1100) is "
        "inconclusive: its interval straddles the required 0.0200; about 121 more evaluation records (beyond "
        "the set's 50) would resolve a difference of +0.0500 against 0.0200"
    )
    assert decision.rules == [
        {"rule": "primary token_f1 +0.0500 [-0.0100, +0.1100]: lower bound >= 0.0200", "passed": False}
    ]
    at_threshold = gated((0.02, -0.04, 0.08), LOWER)
    assert at_threshold.inconclusive and at_threshold.records_to_resolve is None
    assert "cannot be resolved by more records" in at_threshold.reason


@pytest.mark.parametrize(
    ("guard", "decide_on", "holds"),
    [
        ((-0.10, -0.20, 0.00), LOWER, True),  # fell on average, but not shown to fall past 0.05
        ((-0.10, -0.15, -0.06), LOWER, False),  # the whole interval lies below -0.05
        ((-0.10, -0.15, -0.05), LOWER, True),  # an upper bound of exactly -0.05
        ((-0.10, -0.20, 0.00), POINT, False),  # point: the mean fell 0.10
        ((-0.04, -0.2, 0.1), POINT, True),
    ],
)
def test_a_guard_fails_when_its_interval_lies_wholly_below_its_tolerance(
    guard: tuple[float, float, float], decide_on: DecideOn, holds: bool
) -> None:
    decision = gated((0.05, 0.03, 0.07), decide_on, guard=guard)
    assert decision.promote is holds
    assert [rule["passed"] for rule in decision.rules] == [True, holds]
    if not holds:
        assert "guard exact_match fell 0.1000" in decision.reason


def test_the_category_guard_names_the_category_that_fell() -> None:
    categories = {"billing": (0.2, 0.1, 0.3), "account": (-0.3, -0.5, -0.1), "shipping": (-0.3, -0.6, 0.1)}
    decision = gated((0.05, 0.03, 0.07), LOWER, categories=categories, max_category_drop=0.05)
    assert not decision.promote and not decision.inconclusive
    assert "category 'account' fell 0.3000 on token_f1" in decision.reason
    assert "gate.max_category_drop 0.0500" in decision.reason and "shipping" not in decision.reason
    assert decision.rules[1:] == [
        {"rule": "categories of token_f1 (3): each upper bound >= -0.0500", "passed": False},
        {
            "rule": "category 'account' token_f1 -0.3000 [-0.5000, -0.1000]: upper bound >= -0.0500",
            "passed": False,
        },
    ]
    # point: the mean drop is enough, so shipping falls too
    pointed = gated((0.05, 0.03, 0.07), POINT, categories=categories, max_category_drop=0.05)
    assert "'account'" in pointed.reason and "'shipping'" in pointed.reason
    # no category fell past the tolerance: promoted, and the guards are said to have held
    held = gated((0.05, 0.03, 0.07), LOWER, categories={"billing": (0.2, 0.1, 0.3)}, max_category_drop=0.05)
    assert held.promote and held.reason.endswith("every guard held")
    assert [rule["passed"] for rule in held.rules] == [True, True]
    # However many categories fall, the verdict stays small: the worst ten are named, the rest counted.
    many = {f"topic-{index:03d}": (-0.3 - index / 1000, -0.5, -0.1) for index in range(40)}
    crowded = gated((0.05, 0.03, 0.07), LOWER, categories=many, max_category_drop=0.05)
    assert len(crowded.rules) == 2 + 10 and "and 30 more categories fell as far" in crowded.reason
    assert "'topic-039'" in crowded.reason and "'topic-000'" not in crowded.reason
    with pytest.raises(ValueError, match="max_category_drop"):
        scored = {"token_f1": 0.6}
        decide(scored, scored, primary="token_f1", min_improvement=0, max_category_drop=0.1)


@pytest.mark.parametrize(
    ("before", "improvement", "upper", "costly", "after"),
    [
        (0, 0.001, 0.015, False, PlateauState(1, False)),  # shown small: marginal
        (0, 0.001, 0.05, False, PlateauState(0, False)),  # not shown small: the count restarts
        (1, 0.015, 0.019, False, PlateauState(2, False)),
        (1, 0.015, 0.02, False, PlateauState(0, False)),  # an upper bound of the threshold is not small
        (2, -0.01, 0.005, False, PlateauState(3, True)),  # a small fall, shown small: marginal
        (2, -0.05, -0.01, False, PlateauState(2, False, regression=True)),  # a clear regression
        (2, -0.05, 0.01, False, PlateauState(3, True)),  # fell 0.05 on its mean, not shown: marginal
        (2, -0.05, 0.04, False, PlateauState(0, False)),  # not shown either way: restarts
        (1, 0.30, 0.40, True, PlateauState(2, False)),  # a real gain, but dearer per point than allowed
        (1, -0.30, -0.20, True, PlateauState(1, False, regression=True)),
    ],
)
def test_plateau_rule_with_intervals_and_the_cost_of_progress(
    before: int, improvement: float, upper: float, costly: bool, after: PlateauState
) -> None:
    assert after_round(before, improvement, 0.02, 3, upper=upper, costly=costly) == after
