"""Provision evaluation capacity: make the candidate (and a champion with nothing serving it) invocable
the cheapest way the model allows. Result at `$.capacity`.

On-demand custom model deployment where the model has one in this region (the capability table),
otherwise one model unit of
no-commitment provisioned throughput (hourly and deletable at any time). Names are deterministic and
double as client request tokens, so a retry returns the same resources and Clean up can find them
even when this step failed half-way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal import bedrock
from iterft_runtime.handlers import settings
from iterft_runtime.logic.serving import (
    EVALUATION_MODEL_UNITS,
    capacity_tags,
    evaluation_capacity_kind,
)
from iterft_runtime.models.capacity import Capacity, CapacityKind, CapacityRole
from iterft_runtime.models.steps import CapacityResult, RoundState, dump, required

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    name, iteration = doc.lineage.name, doc.iteration
    kind = evaluation_capacity_kind(doc.lineage, settings.region())
    plan, begun = required(doc.evaluation_plan, "evaluation_plan"), required(doc.round, "round")
    training = required(doc.training, "training")
    wanted = [(CapacityRole.CANDIDATE, begun.candidate_capacity_name, training.output_model_arn)]
    if plan.champion_to_deploy:
        wanted.append((CapacityRole.CHAMPION, begun.champion_capacity_name, plan.champion_to_deploy))

    created_at = settings.now()
    created: list[Capacity] = []
    for role, capacity_name, model_arn in wanted:
        capacity = Capacity(
            kind=kind,
            name=capacity_name,
            arn="",
            model_arn=model_arn,
            role=role,
            model_units=EVALUATION_MODEL_UNITS if kind is CapacityKind.PROVISIONED else 0,
            created_at=created_at,
        )
        arn = bedrock.create_capacity(capacity, capacity_tags(name, iteration, role))
        created.append(replace(capacity, arn=arn))

    by_role = {capacity.role: capacity.arn for capacity in created}
    result = dump(
        CapacityResult.model_validate(
            {
                "evaluation": [capacity.to_dict() for capacity in created],
                "candidate_model": by_role[CapacityRole.CANDIDATE],
                "champion_model": plan.champion_model or by_role.get(CapacityRole.CHAMPION),
            }
        )
    )
    logger.info("evaluation capacity requested", extra={"lineage": name, "iteration": iteration, **result})
    return result
