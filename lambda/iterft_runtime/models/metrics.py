"""The metric vocabulary a lineage's config is checked against: the names of every metric a round can
compute. The metrics themselves are logic (logic/scoring.py, logic/judge.py, logic/managed_evaluation.py);
their names live here so that models/ needs nothing from logic/.
"""

from __future__ import annotations

from dataclasses import dataclass

REFERENCE_METRICS = ("exact_match", "rouge_l", "token_f1")
"""The metrics scored against each reference answer (logic/scoring.METRICS computes one per name)."""

JUDGE_METRIC = "judge"
"""A foundation model's 1-5 grade of each answer, normalised to 0..1 (logic/judge.py)."""

DEFAULT_RUBRIC = (
    "Grade how well the answer gives the information of the reference answer.\n"
    "5: it says everything the reference says, correctly.\n"
    "4: it says nearly all of it, with no error that matters.\n"
    "3: it says part of it, or all of it with a notable error.\n"
    "2: it says little of it, or is mostly wrong.\n"
    "1: it says nothing of it, refuses, or contradicts it."
)
"""What each grade means when the lineage's judge names no rubric of its own."""


@dataclass(frozen=True)
class BuiltinMetric:
    """One of Bedrock's built-in metrics, as the lineage's yardstick records it."""

    key: str
    """What the lineage's config lists: `evaluation.managed_job.metrics`."""
    builtin: str
    """What CreateEvaluationJob's metricNames takes."""
    lower_is_better: bool

    @property
    def metric(self) -> str:
        """The metric's name in the registry, the gate and `iterft history`."""
        return f"bedrock_non_{self.key}" if self.key == "toxicity" else f"bedrock_{self.key}"

    def value(self, result: float) -> float:
        """Bedrock's result on the yardstick's higher-is-better scale."""
        return 1.0 - result if self.lower_is_better else result


BUILTIN_METRICS: dict[str, BuiltinMetric] = {
    metric.key: metric
    for metric in (
        BuiltinMetric("accuracy", "Builtin.Accuracy", lower_is_better=False),
        BuiltinMetric("robustness", "Builtin.Robustness", lower_is_better=True),
        BuiltinMetric("toxicity", "Builtin.Toxicity", lower_is_better=True),
    )
}
"""The built-in metrics of an automated QuestionAndAnswer job (logic/managed_evaluation.py), by config key."""
MANAGED_METRIC_NAMES = frozenset(metric.metric for metric in BUILTIN_METRICS.values())
