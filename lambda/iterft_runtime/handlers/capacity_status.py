"""Capacity status: are the given deployments / provisioned throughputs serving their models yet?

Input `{"capacities": [Capacity as dict, ...]}` (the workflow passes the evaluation capacity, then the
serving capacity a promotion swaps); result `{ready, failed, reason}`. An empty list is ready: under
serving mode none a promotion has nothing to wait for.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal import bedrock
from iterft_runtime.logic.serving import readiness
from iterft_runtime.models.capacity import Readiness
from iterft_runtime.models.steps import CapacityStatusInput, dump
from iterft_runtime.models.steps import Readiness as ReadinessResult

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    verdicts: list[tuple[Readiness, str]] = []
    for item in CapacityStatusInput.model_validate(event).capacities or []:
        capacity = item.to_capacity()
        status = bedrock.describe_capacity(capacity.kind, capacity.arn)
        if status is None:
            verdicts.append((Readiness.FAILED, f"{capacity.kind} {capacity.name} no longer exists"))
        else:
            verdicts.append(readiness(capacity, status))
    failed = [reason for verdict, reason in verdicts if verdict is Readiness.FAILED]
    pending = [reason for verdict, reason in verdicts if verdict is Readiness.PENDING]
    result = dump(
        ReadinessResult(
            ready=not failed and not pending,
            failed=bool(failed),
            reason="; ".join(failed or pending) or "every capacity serves its model",
        )
    )
    logger.info("capacity checked", extra=result)
    return result
