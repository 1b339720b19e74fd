"""What a finished round publishes to CloudWatch (per lineage): its outcome, training duration and
scores, read from the round's state document. The dashboard in stacks/monitoring.py plots them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iterft_runtime import naming


@dataclass(frozen=True)
class MetricValue:
    name: str
    value: float
    unit: str
    """A CloudWatch unit name: Count, Seconds or None (scores are fractions, 0..1)."""


def round_metric_values(doc: Mapping[str, Any], decision: str) -> list[MetricValue]:
    """One count for the round's decision, then what the round measured (absent steps add nothing)."""
    training = doc.get("training") or {}
    evaluation = doc.get("evaluation") or {}
    decided = doc.get("decision") or {}
    values = [MetricValue(naming.rounds_metric(decision), 1, "Count")]
    for name, value, unit in (
        (naming.METRIC_TRAINING_DURATION, training.get("training_seconds"), "Seconds"),
        (naming.METRIC_CANDIDATE_SCORE, evaluation.get("candidate_score"), "None"),
        (naming.METRIC_CHAMPION_SCORE, evaluation.get("champion_score"), "None"),
        (naming.METRIC_IMPROVEMENT, decided.get("improvement"), "None"),
    ):
        if isinstance(value, int | float) and not isinstance(value, bool):
            values.append(MetricValue(name, float(value), unit))
    return values
