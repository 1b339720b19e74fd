"""Managed evaluation status: has the round's Bedrock evaluation job finished?

Input `{"job_arn"}` (from `$.managed_evaluation`); result `{ready, failed, reason}`, the same shape
as Capacity status, so the workflow polls both the same way. Bedrock sends no event a workflow can
wait on for evaluation jobs: they are polled.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal import bedrock
from iterft_runtime.logic.managed_evaluation import job_progress

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = bedrock.get_evaluation_job(event["job_arn"])
    result = job_progress(job.name or event["job_arn"], job.status, job.failure_messages).to_dict()
    logger.info("managed evaluation checked", extra={"status": job.status, **result})
    return result
