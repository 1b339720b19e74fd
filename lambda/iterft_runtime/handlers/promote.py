"""Promote candidate: champion := candidate in the registry, then retire the old serving deployment.

The registry change is one transaction that only the lock's owner can make. A retry after it
committed is recognised (the champion already is this iteration) and only finishes the cleanup.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal import bedrock
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.rounds import deployment_to_retire, round_input

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    given = round_input(event)
    name, iteration = given.lineage.name, given.iteration
    model_arn = event["training"]["output_model_arn"]
    deployment_arn = event["candidate_deployment"]["arn"]
    evaluation = event["evaluation"]
    registry = Registry(settings.table_name())
    state = registry.get_state(name)

    if state is not None and state.champion_iteration == iteration:
        done = registry.get_iteration(name, iteration)
        replaced = done.replaced_serving_model_id if done else None
    else:
        replaced = state.serving_model_id if state else None
        registry.promote(
            name,
            iteration,
            model_arn=model_arn,
            serving_model_id=deployment_arn,
            score=float(evaluation["candidate_score"]),
            metrics=evaluation["candidate_metrics"],
            eval_set_version=evaluation["eval_set_version"],
            metric=evaluation["metric"],
            replaced_serving_model_id=replaced,
        )

    retired = deployment_to_retire(replaced, deployment_arn)
    if retired:
        bedrock.delete_deployment(retired)
    result = {
        "champion_iteration": iteration,
        "champion_model_arn": model_arn,
        "serving_model_id": deployment_arn,
        "retired_deployment": retired,
    }
    logger.info("candidate promoted", extra={"lineage": name, **result})
    return result
