"""The promotion gate: a candidate replaces the champion only when it is measurably better.

Every rule reads a metric's mean paired difference (candidate minus champion on the same records) and,
when the round has one, its confidence interval (logic/paired.py). The lineage's `gate.decide_on` says
which:

- `lower_bound` (default): the primary metric promotes only when its whole interval lies at or above
  `gate.min_improvement`; an interval wholly under it is a clear rejection; one straddling it is
  *inconclusive*: rejected, with about how many more evaluation records would resolve a difference of
  that size. A guard fails only when its interval lies wholly below minus its tolerance (the fall is
  shown, not just observed), and so does a category under `gate.max_category_drop`.
- `point`: the mean differences alone, as before intervals (the intervals are still recorded and shown).

Each rule is reported with its verdict, the primary first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iterft_runtime.logic.evaluation import pair_records
from iterft_runtime.logic.paired import (
    Interval,
    PairedComparison,
    Power,
    compare,
    records_for,
    round_seed,
    spread,
    yardstick_power,
)
from iterft_runtime.models.lineage import DecideOn, LineageConfig
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
    """Candidate minus champion on the primary metric (the mean paired difference)."""
    deltas: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Per metric both were scored on: `{"delta", "ci_low", "ci_high"}` (bounds None without intervals)."""
    rules: list[dict[str, Any]] = field(default_factory=list)
    """One `{"rule": text, "passed": bool}` per rule, the primary first."""
    inconclusive: bool = False
    """The primary's interval straddles min_improvement (decide_on lower_bound): not shown either way."""
    records_to_resolve: int | None = None
    """For an inconclusive round: about how many more records would resolve a difference of its size."""

    def to_dict(self) -> dict[str, Any]:
        """The Decide state's result (`$.decision`)."""
        return {
            "promote": self.promote,
            "decision": self.decision,
            "reason": self.reason,
            "improvement": self.improvement,
            "deltas": {name: dict(delta) for name, delta in self.deltas.items()},
            "gate": [dict(rule) for rule in self.rules],
            "inconclusive": self.inconclusive,
            "records_to_resolve": self.records_to_resolve,
        }


def decide(
    candidate: Mapping[str, float],
    champion: Mapping[str, float],
    *,
    primary: str,
    min_improvement: float,
    guards: Mapping[str, float] | None = None,
    comparison: PairedComparison | None = None,
    decide_on: DecideOn = DecideOn.POINT,
    max_category_drop: float | None = None,
) -> GateDecision:
    """The gate's verdict on overall scores by metric name measured on the same set version, with the
    round's paired `comparison` (intervals) when there is one; without it only the point rules apply.
    `max_category_drop` needs the comparison's per-category intervals of the primary metric."""
    guards = guards or {}
    missing = sorted({primary, *guards} - (set(candidate) & set(champion)))
    if missing:
        raise ValueError(f"the gate needs both models' scores for: {', '.join(missing)}")
    intervals = comparison.overall if comparison is not None else {}
    if comparison is not None and primary not in intervals:
        raise ValueError(f"the paired comparison has no interval for the primary metric {primary}")
    use_bounds = decide_on is DecideOn.LOWER_BOUND and comparison is not None
    names = sorted(set(candidate) & set(champion))
    deltas = {name: _delta(intervals.get(name), candidate[name] - champion[name]) for name in names}
    improvement = float(deltas[primary]["delta"] or 0.0)
    primary_interval = intervals.get(primary)

    verdict = _primary_verdict(improvement, primary_interval, min_improvement, use_bounds)
    rules = [{"rule": _primary_rule(primary, improvement, primary_interval, min_improvement, use_bounds),
              "passed": verdict.passed}]  # fmt: skip
    reasons = [
        f"{primary}: candidate {candidate[primary]:.4f} vs champion {champion[primary]:.4f}: improvement "
        f"{improvement:+.4f}{_ci_text(primary_interval, comparison)} {verdict.text(min_improvement)}"
    ]
    records_to_resolve = None
    if verdict.inconclusive and comparison is not None and primary_interval is not None:
        records_to_resolve = _more_records(comparison, primary, improvement, min_improvement)
        reasons[0] += "; " + _resolve_text(records_to_resolve, improvement, min_improvement, comparison)
    broken = []
    for name, tolerance in sorted(guards.items()):
        interval = intervals.get(name)
        value = float(deltas[name]["delta"] or 0.0)
        fell = _shown_below(value, interval, -tolerance, use_bounds)
        rules.append(
            {"rule": _guard_rule(f"guard {name}", value, interval, tolerance, use_bounds), "passed": not fell}
        )
        if fell:
            broken.append(f"guard {name} fell {-value:.4f}{_ci_text(interval, comparison)}, "
                          f"{_beyond(use_bounds)} its tolerance {tolerance:.4f}")  # fmt: skip
    if max_category_drop is not None:
        if comparison is None:
            raise ValueError("gate.max_category_drop needs the round's per-record paired scores")
        rules_, broken_ = _category_rules(primary, comparison, max_category_drop, use_bounds)
        rules += rules_
        broken += broken_
    if broken:
        reasons += broken
    elif len(rules) > 1 and verdict.passed:
        reasons.append("every guard held")
    promote = verdict.passed and not broken
    decision = Decision.PROMOTED if promote else Decision.REJECTED
    return GateDecision(
        promote=promote,
        decision=decision.value,
        reason="; ".join(reasons),
        improvement=improvement,
        deltas=deltas,
        rules=rules,
        inconclusive=verdict.inconclusive,
        records_to_resolve=records_to_resolve,
    )


