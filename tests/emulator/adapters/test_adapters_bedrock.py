"""Bedrock Task states (`iterft.local.adapters.bedrock_tasks`, `bedrock_casing`): the optimized
integration and its `.sync` poll, and `aws-sdk:bedrock:*`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from adapter_support import (
    BUCKET,
    Run,
    failed_task_errors,
    fine_tune_machine,
    job_parameters,
)
from botocore.exceptions import ClientError
from emulator_support import state_machine

from iterft.local.bedrock import standin_backend
from iterft.local.server import EmbeddedAws

# --- 1. Bedrock optimized integration ---------------------------------------------------------------


def test_bedrock_sync_returns_the_completed_job_in_pascal_case(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run
) -> None:
    arn = fine_tune_machine(sfn, "sync-ok", "arn:aws:states:::bedrock:createModelCustomizationJob.sync")

    execution = run_to_end(sfn, arn, {})

    assert execution["status"] == "SUCCEEDED"
    job = execution["output"]["job"]
    assert "error" not in execution["output"]
    assert job["Status"] == "Completed"
    assert job["JobName"] == "sync-ok"
    assert job["OutputModelArn"].startswith("arn:aws:bedrock:us-east-1:123456789012:custom-model/")
    assert job["TrainingDataConfig"] == {"S3Uri": f"s3://{BUCKET}/train.jsonl"}
    assert job["HyperParameters"] == {"epochCount": "2", "learningRate": "0.00001"}  # map keys untouched
    assert job["CreationTime"].endswith("Z") and "T" in job["CreationTime"]
    # The service received the API's camelCase members: the job it holds answers by its name.
    described = aws.client("bedrock").get_model_customization_job(jobIdentifier="sync-ok")
    assert described["hyperParameters"] == {"epochCount": "2", "learningRate": "0.00001"}


def test_bedrock_request_response_returns_the_job_arn_only(sfn: Any, run_to_end: Run) -> None:
    arn = fine_tune_machine(sfn, "submit-only", "arn:aws:states:::bedrock:createModelCustomizationJob")

    execution = run_to_end(sfn, arn, {})

    assert execution["status"] == "SUCCEEDED"
    assert set(execution["output"]["job"]) == {"JobArn"}


def test_bedrock_sync_failure_is_a_task_failure_carrying_the_failure_message(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run
) -> None:
    standin_backend(aws.account_id, aws.region).fail_next_job("sync-fails", "Data validation failed: line 3")
    arn = fine_tune_machine(sfn, "sync-fails", "arn:aws:states:::bedrock:createModelCustomizationJob.sync")

    execution = run_to_end(sfn, arn, {})

    assert execution["status"] == "SUCCEEDED"  # through the Catch
    error = execution["output"]["error"]
    assert error["Error"] == "States.TaskFailed"
    cause = json.loads(error["Cause"])
    assert cause["Status"] == "Failed"
    assert cause["FailureMessage"] == "Data validation failed: line 3"


def test_bedrock_throttling_surfaces_as_bedrock_error_and_is_retried(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run
) -> None:
    standin_backend(aws.account_id, aws.region).throttle_next("CreateModelCustomizationJob", times=2)
    retry = [{"ErrorEquals": ["Bedrock.ThrottlingException"], "IntervalSeconds": 60, "MaxAttempts": 3}]
    arn = fine_tune_machine(
        sfn, "sync-throttled", "arn:aws:states:::bedrock:createModelCustomizationJob.sync", retry
    )

    execution = run_to_end(sfn, arn, {})

    assert execution["status"] == "SUCCEEDED"
    assert execution["output"]["job"]["Status"] == "Completed"
    assert failed_task_errors(sfn, execution["executionArn"]) == ["Bedrock.ThrottlingException"] * 2


def test_a_5xx_on_a_sync_poll_fails_the_attempt_and_a_retry_waits_for_the_same_job(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run
) -> None:
    """A poll's InternalServerException fails the attempt as `Bedrock.InternalServerException` (the
    assumption docs/embedded-default.md states); the retried create, with the job's client token, gets the
    same job back and the new attempt waits for it (a fresh callback endpoint, not moto's interrupted one)."""
    standin = standin_backend(aws.account_id, aws.region)
    standin.throttle_next("GetModelCustomizationJob", 1, "InternalServerException")
    retry = [{"ErrorEquals": ["Bedrock.InternalServerException"], "IntervalSeconds": 30, "MaxAttempts": 2}]
    arn = state_machine(
        sfn,
        "sync-poll-500",
        {
            "Fine-tune": {
                "Type": "Task",
                "Resource": "arn:aws:states:::bedrock:createModelCustomizationJob.sync",
                "Parameters": {**job_parameters("sync-poll-500"), "ClientRequestToken": "sync-poll-500"},
                "ResultPath": "$.job",
                "Retry": retry,
                "End": True,
            }
        },
        "Fine-tune",
    )

    execution = run_to_end(sfn, arn, {})

    assert execution["status"] == "SUCCEEDED"
    assert execution["output"]["job"]["Status"] == "Completed"
    assert failed_task_errors(sfn, execution["executionArn"]) == ["Bedrock.InternalServerException"]
    jobs = aws.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"]
    assert [job["jobName"] for job in jobs].count("sync-poll-500") == 1


def test_bedrock_rejects_wait_for_task_token_like_aws(sfn: Any) -> None:
    with pytest.raises(ClientError, match=r"Bedrock supports request-response and \.sync only"):
        fine_tune_machine(
            sfn, "token", "arn:aws:states:::bedrock:createModelCustomizationJob.waitForTaskToken"
        )


# --- 2. aws-sdk:bedrock -----------------------------------------------------------------------------


def test_aws_sdk_bedrock_converts_parameters_and_responses(sfn: Any, run_to_end: Run) -> None:
    submit = fine_tune_machine(sfn, "sdk-job", "arn:aws:states:::bedrock:createModelCustomizationJob.sync")
    assert run_to_end(sfn, submit, {})["status"] == "SUCCEEDED"
    arn = state_machine(
        sfn,
        "sdk-get",
        {
            "Get": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:bedrock:getModelCustomizationJob",
                "Parameters": {"JobIdentifier.$": "$.job"},
                "ResultPath": "$.described",
                "Next": "Missing",
            },
            "Missing": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:bedrock:getCustomModel",
                "Parameters": {"ModelIdentifier": "no-such-model"},
                "Catch": [
                    {
                        "ErrorEquals": ["Bedrock.ResourceNotFoundException"],
                        "ResultPath": "$.error",
                        "Next": "Done",
                    }
                ],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
        "Get",
    )

    execution = run_to_end(sfn, arn, {"job": "sdk-job"})  # describe_execution serialises the output

    assert execution["status"] == "SUCCEEDED"
    described = execution["output"]["described"]
    assert described["Status"] == "Completed"
    assert described["OutputDataConfig"] == {"S3Uri": f"s3://{BUCKET}/jobs/sdk-job/"}
    assert isinstance(described["CreationTime"], str) and described["CreationTime"].endswith("Z")
    assert execution["output"]["error"]["Error"] == "Bedrock.ResourceNotFoundException"
