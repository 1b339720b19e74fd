"""Begin iteration: resolve the parent (the champion now) and derive the round's names.

The lock was taken at dispatch; this step checks it is still this iteration's, so a stray
execution can never train on top of another round. Result at `$.round`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal.registry import LockNotHeldError, Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.strategies import customization_config, training_data_config
from iterft_runtime.models.steps import BeginResult, RoundState, dump, required
from iterft_runtime.models.strategy import Strategy

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    name, iteration, dataset = doc.lineage.name, doc.iteration, doc.dataset_ref
    registry = Registry(settings.table_name())
    state = registry.get_state(name)
    if state is None or state.lock_owner != iteration:
        holder = state.lock_owner if state else None
        raise LockNotHeldError(f"{name}: iteration {iteration} does not hold the lock (held by {holder})")

    fingerprint = naming.dataset_fingerprint(dataset.key, dataset.identity)
    validation = required(doc.validation, "validation")
    strategy = Strategy(validation.strategy)
    reinforcement = strategy is Strategy.REINFORCEMENT
    grader = settings.default_grader_arn(name, context.invoked_function_arn) if reinforcement else ""
    customization = customization_config(doc.lineage, strategy, default_grader_arn=grader)
    if strategy in (Strategy.FINE_TUNING, Strategy.CONTINUED_PRE_TRAINING):
        hyperparameters = dict(validation.hyperparameters)
    else:  # sent inside customizationConfig (reinforcement) or not at all (distillation)
        hyperparameters = {}
    result = BeginResult(
        base_model=state.champion_model,
        parent_iteration=state.champion_iteration,
        job_name=naming.job_name(name, iteration, fingerprint),
        custom_model_name=naming.custom_model_name(name, iteration, fingerprint),
        output_uri=f"s3://{settings.bucket_name()}/{naming.job_output_prefix(name, iteration)}",
        candidate_capacity_name=naming.evaluation_capacity_name(name, iteration, fingerprint, "candidate"),
        champion_capacity_name=naming.evaluation_capacity_name(name, iteration, fingerprint, "champion"),
        candidate_evaluation_job_name=naming.evaluation_job_name(name, iteration, fingerprint, "candidate"),
        champion_evaluation_job_name=naming.evaluation_job_name(name, iteration, fingerprint, "champion"),
        hyperparameters=hyperparameters,
        strategy=strategy.value,
        customization_type=strategy.customization_type.value,
        customization_config=customization,
        training_data_config=training_data_config(doc.lineage, strategy, validation.training_data_uri or ""),
    )
    registry.update_iteration(
        name,
        iteration,
        {
            "base_model": result.base_model,
            "parent_iteration": result.parent_iteration,
            "job_name": result.job_name,
            "hyperparameters": result.hyperparameters,
            "strategy": result.strategy,
            "customization_type": result.customization_type,
            **({"customization_config": customization} if customization else {}),
            **({"dataset_source": validation.source} if validation.source else {}),
        },
    )
    logger.info("iteration begun", extra={"lineage": name, "iteration": iteration, **dump(result)})
    return dump(result)
