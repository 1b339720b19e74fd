"""Apply retention: delete the lineage's custom models beyond the newest `retention.keep_models`.

Runs at the end of every round, before Finish releases the lock, so no other round of the lineage
can be using a model meanwhile. Never deleted: the champion, the model the serving capacity serves,
and the newest `keep_models` models (this round's candidate among them). A model Bedrock refuses to
delete (still deployed somewhere) is skipped and reported. Each deletion is recorded on its
iteration (`model_deleted_at`), so history shows it and a rollback to it is refused.
Best effort: a failure here is caught by the workflow and does not stop Finish. Result at `$.retention`:
the first MAX_LISTED deleted iterations and skipped models, and how many there were (a model Bedrock keeps
refusing is tried again every round, so the list grows with the lineage's history; the log has it all).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from iterft_runtime.dal import bedrock
from iterft_runtime.dal.clients import error_code
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.rounds import round_input
from iterft_runtime.logic.serving import LineageModel, models_to_delete

logger = Logger()

MAX_LISTED = 10


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    given = round_input(event)
    name = given.lineage.name
    registry = Registry(settings.table_name())
    state = registry.get_state(name)
    models = [
        LineageModel(record.iteration, record.output_model_arn)
        for record in registry.list_iterations(name)
        if record.output_model_arn and not record.model_deleted_at
    ]
    serving = state.serving_capacity if state and state.serving_capacity else {}
    protected = [
        state.champion_model if state else None,
        state.champion_model_arn if state else None,
        serving.get("model_arn"),
    ]
    deleted: list[int] = []
    skipped: list[str] = []
    for model in models_to_delete(models, given.lineage.retention.keep_models, protected):
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
    return {
        "deleted_iterations": deleted[:MAX_LISTED],
        "skipped": skipped[:MAX_LISTED],
        "deleted_count": len(deleted),
        "skipped_count": len(skipped),
    }
