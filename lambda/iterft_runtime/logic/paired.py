"""Paired uncertainty: how sure a round can be that the candidate beats the champion (plain logic).

Candidate and champion are scored on the same records of the same set version, so every metric gives
one paired difference per record (candidate minus champion). The round's delta is their mean; its
confidence interval comes from a paired bootstrap over records: RESAMPLES times, draw the records
again with replacement, each draw keeping both models' scores of a record together, and take the
percentiles of the resampled means (confidence c: the (1-c)/2 and (1+c)/2 quantiles).

- The whole set is resampled as it is, categories and all: the set stands for the questions the
  lineage will be asked, so how its categories happen to divide the records is part of the noise (a
  bootstrap stratified by category would call a gain exact whenever each category either all improved
  or all stayed, which a 22-record set often shows). A category's own interval (for
  `gate.max_category_drop`) comes from resampling that category's records alone.
- The resampler is `random.Random(seed)` with the seed derived from the lineage, the iteration and
  the set version (`round_seed`): a round's numbers are reproducible, and every metric of a round is
  resampled with the same draws.
- Pure Python (the Lambda layer ships no numpy): one resample's draws are reused by every metric;
  benchmarks/ measures the cost (about a second for 2,000 records and six metrics).

The yardstick's power: with z the two-sided normal quantile of the confidence, an interval's
half-width is about z x sd / sqrt(n) for a paired difference of spread sd over n records. The
smallest improvement a set can tell from zero (`detectable_improvement`) takes sd from the two models'
per-record spreads as if their scores were independent, sqrt(s_candidate^2 + s_champion^2): what a
team can plan with before knowing how alike the models' answers are (at synth, with no scores, the
widest spread a 0..1 score can have, 0.5 each). Pairing narrows the real interval when the two models
answer alike, so this is the cautious figure.
"""

from __future__ import annotations

import hashlib
import math
import operator
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RESAMPLES = 2000
"""Bootstrap resamples per round: percentiles at 95% then rest on 50 resamples in each tail."""
WIDEST_SPREAD = 0.5
"""The largest standard deviation a score in [0, 1] can have (half the records 0, half 1)."""
DIGITS = 6
"""Deltas and bounds are kept to a millionth: far finer than any set resolves, and free of float noise."""


@dataclass(frozen=True)
class Interval:
    """The mean paired difference (candidate minus champion) and its confidence interval."""

    delta: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        """A history delta: `{"delta", "ci_low", "ci_high"}`."""
        return {"delta": self.delta, "ci_low": self.low, "ci_high": self.high}

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class PairedComparison:
    """Every metric's interval over the whole set, and the per-category intervals of one metric."""

    overall: dict[str, Interval]
    by_category: dict[str, Interval]
    """Per category (records without one left out), of `category_metric`."""
    records: int
    confidence: float
    seed: int
    difference_spread: dict[str, float]
    """Per metric, the standard deviation of the paired differences (sample, n - 1)."""
    resamples: int = RESAMPLES


def round_seed(lineage: str, iteration: int, eval_set_version: str) -> int:
    """The bootstrap's seed for one round: the same round gives the same intervals, every time."""
    digest = hashlib.sha256(f"{lineage}/{iteration}/{eval_set_version}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, linearly interpolated between order statistics (numpy's default:
    position q x (n - 1))."""
    if not ordered:
        raise ValueError("no values")
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    fraction = position - below
    return ordered[below] + (ordered[above] - ordered[below]) * fraction


def compare(
    candidate: Mapping[str, Sequence[float]],
    champion: Mapping[str, Sequence[float]],
    categories: Sequence[str | None],
    *,
    confidence: float,
    seed: int,
    category_metric: str | None = None,
    resamples: int = RESAMPLES,
) -> PairedComparison:
    """Paired intervals of every metric both models were scored on (per record, in the same order), and
    per category of `category_metric` when given. Raises ValueError when the records do not pair up."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} is not between 0 and 1")
    names = sorted(set(candidate) & set(champion))
    records = len(categories)
    if records == 0:
        raise ValueError("no records to compare")
    differences: dict[str, list[float]] = {}
    for name in names:
        if len(candidate[name]) != records or len(champion[name]) != records:
            raise ValueError(
                f"{name}: {len(candidate[name])} candidate and {len(champion[name])} champion scores "
                f"for {records} records: not paired"
            )
        differences[name] = [
            float(a) - float(b) for a, b in zip(candidate[name], champion[name], strict=True)
        ]
    if category_metric is not None and category_metric not in differences:
        raise ValueError(f"{category_metric}: not scored for both models")

    rng = random.Random(seed)
    everything = list(range(records))
    overall_means: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(resamples):
        pick = _picker(rng.choices(everything, k=records))
        for name in names:
            overall_means[name].append(sum(pick(differences[name])) / records)
    groups: dict[str, list[int]] = {}
    for index, category in enumerate(categories):
        if category is not None:
            groups.setdefault(category, []).append(index)
    tracked = differences[category_metric] if category_metric is not None else []
    category_means: dict[str, list[float]] = {}
    for category, indices in groups.items() if category_metric is not None else ():
        means = category_means.setdefault(category, [])
        for _ in range(resamples):
            means.append(math.fsum(_picker(rng.choices(indices, k=len(indices)))(tracked)) / len(indices))

    def interval(observed: Sequence[float], means: list[float]) -> Interval:
        means.sort()
        tail = (1 - confidence) / 2
        return Interval(
            delta=_rounded(math.fsum(observed) / len(observed)),
            low=_rounded(quantile(means, tail)),
            high=_rounded(quantile(means, 1 - tail)),
        )

    by_category = {}
    if category_metric is not None:
        for category, indices in groups.items():
            by_category[category] = interval([tracked[i] for i in indices], category_means[category])
    return PairedComparison(
        overall={name: interval(differences[name], overall_means[name]) for name in names},
        by_category=dict(sorted(by_category.items())),
        records=records,
        confidence=confidence,
        seed=seed,
        difference_spread={name: spread(values, sample=True) for name, values in differences.items()},
        resamples=resamples,
    )


