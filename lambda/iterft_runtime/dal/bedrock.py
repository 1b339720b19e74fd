"""Amazon Bedrock calls the Lambda steps make (the workflow calls the rest itself).

Deletes and stops are idempotent: "already gone" and "already stopped" are successes, so a
retried step does not fail on its own earlier work.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from iterft_runtime.dal.clients import client, error_code
from iterft_runtime.models.capacity import Capacity, CapacityKind, CapacityStatus

IN_PROGRESS = "InProgress"
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"}
)


class BedrockThrottled(RuntimeError):
    """Bedrock refused a call for rate or quota: the state machine retries the step with backoff."""


@contextmanager
def throttling_retried(what: str) -> Iterator[None]:
    """Raise Bedrock's rate and quota refusals inside as BedrockThrottled (what the workflow retries)."""
    try:
        yield
    except ClientError as error:
        if error_code(error) in THROTTLING_CODES:
            raise BedrockThrottled(f"{what}: {error}") from error
        raise


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


def create_capacity(capacity: Capacity, tags: Mapping[str, str]) -> str:
    """Create `capacity` (its name doubles as the client request token, so a retried step gets the
    same resource back instead of a second one); its ARN."""
    bedrock = client("bedrock")
    tag_list = [{"key": key, "value": value} for key, value in tags.items()]
    if capacity.kind is CapacityKind.DEPLOYMENT:
        response = bedrock.create_custom_model_deployment(
            modelDeploymentName=capacity.name,
            modelArn=capacity.model_arn,
            clientRequestToken=capacity.name,
            tags=tag_list,
        )
        return str(response["customModelDeploymentArn"])
    request: dict[str, Any] = {
        "provisionedModelName": capacity.name,
        "modelId": capacity.model_arn,
        "modelUnits": capacity.model_units,
        "clientRequestToken": capacity.name,
        "tags": tag_list,
    }
    if capacity.commitment:
        request["commitmentDuration"] = capacity.commitment
    return str(bedrock.create_provisioned_model_throughput(**request)["provisionedModelArn"])


def describe_capacity(kind: CapacityKind, identifier: str) -> CapacityStatus | None:
    """The capacity's status and served model (by ARN or name), or None when it does not exist."""
    bedrock = client("bedrock")
    try:
        if kind is CapacityKind.DEPLOYMENT:
            response = bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=identifier)
            update = response.get("updateDetails") or {}
            return CapacityStatus(
                status=str(response.get("status", "")),
                model_arn=response.get("modelArn"),
                update_status=update.get("updateStatus"),
                failure=response.get("failureMessage"),
                arn=str(response["customModelDeploymentArn"]),
                desired_model_arn=update.get("modelArn"),
            )
        response = bedrock.get_provisioned_model_throughput(provisionedModelId=identifier)
        return CapacityStatus(
            status=str(response.get("status", "")),
            model_arn=response.get("modelArn"),
            failure=response.get("failureMessage"),
            arn=str(response["provisionedModelArn"]),
            desired_model_arn=response.get("desiredModelArn"),
        )
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def swap_model(capacity: Capacity) -> None:
    """Ask `capacity` to serve `capacity.model_arn` instead of its current model (in place)."""
    bedrock = client("bedrock")
    if capacity.kind is CapacityKind.DEPLOYMENT:
        bedrock.update_custom_model_deployment(
            customModelDeploymentIdentifier=capacity.arn, modelArn=capacity.model_arn
        )
    else:
        bedrock.update_provisioned_model_throughput(
            provisionedModelId=capacity.arn, desiredModelId=capacity.model_arn
        )


def delete_capacity(kind: CapacityKind, identifier: str) -> bool:
    """Delete a deployment or provisioned throughput (by ARN or name); False when it was already gone."""
    bedrock = client("bedrock")
    try:
        if kind is CapacityKind.DEPLOYMENT:
            bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=identifier)
        else:
            bedrock.delete_provisioned_model_throughput(provisionedModelId=identifier)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return False
        raise
    return True


def delete_custom_model(model_arn: str) -> bool:
    """Delete a custom model; False when it was already gone. Bedrock refuses one still deployed."""
    try:
        client("bedrock").delete_custom_model(modelIdentifier=model_arn)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return False
        raise
    return True


def release_capacities(capacities: Iterable[Capacity]) -> list[str]:
    """Delete each capacity (already gone counts as done); the names of those deleted now."""
    return [capacity.name for capacity in capacities if delete_capacity(capacity.kind, capacity.arn)]


@dataclass(frozen=True)
class EvaluationJob:
    name: str
    arn: str
    status: str
    failure_messages: tuple[str, ...] = ()


def create_evaluation_job(request: Mapping[str, Any]) -> str:
    """Start a Bedrock evaluation job (`logic.managed_evaluation.job_request`); its ARN. The request's
    client token is the job name, so a retried start gets the same job back."""
    return str(client("bedrock").create_evaluation_job(**request)["jobArn"])


def get_evaluation_job(job_arn: str) -> EvaluationJob:
    response = client("bedrock").get_evaluation_job(jobIdentifier=job_arn)
    return EvaluationJob(
        name=str(response.get("jobName", "")),
        arn=str(response.get("jobArn", job_arn)),
        status=str(response.get("status", "")),
        failure_messages=tuple(str(message) for message in response.get("failureMessages") or ()),
    )


def find_evaluation_job(job_name: str) -> EvaluationJob | None:
    """The evaluation job of that exact name (Get takes only an ARN, so the name is looked up), or None."""
    paginator = client("bedrock").get_paginator("list_evaluation_jobs")
    for page in paginator.paginate(nameContains=job_name):
        for summary in page.get("jobSummaries") or []:
            if summary.get("jobName") == job_name:
                return EvaluationJob(name=job_name, arn=str(summary["jobArn"]), status=str(summary["status"]))
    return None


def stop_evaluation_job(job_arn: str) -> bool:
    """Ask the job to stop; False when it had already ended (nothing to do)."""
    try:
        client("bedrock").stop_evaluation_job(jobIdentifier=job_arn)
    except ClientError as error:
        if error_code(error) in ("ValidationException", "ConflictException", "ResourceNotFoundException"):
            return False
        raise
    return True
