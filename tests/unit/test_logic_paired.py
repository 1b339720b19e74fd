"""Paired uncertainty: the bootstrap's intervals against cases worked out by hand, its properties, and the
yardstick's power."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iterft_runtime.logic.paired import (
    Interval,
    compare,
    half_width,
    power_warning,
    quantile,
    records_for,
    round_seed,
    yardstick_power,
    z_value,
)

SEED = 20261204


def primary_interval(candidate: list[float], champion: list[float], confidence: float = 0.95) -> Interval:
    result = compare(
        {"m": candidate}, {"m": champion}, [None] * len(candidate), confidence=confidence, seed=SEED
    )
    return result.overall["m"]


def test_quantile_interpolates_between_order_statistics() -> None:
    assert quantile([0.0, 1.0, 2.0, 3.0], 0.5) == 1.5
    assert quantile([0.0, 1.0, 2.0, 3.0], 0.0) == 0.0 and quantile([0.0, 1.0, 2.0, 3.0], 1.0) == 3.0
    assert quantile([0.0, 10.0], 0.25) == 2.5
    assert quantile([7.0], 0.9) == 7.0


def test_equal_differences_give_an_interval_of_no_width() -> None:
    assert primary_interval([0.9, 0.5, 0.7], [0.8, 0.4, 0.6]) == Interval(0.1, 0.1, 0.1)
    assert primary_interval([0.3, 0.3], [0.3, 0.3]) == Interval(0.0, 0.0, 0.0)


def test_two_records_one_better_spans_everything_a_resample_can_give() -> None:
    # Differences (0, 1): a resample's mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4, so about 500
    # of 2,000 resamples sit at each end, far more than the 50 each 2.5% tail takes.
    assert primary_interval([1.0, 0.0], [0.0, 0.0]) == Interval(0.5, 0.0, 1.0)


def test_four_records_one_better_at_80_percent() -> None:
    # Differences (1, 0, 0, 0): a resample's mean is k/4 with k ~ Binomial(4, 1/4): P(k = 0) = 0.316,
    # P(k <= 1) = 0.738, P(k <= 2) = 0.949. The 10% quantile is 0; the 90% quantile is 2/4.
    assert primary_interval([1.0, 0.0, 0.0, 0.0], [0.0] * 4, confidence=0.8) == Interval(0.25, 0.0, 0.5)
    # At 95%: the 97.5% quantile lies past P(k <= 2), at 3/4.
    assert primary_interval([1.0, 0.0, 0.0, 0.0], [0.0] * 4) == Interval(0.25, 0.0, 0.75)


def test_pairs_move_together_so_a_shared_record_effect_cancels() -> None:
    """Scores that vary widely across records but by a constant between the models: the paired interval is
    narrow however wide the scores spread (an unpaired comparison could not tell them apart)."""
    champion = [0.0, 1.0, 0.2, 0.9, 0.5, 0.1, 0.8, 0.3]
    candidate = [value + 0.05 if value < 0.95 else value for value in champion]
    interval = primary_interval(candidate, champion)
    assert 0.0 < interval.low <= interval.delta <= interval.high <= 0.05


def test_a_rounds_intervals_are_reproducible_and_its_seed_its_own() -> None:
    champion = [0.1 * (i % 10) for i in range(60)]
    candidate = [min(1.0, value + (0.2 if i % 3 == 0 else -0.05)) for i, value in enumerate(champion)]

    def run(seed: int) -> Interval:
        result = compare({"m": candidate}, {"m": champion}, [None] * 60, confidence=0.95, seed=seed)
        return result.overall["m"]

    assert run(SEED) == run(SEED)
    assert round_seed("bot", 3, "abc") == round_seed("bot", 3, "abc")
    assert len({round_seed("bot", 3, "abc"), round_seed("bot", 4, "abc"), round_seed("bot", 3, "abd")}) == 3
    assert run(round_seed("bot", 3, "abc")) != run(round_seed("bot", 4, "abc"))


def test_a_large_sets_interval_is_close_to_the_normal_approximation() -> None:
    """Differences alternating 0.3 and -0.1 (mean 0.1, sd about 0.2) over 400 records."""
    differences = [0.3 if i % 2 else -0.1 for i in range(400)]
    champion = [0.5] * 400
    candidate = [0.5 + d for d in differences]
    result = compare({"m": candidate}, {"m": champion}, [None] * 400, confidence=0.95, seed=SEED)
    interval, sd = result.overall["m"], result.difference_spread["m"]
    assert sd == pytest.approx(0.2, abs=0.001)
    reach = half_width(sd, 400, 0.95)  # 1.96 x 0.2 / 20 = 0.0196
    assert interval.delta == pytest.approx(0.1)
    assert interval.high - interval.delta == pytest.approx(reach, rel=0.15)
    assert interval.delta - interval.low == pytest.approx(reach, rel=0.15)


def test_categories_are_resampled_within_themselves() -> None:
    """A category where the candidate is better on every record has an interval of no width, whatever the
    other records do; the overall interval comes from the same resamples."""
    categories = ["billing"] * 5 + ["account"] * 5 + [None] * 2
    champion = [0.5] * 12
    candidate = [0.6] * 5 + [1.0, 0.0, 1.0, 0.0, 0.5] + [0.5, 0.5]
    result = compare(
        {"m": candidate}, {"m": champion}, categories, confidence=0.95, seed=SEED, category_metric="m"
    )
    assert set(result.by_category) == {"account", "billing"}
    assert result.by_category["billing"] == Interval(0.1, 0.1, 0.1)
    account = result.by_category["account"]
    assert account.delta == 0.0 and account.low < 0 < account.high
    assert result.overall["m"].delta == pytest.approx(0.5 / 12, abs=1e-6)


def test_every_metric_both_models_have_gets_an_interval_and_unpaired_scores_are_refused() -> None:
    result = compare(
        {"a": [1.0, 0.0], "b": [0.5, 0.5], "only_candidate": [1.0, 1.0]},
        {"a": [0.0, 0.0], "b": [0.5, 0.5]},
        [None, None],
        confidence=0.95,
        seed=SEED,
    )
    assert set(result.overall) == {"a", "b"} and result.records == 2
    with pytest.raises(ValueError, match="not paired"):
        compare({"a": [1.0]}, {"a": [1.0, 0.0]}, [None, None], confidence=0.95, seed=SEED)
    with pytest.raises(ValueError, match="confidence"):
        compare({"a": [1.0]}, {"a": [1.0]}, [None], confidence=1.0, seed=SEED)


scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(champion=st.lists(scores, min_size=1, max_size=60), seed=st.integers(min_value=0, max_value=2**63))
def test_a_candidate_identical_to_the_champion_has_an_interval_containing_zero(
    champion: list[float], seed: int
) -> None:
    records = [None] * len(champion)
    result = compare({"m": list(champion)}, {"m": champion}, records, confidence=0.95, seed=seed)
    assert result.overall["m"].contains(0.0)


@settings(max_examples=40, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=0.9), st.floats(min_value=0.001, max_value=0.1)),
        min_size=1,
        max_size=60,
    ),
    categories=st.lists(st.sampled_from(["a", "b", None]), min_size=60, max_size=60),
    seed=st.integers(min_value=0, max_value=2**63),
)
def test_a_candidate_better_on_every_record_has_an_interval_excluding_zero(
    pairs: list[tuple[float, float]], categories: list[str | None], seed: int
) -> None:
    champion = [score for score, _ in pairs]
    candidate = [score + gain for score, gain in pairs]
    result = compare(
        {"m": candidate},
        {"m": champion},
        categories[: len(pairs)],
        confidence=0.95,
        seed=seed,
        category_metric="m",
    )
    assert not result.overall["m"].contains(0.0) and result.overall["m"].low > 0
    assert all(interval.low > 0 for interval in result.by_category.values())


def test_z_values() -> None:
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_value(0.8) == pytest.approx(1.281552, abs=1e-6)


def test_power_of_the_demos_yardstick_at_the_widest_spread() -> None:
    """22 records, nothing known of the scores: sd of a difference sqrt(0.5^2 + 0.5^2) = 0.7071; the
    smallest detectable improvement 1.96 x 0.7071 / sqrt(22) = 0.2955; min_improvement 0.02 needs
    (1.96 x 0.7071 / 0.02)^2 = 4801.8, so 4,802 records."""
    power = yardstick_power(22, 0.02, 0.95)
    assert power.spread == pytest.approx(math.sqrt(0.5), abs=1e-6)
    assert power.detectable == pytest.approx(0.29548, abs=1e-5)
    assert power.records_needed == 4802 and power.too_small and power.assumed == "widest"
    assert yardstick_power(4802, 0.02, 0.95).too_small is False
    assert yardstick_power(4801, 0.02, 0.95).too_small is True
    warning = power_warning(power)
    assert warning is not None and "22 records" in warning and "0.2955" in warning
    assert "4,802 records" in warning


def test_power_from_the_rounds_score_spreads() -> None:
    """Spreads 0.3 and 0.4: a difference's sd 0.5; 100 records detect 1.96 x 0.5 / 10 = 0.098."""
    power = yardstick_power(100, 0.1, 0.95, spreads=(0.3, 0.4))
    assert power.spread == pytest.approx(0.5)
    assert power.detectable == pytest.approx(0.097998, abs=1e-6)
    assert not power.too_small and power_warning(power) is None
    assert power.records_needed == 97  # (0.979982 / 0.1)^2 = 96.04
    assert yardstick_power(100, 0.0, 0.95).records_needed is None  # nothing resolves a zero
    assert "no number of records" in (power_warning(yardstick_power(100, 0.0, 0.95)) or "")


def test_records_for_an_interval_reach() -> None:
    assert records_for(0.2, 0.03, 0.95) == 171  # (1.96 x 0.2 / 0.03)^2 = 170.7
    assert records_for(0.2, 0.0, 0.95) is None
    assert records_for(0.0, 0.03, 0.95) == 2  # no spread: the smallest set that has one