MAX_LISTED_CATEGORIES = 10
"""The most fallen categories the gate lists one by one (a state is at most 256 KiB, whatever the set)."""


def _category_rules(
    primary: str, comparison: PairedComparison, tolerance: float, bounds: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """One rule over every category, then one per category that fell past the tolerance (the first
    MAX_LISTED_CATEGORIES, worst first); the reasons naming them."""
    fallen = sorted(
        (
            (category, interval)
            for category, interval in comparison.by_category.items()
            if _shown_below(interval.delta, interval, -tolerance, bounds)
        ),
        key=lambda item: (item[1].delta, item[0]),
    )
    what = "upper bound" if bounds else "delta"
    counted = f"categories of {primary} ({len(comparison.by_category)})"
    rules: list[dict[str, Any]] = [
        {"rule": f"{counted}: each {what} >= {-tolerance:+.4f}", "passed": not fallen}
    ]
    reasons = []
    for category, interval in fallen[:MAX_LISTED_CATEGORIES]:
        label = f"category {category!r} {primary}"
        rules.append(
            {"rule": _guard_rule(label, interval.delta, interval, tolerance, bounds), "passed": False}
        )
        reasons.append(
            f"category {category!r} fell {-interval.delta:.4f} on {primary}{_ci_text(interval, comparison)}, "
            f"{_beyond(bounds)} gate.max_category_drop {tolerance:.4f}"
        )
    if len(fallen) > MAX_LISTED_CATEGORIES:
        reasons.append(f"and {len(fallen) - MAX_LISTED_CATEGORIES} more categories fell as far")
    return rules, reasons


@dataclass(frozen=True)
class RoundGate:
    """A round's verdict with the uncertainty behind it."""

    decision: GateDecision
    comparison: PairedComparison
    power: Power


def gate_round(
    lineage: LineageConfig,
    iteration: int,
    candidate: Mapping[str, float],
    champion: Mapping[str, float],
    candidate_records: Mapping[str, Any],
    champion_records: Mapping[str, Any],
) -> RoundGate:
    """Decide a round from both models' overall scores and their record-scores documents
    (logic/evaluation.record_scores_document) on the same set version: the paired intervals (seeded by the
    round), the yardstick's power from the two models' per-record spread of the primary metric, and the
    gate's verdict under the lineage's policy."""
    gate, primary = lineage.gate, lineage.evaluation.metric
    paired = pair_records(candidate_records, champion_records)
    comparison = compare(
        paired.candidate,
        paired.champion,
        paired.categories,
        confidence=gate.confidence,
        seed=round_seed(lineage.name, iteration, str(candidate_records["eval_set_version"])),
        category_metric=primary if gate.max_category_drop is not None else None,
    )
    power = yardstick_power(
        comparison.records,
        gate.min_improvement,
        gate.confidence,
        spreads=(spread(paired.candidate[primary]), spread(paired.champion[primary])),
    )
    decision = decide(
        candidate,
        champion,
        primary=primary,
        min_improvement=gate.min_improvement,
        guards=lineage.evaluation.guards,
        comparison=comparison,
        decide_on=gate.decide_on,
        max_category_drop=gate.max_category_drop,
    )
    return RoundGate(decision=decision, comparison=comparison, power=power)


@dataclass(frozen=True)
class _Verdict:
    passed: bool
    inconclusive: bool
    bounded: bool

    def text(self, minimum: float) -> str:
        if self.inconclusive:
            return f"is inconclusive: its interval straddles the required {minimum:.4f}"
        if self.bounded:
            return f"{'is shown to meet' if self.passed else 'is shown below'} the required {minimum:.4f}"
        return f"{'meets' if self.passed else 'is below'} the required {minimum:.4f}"


def _primary_verdict(improvement: float, interval: Interval | None, minimum: float, bounds: bool) -> _Verdict:
    if not bounds or interval is None:
        return _Verdict(improvement >= minimum - EPSILON, inconclusive=False, bounded=False)
    if interval.low >= minimum - EPSILON:
        return _Verdict(True, inconclusive=False, bounded=True)
    if interval.high < minimum - EPSILON:
        return _Verdict(False, inconclusive=False, bounded=True)
    return _Verdict(False, inconclusive=True, bounded=True)


def _shown_below(value: float, interval: Interval | None, floor: float, bounds: bool) -> bool:
    """Under lower_bound the whole interval must lie below `floor`; under point, the mean."""
    if bounds and interval is not None:
        return interval.high < floor - EPSILON
    return value < floor - EPSILON


def _delta(interval: Interval | None, point: float) -> dict[str, float | None]:
    if interval is None:
        return {"delta": point, "ci_low": None, "ci_high": None}
    return interval.to_dict()  # type: ignore[return-value]  # dict[str, float] is a dict[str, float | None]


def _ci_text(interval: Interval | None, comparison: PairedComparison | None) -> str:
    if interval is None or comparison is None:
        return ""
    return f" ({comparison.confidence:.0%} CI {interval.low:+.4f} to {interval.high:+.4f})"


def _bounds_text(interval: Interval | None) -> str:
    return f" [{interval.low:+.4f}, {interval.high:+.4f}]" if interval is not None else ""


def _primary_rule(name: str, value: float, interval: Interval | None, minimum: float, bounds: bool) -> str:
    what = "lower bound" if bounds and interval is not None else "delta"
    return f"primary {name} {value:+.4f}{_bounds_text(interval)}: {what} >= {minimum:.4f}"


def _guard_rule(label: str, value: float, interval: Interval | None, tolerance: float, bounds: bool) -> str:
    what = "upper bound" if bounds and interval is not None else "delta"
    return f"{label} {value:+.4f}{_bounds_text(interval)}: {what} >= {-tolerance:+.4f}"


def _beyond(bounds: bool) -> str:
    return "its whole interval beyond" if bounds else "more than"


def _more_records(
    comparison: PairedComparison, primary: str, improvement: float, minimum: float
) -> int | None:
    """About how many more records an interval would need to stop straddling `minimum` at a difference of
    this size and spread (None: a difference of exactly the threshold is never resolved)."""
    needed = records_for(
        comparison.difference_spread[primary], abs(improvement - minimum), comparison.confidence
    )
    return None if needed is None else max(1, needed - comparison.records)


def _resolve_text(more: int | None, improvement: float, minimum: float, comparison: PairedComparison) -> str:
    if more is None:
        return f"a difference of exactly the required {minimum:.4f} cannot be resolved by more records"
    return (
        f"about {more:,} more evaluation records (beyond the set's {comparison.records:,}) would resolve a "
        f"difference of {improvement:+.4f} against {minimum:.4f}"
    )
