"""A lineage's configuration: validated once at synth, carried into every round as JSON."""

from __future__ import annotations

import hashlib
import math
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iterft_runtime.models.families import (
    ModelFamily,
    UnknownModelError,
    family_for_model,
    family_named,
    is_custom_model_arn,
)

LINEAGE_NAME_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"


class ServingMode(StrEnum):
    ON_DEMAND = "on_demand"


class GatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_improvement: Annotated[float, Field(ge=0, le=1)] = 0.01
    """The candidate's primary score must exceed the champion's by at least this (absolute, 0..1)."""
    plateau_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    """A decided round whose primary improvement is under this is marginal (default: min_improvement)."""
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
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: ServingMode = ServingMode.ON_DEMAND


FOUNDATION_MODEL_ID = r"^[a-z0-9-]+\.[A-Za-z0-9_-]+(:\d+)?$"
"""An on-demand foundation model id (`provider.model-version:n`), as its IAM ARN names it; not an
inference profile id (`us.amazon.nova-pro-v1:0`), whose ARN and region fan-out IAM would also need."""


class JudgeConfig(BaseModel):
    """A foundation model that grades every answer against its reference with a rubric (metric `judge`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Annotated[str, Field(pattern=FOUNDATION_MODEL_ID)]
    """Called through Converse; the scoring function may invoke this model and no other foundation model."""
    rubric: Annotated[str, Field(min_length=1, max_length=4000)] | None = None
    """What each grade from 1 to 5 means (default: logic/judge.DEFAULT_RUBRIC)."""
    max_tokens: Annotated[int, Field(ge=1, le=1024)] = 64
    """maxTokens of each judge call: the reply is one `Grade: N` line."""

    def identity(self) -> str:
        """The judge as a yardstick: its model and rubric. Grades from another judge are not comparable."""
        from iterft_runtime.logic.judge import DEFAULT_RUBRIC

        rubric = hashlib.sha256((self.rubric or DEFAULT_RUBRIC).encode()).hexdigest()[:12]
        return f"{self.model}#rubric-{rubric}"


class EvaluationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = "token_f1"
    """The primary metric: the one the gate's minimum improvement and the plateau rule apply to."""
    guards: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    """Guard metrics: each may fall by at most its tolerance (absolute) against the champion."""
    max_answer_tokens: Annotated[int, Field(ge=1, le=4096)] = 512
    judge: JudgeConfig | None = None
    """Off by default; when set, every answer is also graded by this judge (metric `judge`)."""

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
        from iterft_runtime.logic.judge import JUDGE_METRIC

        if self.judge is None and JUDGE_METRIC in (self.metric, *self.guards):
            raise ValueError(f"the {JUDGE_METRIC!r} metric needs evaluation.judge (its model) to be set")
        return self

    def metric_names(self) -> frozenset[str]:
        """Every metric a round computes for this lineage: the reference metrics, and `judge` when set."""
        from iterft_runtime.logic.judge import JUDGE_METRIC
        from iterft_runtime.logic.scoring import METRICS

        return frozenset(METRICS) | ({JUDGE_METRIC} if self.judge is not None else frozenset())


def _known_metric_name(value: str) -> str:
    from iterft_runtime.logic.judge import JUDGE_METRIC
    from iterft_runtime.logic.scoring import METRICS

    known = {*METRICS, JUDGE_METRIC}
    if value not in known:
        raise ValueError(f"unknown metric {value!r}; known: {', '.join(sorted(known))}")
    return value


class LineageConfig(BaseModel):
    """One lineage: a chain of custom models grown from one starting model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=LINEAGE_NAME_PATTERN, min_length=1, max_length=24)]
    base_model: Annotated[str, Field(min_length=1)]
    """A fine-tunable foundation model id, or the ARN of an existing custom model."""
    family: str | None = None
    """Required when base_model is a custom model ARN; otherwise derived from the id."""
    evaluation_invoke_model: str | None = None
    """What to call to score the starting point (a foundation model's on-demand id or a deployment ARN)."""
    hyperparameters: dict[str, str | int | float] = Field(default_factory=dict)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    gate: GatePolicy = Field(default_factory=GatePolicy)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)

    @model_validator(mode="after")
    def _family_resolves(self) -> LineageConfig:
        try:
            if self.family is not None:
                family_named(self.family)
            elif is_custom_model_arn(self.base_model):
                raise ValueError("family: required when base_model is a custom model ARN")
            else:
                family_for_model(self.base_model)
        except UnknownModelError as error:
            field_name = "family" if self.family is not None else "base_model"
            raise ValueError(f"{field_name}: {error}") from None
        from iterft_runtime.logic.hyperparameters import check_hyperparameters

        problems = check_hyperparameters(self.model_family(), self.hyperparameters)
        if problems:
            raise ValueError("hyperparameters: " + "; ".join(problems))
        return self

    def model_family(self) -> ModelFamily:
        return family_named(self.family) if self.family else family_for_model(self.base_model)


__all__ = [
    "ApprovalPolicy",
    "EvaluationConfig",
    "GatePolicy",
    "JudgeConfig",
    "LineageConfig",
    "ServingConfig",
    "ServingMode",
    "UnknownModelError",
]
