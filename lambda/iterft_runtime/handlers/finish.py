"""Finish iteration: record the outcome and everything the round learned, release the lock, notify.

Safe to retry: the record update is a plain overwrite of the same values, the release only
applies while this iteration holds the lock, and a repeated notification is the worst case.
Result at `$.finish` (empty).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal import notifier
from iterft_runtime.dal.registry import IterationNotFoundError, Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.notifications import round_notification
from iterft_runtime.logic.rounds import record_fields, round_input
from iterft_runtime.models.records import Decision

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    given = round_input(event)
    name, iteration = given.lineage.name, given.iteration
    fields = record_fields(event, ended_at=settings.now())
    if "decision" not in fields:
        fields.update(decision=Decision.FAILED.value, reason="the round reached Finish without an outcome")
    registry = Registry(settings.table_name())
    registry.update_iteration(name, iteration, fields)
    released = registry.release_lock(name, iteration)
    record = registry.get_iteration(name, iteration)
    if record is None:
        raise IterationNotFoundError(f"{name}: no iteration {iteration}")

    validation = event.get("validation") or {}
    notification = round_notification(
        name,
        record,
        problem_counts=validation.get("problem_counts"),
        problems=validation.get("problems") or [],
    )
    notifier.publish(settings.topic_arn(), notification)
    logger.info(
        "iteration finished",
        extra={
            "lineage": name,
            "iteration": iteration,
            "decision": record.decision,
            "lock_released": released,
        },
    )
    return {}
