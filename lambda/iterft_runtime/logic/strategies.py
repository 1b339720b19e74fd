"""A round's training strategy: which one it uses, whether the lineage's champion may be its base, and the
customization job's strategy-specific request (docs/strategies.md).

Plain logic: the registry lookups it needs are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from iterft_runtime.models import capabilities
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import IterationRecord
from iterft_runtime.models.strategy import (
    FOUNDATION,
    RFT_HYPERPARAMETERS,
    UNKNOWN_CUSTOM,
    InvocationLogSource,
    Strategy,
    chain_problem,
)

STRATEGY_METADATA_KEY = "strategy"
"""S3 user metadata `x-amz-meta-strategy` names an upload's strategy (S3 lowercases metadata keys)."""

IterationLookup = Callable[[int], IterationRecord | None]


def requested_strategy(explicit: str | None, metadata: Mapping[str, str]) -> str | None:
    """What the round was asked to use: `iterft start --strategy`, else the upload's metadata."""
    if explicit:
        return explicit
    for key, value in metadata.items():
        if key.lower() == STRATEGY_METADATA_KEY:
            return value.strip().lower()
    return None


def produced_by(lineage: LineageConfig, champion_iteration: int, lookup: IterationLookup) -> str:
    """What produced the champion: FOUNDATION, UNKNOWN_CUSTOM (a custom starting model) or a Strategy
    value. A rollback's champion is the model of the iteration it went back to; rounds recorded before
    strategies existed were fine-tuning."""
    seen: set[int] = set()
    iteration = champion_iteration
    while iteration and iteration not in seen:
        seen.add(iteration)
        record = lookup(iteration)
        if record is None:
            break
        if record.rollback_of is not None:
            iteration = record.rollback_of
            continue
        return record.strategy or Strategy.FINE_TUNING.value
    return FOUNDATION if lineage.foundation_model() == lineage.base_model else UNKNOWN_CUSTOM


def choose_strategy(
    lineage: LineageConfig, requested: str | None, region: str, base: str
) -> tuple[Strategy, str | None]:
    """The round's strategy, and why it cannot run (None when it can): a name no strategy has, one the
    lineage has no settings for, one its model cannot do in this region, or an undocumented chain."""
    settings = lineage.strategies
    if requested is None:
        strategy = settings.default
    else:
        try:
            strategy = Strategy(requested)
        except ValueError:
            known = ", ".join(s.value for s in Strategy)
            return settings.default, f"unknown strategy {requested!r} (known: {known})"
    if strategy not in settings.configured():
        return strategy, f"{strategy} needs strategies.{strategy} settings in the lineage's config"
    row = lineage.model_capabilities()
    kind = strategy.customization_type
    if row is not None and not row.can_customize(region, kind):
        where = capabilities.regions_text(row.customization_regions(kind))
        return strategy, f"{row.name} cannot be customized by {kind} in {region} (only {where})"
    problem = chain_problem(strategy, base, allow_undocumented=settings.allow_undocumented_chains)
    return strategy, problem


def customization_config(
    lineage: LineageConfig, strategy: Strategy, *, default_grader_arn: str
) -> dict[str, Any] | None:
    """The job's `CustomizationConfig` as the Step Functions integration takes it (PascalCase), or None
    for fine-tuning and continued pre-training, which take none."""
    settings = lineage.strategies
    if strategy is Strategy.DISTILLATION and settings.distillation is not None:
        teacher: dict[str, Any] = {"TeacherModelIdentifier": settings.distillation.teacher}
        if settings.distillation.max_response_length is not None:
            teacher["MaxResponseLengthForInference"] = settings.distillation.max_response_length
        return {"DistillationConfig": {"TeacherModelConfig": teacher}}
    if strategy is Strategy.REINFORCEMENT and settings.reinforcement is not None:
        reinforcement = settings.reinforcement
        grader = default_grader_arn if reinforcement.uses_default_grader else reinforcement.grader
        hyperparameters: dict[str, Any] = {
            _pascal(name): int(value) if RFT_HYPERPARAMETERS[name][2] else value
            for name, value in reinforcement.hyperparameters.items()
        }
        if reinforcement.reasoning_effort is not None:
            hyperparameters["ReasoningEffort"] = reinforcement.reasoning_effort
        config: dict[str, Any] = {"GraderConfig": {"LambdaGrader": {"LambdaArn": grader}}}
        if hyperparameters:
            config["HyperParameters"] = hyperparameters
        return {"RftConfig": config}
    return None


def invocation_log_source(lineage: LineageConfig, strategy: Strategy) -> InvocationLogSource | None:
    """The invocation logs a round of `strategy` trains on (a distillation round of a lineage that distils
    from them), or None: it trains on the upload."""
    distillation = lineage.strategies.distillation
    if strategy is not Strategy.DISTILLATION or distillation is None:
        return None
    return distillation.invocation_logs


def distils_from_logs(lineage: LineageConfig) -> bool:
    """Whether the lineage's distillation rounds read invocation logs (an empty upload starts one)."""
    distillation = lineage.strategies.distillation
    return distillation is not None and distillation.invocation_logs is not None


def training_data_config(
    lineage: LineageConfig, strategy: Strategy, training_data_uri: str
) -> dict[str, Any]:
    """The job's `TrainingDataConfig` (PascalCase): the validated file, or for a lineage that distils from
    invocation logs, those logs and their request-metadata filter."""
    logs = invocation_log_source(lineage, strategy)
    if logs is None:
        return {"S3Uri": training_data_uri}
    config: dict[str, Any] = {
        "InvocationLogSource": {"S3Uri": logs.s3_uri},
        "UsePromptResponse": logs.use_prompt_response,
    }
    filters = [{"Equals": {key: value}} for key, value in sorted(logs.request_metadata.items())]
    if len(filters) == 1:
        config["RequestMetadataFilters"] = filters[0]
    elif filters:
        config["RequestMetadataFilters"] = {"AndAll": filters}
    return {"InvocationLogsConfig": config}


def _pascal(name: str) -> str:
    return name[0].upper() + name[1:]
