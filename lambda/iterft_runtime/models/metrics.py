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
    judged: bool = False
    """Scored by an evaluator model (an LLM-as-a-judge job), not computed (a programmatic job)."""

    @property
    def metric(self) -> str:
        """The metric's name in the registry, the gate and `iterft history`: a metric whose result
        measures something unwanted (toxicity, harm, refusal) is recorded as its absence, `bedrock_non_*`;
        robustness keeps its name (Bedrock's delta-F1, recorded as 1 - delta)."""
        negated = self.lower_is_better and self.key != "robustness"
        return f"bedrock_non_{self.key}" if negated else f"bedrock_{self.key}"

    def value(self, result: float) -> float:
        """Bedrock's result on the yardstick's higher-is-better scale."""
        return 1.0 - result if self.lower_is_better else result


def _judged(key: str, builtin: str, lower_is_better: bool = False) -> BuiltinMetric:
    return BuiltinMetric(key, builtin, lower_is_better, judged=True)


BUILTIN_METRICS: dict[str, BuiltinMetric] = {
    metric.key: metric
    for metric in (
        BuiltinMetric("accuracy", "Builtin.Accuracy", lower_is_better=False),
        BuiltinMetric("robustness", "Builtin.Robustness", lower_is_better=True),
        BuiltinMetric("toxicity", "Builtin.Toxicity", lower_is_better=True),
        _judged("correctness", "Builtin.Correctness"),
        _judged("completeness", "Builtin.Completeness"),
        _judged("faithfulness", "Builtin.Faithfulness"),
        _judged("helpfulness", "Builtin.Helpfulness"),
        _judged("coherence", "Builtin.Coherence"),
        _judged("relevance", "Builtin.Relevance"),
        _judged("following_instructions", "Builtin.FollowingInstructions"),
        _judged("professional_style_and_tone", "Builtin.ProfessionalStyleAndTone"),
        _judged("harmfulness", "Builtin.Harmfulness", lower_is_better=True),
        _judged("stereotyping", "Builtin.Stereotyping", lower_is_better=True),
        _judged("refusal", "Builtin.Refusal", lower_is_better=True),
    )
}
"""Bedrock's built-in metrics, by config key: the three of a programmatic automated QuestionAndAnswer job
(accuracy, robustness, toxicity), and the eleven an LLM-as-a-judge job scores (botocore's
EvaluationDatasetMetricConfig.metricNames documentation lists both sets; the judge's results are 0..1,
closer to 1 the more the response shows the property, so harm, stereotyping and refusal are recorded as
their absence). logic/managed_evaluation.py runs them."""
MANAGED_METRIC_NAMES = frozenset(metric.metric for metric in BUILTIN_METRICS.values())

CUSTOM_METRIC_PREFIX = "bedrock_custom_"
"""A custom metric of the lineage's judged evaluation job (`managed_job.custom_metrics`) is recorded as
`bedrock_custom_<name>`."""
CUSTOM_METRIC_NAME = r"^[a-z][a-z0-9_]{0,47}$"
"""A custom metric's name in the config: within Bedrock's CustomMetricDefinition.name pattern
(`[0-9a-zA-Z-_.]+`, 1-63 characters), and a plain word in the yardstick's metric names."""
MAX_CUSTOM_METRICS = 10
"""AutomatedEvaluationCustomMetricConfig.customMetrics holds at most 10 (botocore)."""
MAX_CUSTOM_METRIC_INSTRUCTIONS = 5000
"""CustomMetricDefinition.instructions is 1 to 5,000 characters (botocore)."""
MAX_RATING_SCALE = 10
"""A rating scale holds 1 to 10 items (botocore RatingScale); the yardstick needs at least 2 values."""
MAX_RATING_DEFINITION = 100
"""RatingScaleItem.definition is 1 to 100 characters (botocore)."""
PREDICTION_VARIABLE = "{{prediction}}"
"""The input variable a custom metric's instructions put the evaluated response in (with `{{prompt}}`
and `{{ground_truth}}`, the reference response), as Bedrock's custom-metric prompt format names them."""


def custom_metric_name(name: str) -> str:
    """The yardstick's name of the lineage's custom metric `name`."""
    return f"{CUSTOM_METRIC_PREFIX}{name}"
