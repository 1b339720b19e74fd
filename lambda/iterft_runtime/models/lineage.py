"""A lineage's configuration: validated once at synth, carried into every round as JSON."""

from __future__ import annotations

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
    """The candidate's score must exceed the champion's by at least this (absolute, 0..1)."""


class ServingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: ServingMode = ServingMode.ON_DEMAND


class EvaluationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = "token_f1"
    max_answer_tokens: Annotated[int, Field(ge=1, le=4096)] = 512

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        from iterft_runtime.logic.scoring import METRICS

        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; known: {', '.join(sorted(METRICS))}")
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


__all__ = ["GatePolicy", "LineageConfig", "ServingConfig", "ServingMode", "UnknownModelError"]
