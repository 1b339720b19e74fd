"""Apply retention by role: delete the custom models nothing can serve again or roll back to.

Runs at the end of every round, before Finish releases the lock, so no other round of the lineage
can be using a model meanwhile. Deleted: a rejected or failed round's candidate (this round's
among them) once its round ended, or `retention.keep_rejected_days` later; promoted models beyond
the newest `retention.keep_models` promoted ones. Never deleted: the champion, the model the serving
capacity serves, what a round still in flight builds on or produced (queued rounds build on the
champion). A model Bedrock refuses to delete (still deployed somewhere) is skipped and reported.
Each deletion is recorded on its iteration (`model_deleted_at`), so history shows it and a rollback
to it is refused.
Best effort: a failure here is caught by the workflow and does not stop Finish. Result at `$.retention`:
the first MAX_LISTED deleted iterations and skipped models, and how many there were (a model Bedrock keeps
refusing is tried again every round, so the list grows with the lineage's history; the log has it all).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from iterft_runtime.dal import bedrock
from iterft_runtime.dal.clients import error_code
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.cost import CostInputError, parse_time
from iterft_runtime.logic.serving import LineageModel, models_to_delete
from iterft_runtime.models.records import Decision, IterationRecord
from iterft_runtime.models.steps import RetentionResult, RoundState, dump

logger = Logger()

MAX_LISTED = 10


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    name = doc.lineage.name
    registry = Registry(settings.table_name())
    state = registry.get_state(name)
    records = registry.list_iterations(name)
    # This round's record says `running` until Finish: its outcome is in the state document.
    outcome = str((doc.outcome.decision if doc.outcome else None) or Decision.FAILED.value)
    models = [
        LineageModel(
            record.iteration,
            record.output_model_arn,
            outcome if record.iteration == doc.iteration else record.decision,
            None if record.iteration == doc.iteration else _ended(record),
        )
        for record in records
        if record.output_model_arn and not record.model_deleted_at
    ]
    serving = state.serving_capacity if state and state.serving_capacity else {}
    in_flight = [
        arn
        for record in records
        if record.decision == Decision.RUNNING and record.iteration != doc.iteration
        for arn in (record.base_model, record.output_model_arn)
    ]
    protected = [
        state.champion_model if state else None,
        state.champion_model_arn if state else None,
        serving.get("model_arn"),
        *in_flight,
    ]
    retention = doc.lineage.retention
    doomed = models_to_delete(
        models,
        retention.keep_models,
        protected,
        keep_rejected_days=retention.keep_rejected_days,
        now=parse_time(settings.now()),
    )
    deleted: list[int] = []
    skipped: list[str] = []
    for model in doomed:
        try:
            bedrock.delete_custom_model(model.model_arn)
        except ClientError as error:
            if error_code(error) not in ("ConflictException", "ValidationException"):
                raise
            skipped.append(f"#{model.iteration}: {error}")
            continue
        registry.update_iteration(name, model.iteration, {"model_deleted_at": settings.now()})
        deleted.append(model.iteration)
    logger.info("retention applied", extra={"lineage": name, "deleted": deleted, "skipped": skipped})
    return dump(
        RetentionResult(
            deleted_iterations=deleted[:MAX_LISTED],
            skipped=skipped[:MAX_LISTED],
            deleted_count=len(deleted),
            skipped_count=len(skipped),
        )
    )


def _ended(record: IterationRecord) -> datetime | None:
    stamp = record.ended_at or record.started_at
    try:
        return parse_time(stamp) if stamp else None
    except CostInputError:
        return None
