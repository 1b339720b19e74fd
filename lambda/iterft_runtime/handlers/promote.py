"""Promote: once the serving capacity serves the new model, make it the champion and move the pointer.

Runs after Swap serving model and its polls, so the registry and the SSM pointer change only when the
model is in service. `$.promotion` names what is promoted (the candidate, or for a rollback an earlier
iteration's model and scores). The registry change is one transaction that only the lock's owner can
make; a retry after it committed is recognised and only finishes the rest: publish the pointer, delete
the round's evaluation capacity (except what now serves) and a serving capacity of another kind that a
change of serving mode replaced.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal import bedrock, serving_pointer
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.serving import capacity_to_release
from iterft_runtime.models.records import Decision
from iterft_runtime.models.steps import PromoteResult, RoundState, dump, required

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    name, iteration = doc.lineage.name, doc.iteration
    promotion = required(doc.promotion, "promotion")
    model_arn = promotion.model_arn
    target = doc.swap_target()
    registry = Registry(settings.table_name())
    record = registry.get_iteration(name, iteration)
    decision = Decision(promotion.decision or Decision.PROMOTED.value)
    if record is None or record.decision != decision:
        registry.promote(
            name,
            iteration,
            model_arn=model_arn,
            serving_capacity=target.to_dict() if target else None,
            score=promotion.score,
            metrics=promotion.metrics,
            eval_set_version=promotion.eval_set_version,
            metric=promotion.metric,
            champion_iteration=promotion.champion_iteration,
            decision=decision,
        )
    pointer = target.arn if target else model_arn
    serving_pointer.publish(settings.serving_parameter(name), pointer)
    released = bedrock.release_capacities(capacity_to_release(doc.evaluation_capacities(), target))
    replaced = doc.replaced_capacity()
    if replaced is not None and (target is None or replaced.arn != target.arn):
        released += bedrock.release_capacities([replaced])
    result = dump(PromoteResult(champion_model_arn=model_arn, serving_model_id=pointer, released=released))
    logger.info("promoted", extra={"lineage": name, "iteration": iteration, **result})
    return result
