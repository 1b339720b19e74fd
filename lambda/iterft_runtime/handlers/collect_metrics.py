"""Collect training metrics: the job's ARNs, duration and final losses from its output CSVs.

Result at `$.training` (Finish publishes the duration as a metric). The losses are informational
(the gate uses the evaluation), so a missing metrics file is logged and recorded as None rather
than failing a trained round.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal import bedrock, storage
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.training_metrics import final_training_loss, final_validation_loss
from iterft_runtime.models.steps import RoundState, TrainingResult, dump, required

logger = Logger()


class NoOutputModelError(RuntimeError):
    """The customization job reports no output model, so there is nothing to evaluate."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    name, iteration, begun = doc.lineage.name, doc.iteration, required(doc.round, "round")
    job = bedrock.get_customization_job(begun.job_name)
    if not job.output_model_arn:
        raise NoOutputModelError(f"job {job.name} ({job.status}) has no output model: {job.failure_message}")

    bucket, prefix = storage.split_uri(begun.output_uri)
    training_key = naming.job_training_metrics_key(prefix, job.job_id)
    training_lines = storage.iter_text_lines(bucket, training_key)
    if training_lines is None:
        logger.warning("no training metrics", extra={"uri": storage.s3_uri(bucket, training_key)})
    validation_lines = storage.iter_text_lines(bucket, naming.job_validation_metrics_key(prefix, job.job_id))
    result = dump(
        TrainingResult(
            job_arn=job.arn,
            output_model_arn=job.output_model_arn,
            training_loss=final_training_loss(training_lines, training_key)
            if training_lines is not None
            else None,
            validation_loss=final_validation_loss(validation_lines),
            training_seconds=job.training_seconds,
        )
    )
    Registry(settings.table_name()).update_iteration(name, iteration, result)
    logger.info("training metrics collected", extra={"lineage": name, "iteration": iteration, **result})
    return result