def _picker(indices: Sequence[int]) -> Callable[[Sequence[float]], Sequence[float]]:
    """A function taking the values at `indices` (with repeats) of a list, as a tuple: one C call a metric,
    what keeps a pure-Python bootstrap cheap."""
    if len(indices) == 1:
        only = indices[0]
        return lambda values: (values[only],)
    getter = operator.itemgetter(*indices)
    return lambda values: getter(values)


def spread(values: Sequence[float], *, sample: bool = False) -> float:
    """The standard deviation of `values` (the sample's, n - 1, when `sample`); 0 for fewer than two."""
    if len(values) < 2:
        return 0.0
    return statistics.stdev(values) if sample else statistics.pstdev(values)


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile: 1.96 at 0.95."""
    return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)


def half_width(difference_spread: float, records: int, confidence: float) -> float:
    """About how far an interval reaches either side of a mean paired difference of this spread."""
    return z_value(confidence) * difference_spread / math.sqrt(records)


def records_for(difference_spread: float, reach: float, confidence: float) -> int | None:
    """The records an interval needs to reach no further than `reach` either side of its mean (at least 2);
    None when `reach` is 0 (no number of records makes an interval that narrow)."""
    if reach <= 0:
        return None
    return max(2, math.ceil((z_value(confidence) * difference_spread / reach) ** 2))


def independent_spread(candidate_spread: float, champion_spread: float) -> float:
    """The spread of a difference of two independent scores with these spreads."""
    return math.hypot(candidate_spread, champion_spread)


@dataclass(frozen=True)
class Power:
    """What a yardstick of `records` records can tell apart at `confidence`, against `min_improvement`."""

    records: int
    confidence: float
    spread: float
    """The spread of a paired difference assumed (`independent_spread`)."""
    detectable: float
    """The smallest mean improvement whose interval would exclude zero."""
    min_improvement: float
    records_needed: int | None
    """The records that would make `detectable` no larger than min_improvement (None: min_improvement 0)."""
    assumed: str
    """Where the spread came from: `scores` (the round's), `widest` (none known: 0.5 each)."""

    @property
    def too_small(self) -> bool:
        """The set cannot tell min_improvement from zero."""
        return self.detectable > self.min_improvement + 1e-12

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Power | None:
        """A recorded power (`to_dict`) back, or None when the document is not one."""
        try:
            return cls(
                records=int(document["records"]),
                confidence=float(document["confidence"]),
                spread=float(document["spread"]),
                detectable=float(document["detectable_improvement"]),
                min_improvement=float(document["min_improvement"]),
                records_needed=None
                if document.get("records_needed") is None
                else int(document["records_needed"]),
                assumed=str(document["assumed"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "confidence": self.confidence,
            "spread": self.spread,
            "detectable_improvement": self.detectable,
            "min_improvement": self.min_improvement,
            "records_needed": self.records_needed,
            "too_small": self.too_small,
            "assumed": self.assumed,
        }


SCORES = "scores"
WIDEST = "widest"


def yardstick_power(
    records: int,
    min_improvement: float,
    confidence: float,
    spreads: tuple[float, float] | None = None,
) -> Power:
    """The power of a set of `records` records: from the two models' per-record score spreads
    (candidate, champion) when known, else the widest a 0..1 score can have."""
    if records < 1:
        raise ValueError("a yardstick needs at least one record")
    difference = (
        independent_spread(*spreads)
        if spreads is not None
        else independent_spread(WIDEST_SPREAD, WIDEST_SPREAD)
    )
    return Power(
        records=records,
        confidence=confidence,
        spread=_rounded(difference),
        detectable=_rounded(half_width(difference, records, confidence)),
        min_improvement=min_improvement,
        records_needed=records_for(difference, min_improvement, confidence),
        assumed=SCORES if spreads is not None else WIDEST,
    )


def power_warning(power: Power) -> str | None:
    """What doctor, the notification and the report say of an underpowered yardstick; None otherwise."""
    if not power.too_small:
        return None
    basis = (
        "the two models' score spread"
        if power.assumed == SCORES
        else f"the widest spread a 0..1 score can have ({WIDEST_SPREAD})"
    )
    needed = (
        f"about {power.records_needed:,} records would be needed"
        if power.records_needed is not None
        else "no number of records can show a min_improvement of 0"
    )
    return (
        f"the evaluation set's {power.records:,} records can detect an improvement of about "
        f"{power.detectable:.4f} at {power.confidence:.0%} confidence (from {basis}), more than "
        f"gate.min_improvement {power.min_improvement:g}: {needed}"
    )


def _rounded(value: float) -> float:
    return round(value, DIGITS) + 0.0
