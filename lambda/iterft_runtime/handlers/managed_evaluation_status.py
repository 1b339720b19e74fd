"""Managed evaluation status: have the round's Bedrock evaluation jobs finished?

Input `{"job_arns": [...]}` (from `$.managed_evaluation`); result `{ready, failed, reason}`, the same
shape as Capacity status, so the workflow polls both the same way: ready when every job completed,
failed as soon as one failed or was stopped. Bedrock sends no event a workflow can wait on for
evaluation jobs: they are polled. Throttling surfaces as BedrockThrottled, which the check retries.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal import bedrock
from iterft_runtime.logic.managed_evaluation import job_progress, jobs_progress
from iterft_runtime.models.steps import ManagedEvaluationStatusInput, Readiness, dump

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    progresses = []
    for job_arn in ManagedEvaluationStatusInput.model_validate(event).job_arns:
        with bedrock.throttling_retried(f"evaluation job {job_arn}"):
            job = bedrock.get_evaluation_job(job_arn)
        progresses.append(job_progress(job.name or job_arn, job.status, job.failure_messages))
    result = dump(Readiness.model_validate(jobs_progress(progresses).to_dict()))
    logger.info("managed evaluation checked", extra=result)
    return result
