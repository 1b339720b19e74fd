"""A lineage's configuration: validated once at synth, carried into every round as JSON."""

from __future__ import annotations

import hashlib
import math
import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iterft_runtime.models import capabilities
from iterft_runtime.models.capabilities import EVALUABLE_MODEL_ID, ModelCapabilities, UnknownModelError
from iterft_runtime.models.families import (
    ModelFamily,
    check_hyperparameters,
    family_for_model,
    family_named,
    invocable_foundation_model_id,
    is_custom_model_arn,
)
from iterft_runtime.models.leakage import LeakageConfig
from iterft_runtime.models.metrics import (
    BUILTIN_METRICS,
    CUSTOM_METRIC_NAME,
    CUSTOM_METRIC_PREFIX,
    DEFAULT_RUBRIC,
    JUDGE_METRIC,
    MANAGED_METRIC_NAMES,
    MAX_CUSTOM_METRIC_INSTRUCTIONS,
    MAX_CUSTOM_METRICS,
    MAX_RATING_DEFINITION,
    MAX_RATING_SCALE,
    PREDICTION_VARIABLE,
    REFERENCE_METRICS,
    custom_metric_name,
)
from iterft_runtime.models.strategy import StrategyConfig
from iterft_runtime.models.traffic import TrafficConfig

LINEAGE_NAME_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"


class ServingMode(StrEnum):
    PROVISIONED = "provisioned"
    """Provisioned throughput: model units billed by the hour, for steady traffic."""
    ON_DEMAND = "on_demand"
    """A custom model deployment billed per call, for variable or experimental traffic."""
    NONE = "none"
    """Registry only: the champion is recorded and kept, nothing serves it."""


class Commitment(StrEnum):
    """A provisioned throughput's commitment term (Bedrock's `commitmentDuration`; none: hourly)."""

    NONE = "none"
    ONE_MONTH = "one_month"
    SIX_MONTHS = "six_months"

    @property
    def api_value(self) -> str | None:
        """What CreateProvisionedModelThroughput takes: omitted for no commitment."""
        return {Commitment.ONE_MONTH: "OneMonth", Commitment.SIX_MONTHS: "SixMonths"}.get(self)


class DecideOn(StrEnum):
    """What of a metric's paired difference the gate reads (logic/gate.py)."""

    POINT = "point"
    """The mean difference alone."""
    LOWER_BOUND = "lower_bound"
    """Its confidence interval: the primary promotes only when the whole interval clears min_improvement;
    a guard (or a category) fails only when its whole interval lies below minus its tolerance."""


class GatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_improvement: Annotated[float, Field(ge=0, le=1)] = 0.01
    """The candidate's primary score must exceed the champion's by at least this (absolute, 0..1)."""
    decide_on: DecideOn = DecideOn.LOWER_BOUND
    """Whether the gate reads the mean paired difference (`point`) or its interval (`lower_bound`)."""
    confidence: Annotated[float, Field(ge=0.5, le=0.999)] = 0.95
    """The confidence of every interval the lineage's rounds compute (paired bootstrap over records), and
    of the yardstick's power."""
    max_category_drop: Annotated[float, Field(ge=0, le=1)] | None = None
    """Optional: a candidate whose primary metric falls in any category of the evaluation set by more than
    this (per decide_on: its mean, or its whole interval) is rejected, the category named."""
    max_cost_per_point_usd: Annotated[float, Field(gt=0)] | None = None
    """Optional: a round whose estimated cost per point (0.01) of primary improvement is higher counts as
    marginal for the plateau rule (needs the lineage's cost prices to have dollars to compare)."""
    plateau_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    """A decided round whose primary change is shown small (its interval's upper bound under this) is
    marginal (default: min_improvement)."""
    plateau_rounds: Annotated[int, Field(ge=1, le=100)] = 3
    """K: this many marginal rounds in a row mark the lineage converged."""
    pause_when_converged: bool = True
    """While converged, uploads are recorded and queued but start no round until `iterft resume`."""

    @property
    def plateau_limit(self) -> float:
        """The plateau threshold in force: the configured one, else min_improvement."""
        return self.min_improvement if self.plateau_threshold is None else self.plateau_threshold


class ApprovalPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    required: bool = False
    """After a passing gate, wait for `iterft approve` / `iterft reject` before promoting."""
    timeout_hours: Annotated[float, Field(gt=0, le=24 * 365)] = 72
    """No answer within this counts as a rejection (the evaluation deployment is discarded)."""

    @property
    def timeout_seconds(self) -> int:
        """What the wait state's TimeoutSecondsPath needs: whole seconds, at least 1."""
        return max(1, math.ceil(self.timeout_hours * 3600))


class ServingConfig(BaseModel):
    """How the champion serves. Evaluation capacity is separate: always the cheapest the model allows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: ServingMode = ServingMode.ON_DEMAND
    model_units: Annotated[int, Field(ge=1, le=100)] | None = None
    """Provisioned mode only (default 1): the serving provisioned throughput's model units."""
    commitment: Commitment | None = None
    """Provisioned mode only (default none): one_month and six_months cannot be deleted before the
    term ends, so the pipeline never buys a commitment for evaluation, only for serving."""

    @model_validator(mode="after")
    def _provisioned_settings_only_when_provisioned(self) -> ServingConfig:
        if self.mode is not ServingMode.PROVISIONED:
            for name in ("model_units", "commitment"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: only for mode provisioned (this lineage serves {self.mode})")
        return self

    @property
    def provisioned_model_units(self) -> int:
        return self.model_units or 1

    @property
    def provisioned_commitment(self) -> Commitment:
        return self.commitment or Commitment.NONE


class ModelRetention(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_models: Annotated[int, Field(ge=1, le=1000)] = 3
    """After each round, promoted models beyond the newest `keep_models` promoted ones are deleted (a
    custom model is billed for storage every month), except the champion and the model that serves:
    the ones kept are what `iterft rollback` can go back to."""
    keep_rejected_days: Annotated[int, Field(ge=0, le=90)] = 0
    """A rejected or failed round's candidate (never servable) is deleted when its round ends (0), or
    by the first round to end at least this many days later (kept meanwhile for inspection)."""


FOUNDATION_MODEL_ID = r"^[a-z0-9-]+\.[A-Za-z0-9_-]+(:\d+)?$"
"""An on-demand foundation model id (`provider.model-version:n`), as its IAM ARN names it; not an
inference profile id (`us.amazon.nova-pro-v1:0`), whose ARN and region fan-out IAM would also need."""


class JudgeConfig(BaseModel):
    """A foundation model that grades every answer against its reference with a rubric (metric `judge`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Annotated[str, Field(pattern=FOUNDATION_MODEL_ID)]
    """Called through Converse; the scoring function may invoke this model and no other foundation model."""
    rubric: Annotated[str, Field(min_length=1, max_length=4000)] | None = None
    """What each grade from 1 to 5 means (default: models/metrics.DEFAULT_RUBRIC)."""
    max_tokens: Annotated[int, Field(ge=1, le=1024)] = 64
    """maxTokens of each judge call: the reply is one `Grade: N` line."""

    def identity(self) -> str:
        """The judge as a yardstick: its model and rubric. Grades from another judge are not comparable."""
        rubric = hashlib.sha256((self.rubric or DEFAULT_RUBRIC).encode()).hexdigest()[:12]
        return f"{self.model}#rubric-{rubric}"


class RatingLevel(BaseModel):
    """One level of a custom metric's rating scale (Bedrock's RatingScaleItem with a `floatValue`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    definition: Annotated[str, Field(min_length=1, max_length=MAX_RATING_DEFINITION)]
    value: float


class CustomMetricConfig(BaseModel):
    """A metric the lineage defines for Bedrock's evaluator model (CustomMetricDefinition): its name,
    the instructions the evaluator reads (with the response as `{{prediction}}`, and `{{prompt}}`,
    `{{ground_truth}}` as it needs), and a numeric rating scale, higher values better. Recorded as
    `bedrock_custom_<name>`, each rating normalised to 0..1 over the scale's lowest and highest value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=CUSTOM_METRIC_NAME)]
    instructions: Annotated[str, Field(min_length=1, max_length=MAX_CUSTOM_METRIC_INSTRUCTIONS)]
    rating_scale: Annotated[list[RatingLevel], Field(min_length=2, max_length=MAX_RATING_SCALE)]

    @field_validator("instructions")
    @classmethod
    def _reads_the_response(cls, value: str) -> str:
        if PREDICTION_VARIABLE not in value:
            raise ValueError(
                f"the instructions never show the evaluator the response: put {PREDICTION_VARIABLE} in them"
            )
        return value

    @field_validator("rating_scale")
    @classmethod
    def _distinct_values(cls, value: list[RatingLevel]) -> list[RatingLevel]:
        if len({level.value for level in value}) != len(value):
            raise ValueError("each rating value once")
        return value

    @property
    def metric(self) -> str:
        return custom_metric_name(self.name)

    def identity(self, evaluator: str) -> str:
        """The metric as a yardstick: its evaluator, instructions and scale."""
        scale = "|".join(f"{level.value}={level.definition}" for level in self.rating_scale)
        digest = hashlib.sha256(f"{self.instructions}\n{scale}".encode()).hexdigest()[:12]
        return f"{evaluator}#custom-{digest}"


class ManagedJobConfig(BaseModel):
    """Bedrock's evaluation job scores the same set as well; its metrics join the yardstick as
    `bedrock_<metric>` (`bedrock_non_<metric>` for toxicity, harm, stereotyping, refusal) and
    `bedrock_custom_<name>`.

    Two kinds of job, never mixed in one lineage: a programmatic job (accuracy, robustness, toxicity)
    invokes the evaluated model itself, so it needs evaluation capacity Bedrock can invoke (provisioned
    throughput); a judged job (the LLM-as-a-judge metrics and `custom_metrics`, `evaluator_model` set)
    grades the answers the round's shards already collected, given to it as precomputed inference, so it
    works whatever the evaluation capacity (an on-demand deployment too)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: list[str] = Field(default_factory=lambda: ["accuracy", "robustness", "toxicity"])
    """Bedrock's built-in metrics to compute (models/metrics.BUILTIN_METRICS keys)."""
    evaluator_model: Annotated[str, Field(pattern=r"^[a-z0-9-]+\.[A-Za-z0-9_.:-]+$")] | None = None
    """The evaluator (judge) model of a judged job, an on-demand foundation model id or a cross-region
    inference profile id the capability table lists as an evaluator (models/capabilities.EVALUATORS)."""
    custom_metrics: Annotated[list[CustomMetricConfig], Field(max_length=MAX_CUSTOM_METRICS)] = Field(
        default_factory=list
    )

    @model_validator(mode="before")
    @classmethod
    def _judged_default(cls, data: object) -> object:
        """A judged job (an evaluator model named) lists no programmatic metric unless told to."""
        if isinstance(data, dict) and data.get("evaluator_model") and "metrics" not in data:
            return {**data, "metrics": []}
        return data

    @field_validator("metrics")
    @classmethod
    def _known_builtin(cls, value: list[str]) -> list[str]:
        unknown = [key for key in value if key not in BUILTIN_METRICS]
        if unknown:
            raise ValueError(f"unknown built-in metric(s) {unknown}; known: {', '.join(BUILTIN_METRICS)}")
        if len(set(value)) != len(value):
            raise ValueError("each built-in metric once")
        return value

    @model_validator(mode="after")
    def _one_kind_of_job(self) -> ManagedJobConfig:
        programmatic = [key for key in self.metrics if not BUILTIN_METRICS[key].judged]
        if not self.metrics and not self.custom_metrics:
            raise ValueError("metrics: at least one built-in or custom metric")
        if len({metric.name for metric in self.custom_metrics}) != len(self.custom_metrics):
            raise ValueError("custom_metrics: each name once")
        if self.judged:
            if programmatic:
                raise ValueError(
                    f"metrics: {programmatic} are computed by a programmatic job, which takes no evaluator "
                    "model; a job is judged or programmatic: drop them, or evaluator_model and the judged "
                    "metrics"
                )
            if self.evaluator_model is None:
                raise ValueError("evaluator_model: judged metrics and custom_metrics need an evaluator model")
        elif self.evaluator_model is not None:
            raise ValueError("evaluator_model: set only with judged metrics or custom_metrics")
        return self

    @property
    def judged(self) -> bool:
        """An LLM-as-a-judge job over the round's collected answers (precomputed inference)."""
        return bool(self.custom_metrics) or any(BUILTIN_METRICS[key].judged for key in self.metrics)

    def metric_names(self) -> frozenset[str]:
        builtin = {BUILTIN_METRICS[key].metric for key in self.metrics}
        return frozenset(builtin | {metric.metric for metric in self.custom_metrics})

    def identities(self) -> dict[str, str]:
        """Per judged metric, what makes its scores comparable: the evaluator (and a custom metric's
        definition). Scores of another evaluator or definition are another yardstick."""
        if not self.judged or self.evaluator_model is None:
            return {}
        found = {BUILTIN_METRICS[key].metric: self.evaluator_model for key in self.metrics}
        found.update({metric.metric: metric.identity(self.evaluator_model) for metric in self.custom_metrics})
        return found


class EvaluationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = "token_f1"
    """The primary metric: the one the gate's minimum improvement and the plateau rule apply to."""
    guards: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    """Guard metrics: each may fall by at most its tolerance (absolute) against the champion."""
    max_answer_tokens: Annotated[int, Field(ge=1, le=4096)] = 512
    judge: JudgeConfig | None = None
    """Off by default; when set, every answer is also graded by this judge (metric `judge`)."""
    managed_job: ManagedJobConfig | None = None
    """Off by default; when set, a Bedrock evaluation job also scores the set (metrics `bedrock_*`). A
    programmatic job only where evaluation capacity is provisioned throughput; a judged job anywhere."""
    set_file: Annotated[str, Field(min_length=1)] | None = None
    """Optional: the evaluation set the team ships with the config (a path relative to the config file).
    Synth reads it and warns when it is too small to detect gate.min_improvement; putting it at
    evaluation-sets/<lineage>/eval.jsonl is still the team's step."""

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        return _known_metric_name(value)

    @field_validator("guards")
    @classmethod
    def _known_guards(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            _known_metric_name(name)
        return value

    @model_validator(mode="after")
    def _primary_is_no_guard(self) -> EvaluationConfig:
        if self.metric in self.guards:
            raise ValueError(
                f"guards: {self.metric!r} is the primary metric; its rule is gate.min_improvement"
            )
        if self.judge is None and JUDGE_METRIC in (self.metric, *self.guards):
            raise ValueError(f"the {JUDGE_METRIC!r} metric needs evaluation.judge (its model) to be set")
        computed = self.managed_job.metric_names() if self.managed_job is not None else frozenset()
        for name in (self.metric, *self.guards):
            if name in MANAGED_METRIC_NAMES and name not in computed:
                raise ValueError(
                    f"the {name!r} metric needs evaluation.managed_job with its built-in metric in "
                    "managed_job.metrics"
                )
            if name.startswith(CUSTOM_METRIC_PREFIX) and name not in computed:
                raise ValueError(
                    f"the {name!r} metric needs evaluation.managed_job.custom_metrics to define "
                    f"{name.removeprefix(CUSTOM_METRIC_PREFIX)!r}"
                )
        return self

    def identities(self) -> dict[str, str]:
        """Per metric graded by a model, which model (and rubric or definition) graded it: `judge`, and the
        judged managed job's metrics. The champion's scores are reused only when every identity matches."""
        found = {JUDGE_METRIC: self.judge.identity()} if self.judge is not None else {}
        if self.managed_job is not None:
            found.update(self.managed_job.identities())
        return found

    def metric_names(self) -> frozenset[str]:
        """Every metric a round computes for this lineage: the reference metrics, `judge` when set,
        and the managed job's `bedrock_*` metrics when set."""
        judged = {JUDGE_METRIC} if self.judge is not None else frozenset()
        managed = self.managed_job.metric_names() if self.managed_job is not None else frozenset()
        return frozenset(REFERENCE_METRICS) | judged | managed


def _known_metric_name(value: str) -> str:
    known = {*REFERENCE_METRICS, JUDGE_METRIC, *MANAGED_METRIC_NAMES}
    custom = re.fullmatch(CUSTOM_METRIC_NAME, value.removeprefix(CUSTOM_METRIC_PREFIX))
    if value.startswith(CUSTOM_METRIC_PREFIX) and custom:
        return value
    if value not in known:
        raise ValueError(f"unknown metric {value!r}; known: {', '.join(sorted(known))}")
    return value


BUDGET_PRICES = ("training_usd_per_1k_tokens", "evaluation_capacity_usd_per_hour")
"""Every price a round's estimate uses: a budget needs them all, or its spend would be undercounted."""


class CostConfig(BaseModel):
    """Prices for the per-round cost estimate, and an optional monthly budget.

    No defaults: prices depend on the model and the region and change, so they are the operator's
    to set (the Amazon Bedrock pricing page). Unset prices leave the estimate in tokens and hours,
    with its dollars null.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    training_usd_per_1k_tokens: Annotated[float, Field(ge=0)] | None = None
    """Customization price per 1,000 training tokens (Bedrock bills tokens x epochs)."""
    evaluation_capacity_usd_per_hour: Annotated[float, Field(ge=0)] | None = None
    """One model-unit hour of no-commitment provisioned throughput, what a round creates to evaluate a
    model without on-demand deployment (an on-demand deployment has no hourly charge)."""
    monthly_budget_usd: Annotated[float, Field(gt=0)] | None = None
    """Once this calendar month's (UTC) estimated spend reaches it, uploads queue and no round starts."""

    @model_validator(mode="after")
    def _budget_has_prices(self) -> CostConfig:
        if self.monthly_budget_usd is None:
            return self
        missing = [name for name in BUDGET_PRICES if getattr(self, name) is None]
        if missing:
            raise ValueError(
                "monthly_budget_usd: a budget needs the prices the spend is counted with; set "
                + " and ".join(f"cost.{name}" for name in missing)
            )
        return self


class QueueConfig(BaseModel):
    """How the lineage's queued uploads are taken (README, "Upload order")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    supersede_same_key: bool = False
    """A newer version of a key that has not started yet replaces the older queued one(s), which are
    recorded as superseded; off: every version runs, oldest first."""


class LineageConfig(BaseModel):
    """One lineage: a chain of custom models grown from one starting model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=LINEAGE_NAME_PATTERN, min_length=1, max_length=24)]
    base_model: Annotated[str, Field(min_length=1)]
    """A fine-tunable foundation model id of the capability table, or the ARN of an existing custom
    model (Bedrock's form names its base model: custom-model/<base model id>/<id>)."""
    family: str | None = None
    """Derived from the (base) model id; required only for a custom model ARN that names no base model,
    and when given, it must be the base model's."""
    description: Annotated[str, Field(max_length=200)] = ""
    """What the lineage is for, for people: shown in its serving pointer's description."""
    evaluation_invoke_model: str | None = None
    """What to call to score the starting point (a foundation model's on-demand id or a deployment ARN)."""
    hyperparameters: dict[str, str | int | float] = Field(default_factory=dict)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    leakage: LeakageConfig = Field(default_factory=LeakageConfig)
    """Training prompts that duplicate evaluation prompts: how close counts, and what the round does."""
    gate: GatePolicy = Field(default_factory=GatePolicy)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    retention: ModelRetention = Field(default_factory=ModelRetention)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    cost: CostConfig = Field(default_factory=CostConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    strategies: StrategyConfig = Field(default_factory=StrategyConfig)
    """The default training strategy of its rounds, and the settings of the others it may use."""
    traffic: TrafficConfig | None = None
    """Curate live traffic (invocation logs) and feedback into rounds (docs/flywheel.md); None: off."""

    @model_validator(mode="after")
    def _family_resolves(self) -> LineageConfig:
        try:
            foundation = self.foundation_model()
            if foundation is None:
                if self.family is None:
                    raise ValueError(
                        "family: required when base_model is a custom model ARN that does not name its base "
                        "model (Bedrock's form: custom-model/<base model id>/<id>)"
                    )
                family_named(self.family)
            else:
                row = capabilities.model(foundation)
                if row.family is None:
                    raise UnknownModelError(f"{row.name} has no family in iterft: {row.note}")
                if self.family is not None and self.family != row.family:
                    raise ValueError(
                        f"family: {self.family!r}, but {row.model_id} is of family {row.family!r}"
                    )
        except UnknownModelError as error:
            raise ValueError(f"base_model: {error}") from None
        problems = check_hyperparameters(self.model_family(), self.hyperparameters)
        if problems:
            raise ValueError("hyperparameters: " + "; ".join(problems))
        strategy_problems = self._strategy_problems()
        if strategy_problems:
            raise ValueError("strategies: " + "; ".join(strategy_problems))
        invoke = self.evaluation_invoke_model
        managed = self.evaluation.managed_job
        if managed is not None and not managed.judged and invoke and not EVALUABLE_MODEL_ID.fullmatch(invoke):
            raise ValueError(
                f"evaluation_invoke_model: {invoke!r} cannot be evaluated by evaluation.managed_job: "
                "Bedrock's evaluation jobs take a foundation model, inference profile or provisioned "
                "throughput (not a custom model or its deployment)"
            )
        return self

    def _strategy_problems(self) -> list[str]:
        """Settings a strategy needs, and what the capability table says the model can do (any region:
        the stack's region is checked at synth)."""
        strategies = self.strategies
        problems = []
        if strategies.default not in strategies.configured():
            problems.append(f"default: {strategies.default} needs strategies.{strategies.default} settings")
        if strategies.reinforcement is not None:
            problems += strategies.reinforcement.problems()
        row = self.model_capabilities()
        if row is None:
            return problems
        for strategy in strategies.required():
            if not row.customization_regions(strategy.customization_type):
                problems.append(f"{row.name} cannot be customized by {strategy} anywhere (capability table)")
        distillation = strategies.distillation
        if distillation is not None and row.teachers and distillation.teacher not in row.teachers:
            problems.append(
                f"distillation.teacher: {distillation.teacher!r} is not a teacher of {row.name}; "
                f"its teachers: {', '.join(row.teachers)}"
            )
        return sorted(set(problems), key=problems.index)

    def foundation_model(self) -> str | None:
        """The foundation model the lineage grows from: base_model itself, or the base model its custom
        model ARN names (None when the ARN names none)."""
        return capabilities.base_model_of(self.base_model)

    def model_capabilities(self) -> ModelCapabilities | None:
        """The capability table's row of the lineage's foundation model (None when it is not known)."""
        foundation = self.foundation_model()
        return capabilities.find(foundation) if foundation else None

    def model_family(self) -> ModelFamily:
        if self.family is not None and self.foundation_model() is None:
            return family_named(self.family)
        return family_for_model(self.foundation_model() or "")


__all__ = [
    "ApprovalPolicy",
    "Commitment",
    "CostConfig",
    "CustomMetricConfig",
    "DecideOn",
    "EvaluationConfig",
    "GatePolicy",
    "JudgeConfig",
    "LineageConfig",
    "ManagedJobConfig",
    "ModelRetention",
    "QueueConfig",
    "RatingLevel",
    "ServingConfig",
    "ServingMode",
    "UnknownModelError",
]


def starting_point(lineage: LineageConfig) -> str:
    """What serves before the first promotion (the value the stack gives a new serving pointer): the
    configured invoke id, else the foundation model's on-demand id, else (a custom starting model
    without one) its ARN."""
    if lineage.evaluation_invoke_model:
        return lineage.evaluation_invoke_model
    if is_custom_model_arn(lineage.base_model):
        return lineage.base_model
    return invocable_foundation_model_id(lineage.base_model)
