"""Swap serving model: make the lineage's serving capacity serve the promoted model, in place.

Provisioned mode updates the serving provisioned throughput (UpdateProvisionedModelThroughput),
on-demand mode the serving deployment (UpdateCustomModelDeployment); the first promotion creates the
serving capacity, or adopts the candidate's evaluation capacity when it is exactly what serving needs.
Old traffic keeps being served until the update completes; the workflow then polls Capacity status
until the new model is in service, and only then Promote moves the registry and the pointer.
Safe to retry: creation is idempotent by name, and an update already under way is not asked again.
Result at `$.swap`: `{action, targets: [Capacity] (empty under mode none), replaced}`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal import bedrock
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.serving import SwapAction, capacity_tags, plan_swap
from iterft_runtime.models.capacity import Capacity, CapacityRole
from iterft_runtime.models.steps import RoundState, SwapResult, dump, required

logger = Logger()


class ServingCapacityMissingError(RuntimeError):
    """The registry names a serving capacity that Bedrock no longer has: an operator deleted it."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    name, iteration = doc.lineage.name, doc.iteration
    model_arn = required(doc.promotion, "promotion").model_arn
    state = Registry(settings.table_name()).get_state(name)
    current = Capacity.from_dict(state.serving_capacity) if state and state.serving_capacity else None
    candidate = next(
        (item for item in doc.evaluation_capacities() if item.role is CapacityRole.CANDIDATE), None
    )
    plan = plan_swap(
        doc.lineage.serving,
        current,
        candidate,
        model_arn,
        naming.serving_capacity_name(name, iteration, settings.stack_name()),
    )
    target = plan.target
    if plan.action is SwapAction.CREATE and target is not None:
        arn = bedrock.create_capacity(target, capacity_tags(name, iteration, CapacityRole.SERVING))
        target = replace(target, arn=arn, created_at=settings.now())
    elif plan.action is SwapAction.UPDATE and target is not None:
        status = bedrock.describe_capacity(target.kind, target.arn)
        if status is None:
            raise ServingCapacityMissingError(
                f"{name}: the serving {target.kind} {target.name} ({target.arn}) no longer exists; "
                "nothing was changed"
            )
        if model_arn not in (status.model_arn, status.desired_model_arn):
            bedrock.swap_model(target)
    result = dump(
        SwapResult.model_validate(
            {
                "action": plan.action.value,
                "targets": [target.to_dict()] if target is not None else [],
                "replaced": plan.replaced.to_dict() if plan.replaced is not None else None,
            }
        )
    )
    logger.info("serving swap requested", extra={"lineage": name, "iteration": iteration, **result})
    return result
