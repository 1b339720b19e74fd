"""Amazon Bedrock calls the Lambda steps make (the workflow calls the rest itself).

Deletes and stops are idempotent: "already gone" and "already stopped" are successes, so a
retried step does not fail on its own earlier work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from iterft_runtime.dal.clients import client, error_code

IN_PROGRESS = "InProgress"


@dataclass(frozen=True)
class CustomizationJob:
    name: str
    arn: str
    status: str
    output_model_arn: str | None
    failure_message: str | None
    training_seconds: float | None = None
    """From the job's creation to its end; None while it runs."""

    @property
    def job_id(self) -> str:
        """The last segment of the job ARN: the `model-customization-job-<id>` output folder's id."""
        return self.arn.rsplit("/", 1)[-1]


def get_customization_job(job_name: str) -> CustomizationJob:
    response = client("bedrock").get_model_customization_job(jobIdentifier=job_name)
    return CustomizationJob(
        name=str(response.get("jobName", job_name)),
        arn=str(response["jobArn"]),
        status=str(response.get("status", "")),
        output_model_arn=response.get("outputModelArn"),
        failure_message=response.get("failureMessage"),
        training_seconds=_seconds_between(response.get("creationTime"), response.get("endTime")),
    )


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def find_customization_job(job_name: str) -> CustomizationJob | None:
    """The job, or None when it was never created."""
    try:
        return get_customization_job(job_name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def stop_customization_job(job_name: str) -> bool:
    """Ask the job to stop; False when it had already finished or stopped (nothing to do)."""
    try:
        client("bedrock").stop_model_customization_job(jobIdentifier=job_name)
    except ClientError as error:
        if error_code(error) in ("ValidationException", "ConflictException", "ResourceNotFoundException"):
            return False
        raise
    return True


def converse(model_id: str, prompt: str, max_tokens: int) -> str:
    """One user turn, greedy decoding (temperature 0, so scores are repeatable); the reply's text."""
    response = client("bedrock-runtime").converse(
        modelId=model_id,
        messages=[{"role": "user", "content": [{"text": prompt}]}],
        inferenceConfig={"maxTokens": max_tokens, "temperature": 0.0},
    )
    blocks = response.get("output", {}).get("message", {}).get("content", [])
    return "".join(block.get("text", "") for block in blocks if isinstance(block, dict))


def find_deployment_arn(name: str) -> str | None:
    """The ARN of the custom model deployment named `name` (Get accepts a name), or None."""
    try:
        response = client("bedrock").get_custom_model_deployment(customModelDeploymentIdentifier=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    return str(response["customModelDeploymentArn"])


def delete_deployment(deployment_arn: str) -> bool:
    """Delete a custom model deployment; False when it was already gone."""
    try:
        client("bedrock").delete_custom_model_deployment(customModelDeploymentIdentifier=deployment_arn)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return False
        raise
    return True
