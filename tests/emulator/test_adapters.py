"""Each adapter over moto's internals, end to end on a tiny state machine or call.

If a moto upgrade moves or changes an internal an adapter relies on, the matching test here fails.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import emulator_fixture_handlers as handlers
import pytest
from botocore.exceptions import ClientError
from emulator_support import ROLE, create_function, create_test_role, lambda_task, state_machine
from moto import backends as moto_backends
from moto.awslambda.models import LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core import responses as moto_responses
from moto.core.responses import BaseResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3 import notifications as s3_notifications
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import Heartbeat
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import Timeout
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    CallbackPoolManager,
    HeartbeatEndpoint,
)
from moto.stepfunctions.parser.asl.eval.states import ContextObject
from moto.stepfunctions.parser.asl.parse import preprocessor
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client as sfn_boto_client
from moto.stepfunctions.parser.asl.utils import json_path

from iterft.local import adapters
from iterft.local.bedrock import install_bedrock_standin, standin_backend
from iterft.local.bedrock.routing import BedrockRuntimeStandInResponse
from iterft.local.server import EmbeddedAws

TIME_SCALE = 0.001
BUCKET = "adapter-tests"
TRAINING_RECORD = {
    "schemaVersion": "bedrock-conversation-2024",
    "system": [{"text": "You answer support questions."}],
    "messages": [
        {"role": "user", "content": [{"text": "How do I reset my password?"}]},
        {"role": "assistant", "content": [{"text": "Open settings and choose reset password."}]},
    ],
}

Run = Callable[[Any, str, dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    install_bedrock_standin()
    with EmbeddedAws(time_scale=TIME_SCALE) as embedded:
        s3 = embedded.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(
            Bucket=BUCKET, Key="train.jsonl", Body="\n".join(json.dumps(TRAINING_RECORD) for _ in range(8))
        )
        create_test_role(embedded)
        yield embedded


@pytest.fixture(scope="module")
def sfn(aws: EmbeddedAws) -> Any:
    return aws.client("stepfunctions")


def failed_task_errors(sfn: Any, execution_arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=execution_arn)["events"]
    return [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]


def failed_lambda_errors(sfn: Any, execution_arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=execution_arn)["events"]
    return [
        e["lambdaFunctionFailedEventDetails"]["error"] for e in events if e["type"] == "LambdaFunctionFailed"
    ]


def job_parameters(name: str) -> dict[str, Any]:
    return {
        "JobName": name,
        "CustomModelName": f"{name}-model",
        "RoleArn": ROLE,
        "BaseModelIdentifier": "amazon.nova-micro-v1:0:128k",
        "TrainingDataConfig": {"S3Uri": f"s3://{BUCKET}/train.jsonl"},
        "OutputDataConfig": {"S3Uri": f"s3://{BUCKET}/jobs/{name}/"},
        "HyperParameters": {"epochCount": "2", "learningRate": "0.00001"},
    }


def fine_tune_machine(sfn: Any, name: str, resource: str, retry: list[dict[str, Any]] | None = None) -> str:
    return state_machine(
        sfn,
        name,
        {
            "Fine-tune": {
                "Type": "Task",
                "Resource": resource,
                "Parameters": job_parameters(name),
                "ResultPath": "$.job",
                "Retry": retry or [],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                "End": True,
            },
            "Failed": {"Type": "Pass", "End": True},
        },
        "Fine-tune",
    )


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


# --- 3. Lambda handlers in-process ------------------------------------------------------------------


@pytest.mark.parametrize("form", ["optimized", "bare-arn"])
def test_lambda_task_runs_the_real_handler_in_process(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run, form: str
) -> None:
    function_arn = create_function(aws, f"describe-{form}", "emulator_fixture_handlers.describe_context")
    task = lambda_task(form, function_arn)
    arn = state_machine(sfn, f"lambda-{form}", {"Call": {"Type": "Task", **task, "End": True}}, "Call")

    execution = run_to_end(sfn, arn, {"key": "incoming/a.jsonl"})

    assert execution["status"] == "SUCCEEDED"
    result = execution["output"]["Payload"] if form == "optimized" else execution["output"]
    assert result["event"] == {"key": "incoming/a.jsonl"}
    assert result["function_name"] == f"describe-{form}"
    assert result["invoked_function_arn"] == function_arn.removesuffix(":$LATEST")
    assert result["memory_limit_in_mb"] == 256
    assert result["has_time_left"]


def test_lambda_exception_is_a_function_error_that_catch_matches_by_name(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run
) -> None:
    function_arn = create_function(aws, "rejecter", "emulator_fixture_handlers.reject")
    arn = state_machine(
        sfn,
        "lambda-error",
        {
            "Validate": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
                "Catch": [{"ErrorEquals": ["DatasetRejected"], "ResultPath": "$.error", "Next": "Rejected"}],
                "End": True,
            },
            "Rejected": {"Type": "Pass", "End": True},
        },
        "Validate",
    )

    execution = run_to_end(sfn, arn, {"key": "incoming/bad.jsonl"})

    assert execution["status"] == "SUCCEEDED"
    error = execution["output"]["error"]
    assert error["Error"] == "DatasetRejected"
    cause = json.loads(error["Cause"])
    assert cause["errorType"] == "DatasetRejected"
    assert cause["errorMessage"] == "dataset incoming/bad.jsonl is invalid"
    assert any("emulator_fixture_handlers.py" in frame for frame in cause["stackTrace"])


def test_lambda_with_an_unimportable_handler_reports_the_runtime_error(aws: EmbeddedAws) -> None:
    create_function(aws, "missing", "no_such_module.handler")

    response = aws.client("lambda").invoke(FunctionName="missing", Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.ImportModuleError"


# --- 4. SQS event sources ---------------------------------------------------------------------------


def test_sqs_event_source_runs_off_the_senders_thread_and_redelivers_batch_item_failures(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIXTURE_BUCKET", BUCKET)
    sqs = aws.client("sqs")
    dlq_url = sqs.create_queue(QueueName="consume-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName="consume",
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    create_function(aws, "consumer", "emulator_fixture_handlers.consume_batch")
    aws.client("lambda").create_event_source_mapping(
        EventSourceArn=queue_arn,
        FunctionName="consumer",
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )

    for body in (
        {"id": "ok", "fail_times": 0},
        {"id": "flaky", "fail_times": 1},
        {"id": "bad", "fail_times": 9},
    ):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))
    adapters.wait_for_quiet(timeout=30)

    attempts = {call["id"]: call["attempt"] for call in handlers.calls("consume_batch")}
    assert attempts == {"ok": 1, "flaky": 2, "bad": 2}  # bad: maxReceiveCount 2, then the DLQ
    assert all(call["thread"].startswith("sqs-poller-") for call in handlers.calls("consume_batch"))
    record = handlers.calls("consume_batch")[0]["record"]
    assert record["eventSourceARN"] == queue_arn
    assert record["eventSource"] == "aws:sqs"
    assert {"messageId", "receiptHandle", "body", "attributes", "md5OfBody"} <= set(record)
    redelivered = [
        c["record"] for c in handlers.calls("consume_batch") if c["id"] == "flaky" and c["attempt"] == 2
    ]
    assert redelivered[0]["attributes"]["ApproximateReceiveCount"] == "2"
    consumed = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="consumed/")["Contents"]
    assert sorted(item["Key"] for item in consumed) == ["consumed/flaky", "consumed/ok"]
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(message["Body"])["id"] for message in dead] == ["bad"]


# --- 5. time scaling --------------------------------------------------------------------------------


def test_waits_and_retries_are_scaled(aws: EmbeddedAws, sfn: Any, run_to_end: Run) -> None:
    function_arn = create_function(aws, "always-rejects", "emulator_fixture_handlers.reject")
    arn = state_machine(
        sfn,
        "scaled-time",
        {
            "Pause": {"Type": "Wait", "Seconds": 30, "Next": "Hold"},
            "Hold": {"Type": "Wait", "SecondsPath": "$.hold", "Next": "Retried"},
            "Retried": {
                "Type": "Task",
                "Resource": function_arn,
                "Retry": [{"ErrorEquals": ["DatasetRejected"], "IntervalSeconds": 20, "MaxAttempts": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}],
                "End": True,
            },
            "Done": {"Type": "Succeed"},
        },
        "Pause",
    )

    # Unscaled this takes 30 + 600 + 20 + 40 seconds: past the hang guard, so the test would fail.
    execution = run_to_end(sfn, arn, {"hold": 600, "key": "x"})

    assert execution["status"] == "SUCCEEDED"
    assert execution["output"]["error"]["Error"] == "DatasetRejected"
    assert failed_lambda_errors(sfn, execution["executionArn"]) == ["DatasetRejected"] * 3


LONG_WAIT_SCALE = 0.00001
"""72 simulated hours in 2.6 real seconds."""
APPROVAL_TIMEOUT_SECONDS = 72 * 3600
YEAR_SECONDS = 365 * 24 * 3600


@pytest.fixture
def long_waits_scaled() -> Iterator[None]:
    adapters.install_adapters(LONG_WAIT_SCALE)
    try:
        yield
    finally:
        adapters.install_adapters(TIME_SCALE)


def _timed_out_machine(sfn: Any, name: str, task: dict[str, Any]) -> str:
    return state_machine(
        sfn,
        name,
        {
            "Wait for answer": {
                **task,
                "Type": "Task",
                "ResultPath": "$.answer",
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}],
                "End": True,
            },
            "Done": {"Type": "Succeed"},
        },
        "Wait for answer",
    )


def _scheduled(sfn: Any, execution_arn: str) -> dict[str, Any]:
    events = sfn.get_execution_history(executionArn=execution_arn)["events"]
    [scheduled] = [e["taskScheduledEventDetails"] for e in events if e["type"] == "TaskScheduled"]
    return scheduled


def _token_task(queue_url: str, **timing: Any) -> dict[str, Any]:
    return {
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
        **timing,
    }


def test_a_72_hour_approval_timeout_is_scaled_like_a_wait(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run, long_waits_scaled: None
) -> None:
    """The approval state's shape: sqs:sendMessage.waitForTaskToken with TimeoutSecondsPath, nobody answers.

    Relies on StateTaskService.from_state_props setting `timeout`/`heartbeat` (common/timeouts/) that
    ExecutionState._evaluate_with_timeout and StateTaskServiceCallback._eval_integration_pattern evaluate.
    """
    queue_url = aws.client("sqs").create_queue(QueueName="approvals")["QueueUrl"]
    arn = _timed_out_machine(sfn, "approval-timeout", _token_task(queue_url, TimeoutSecondsPath="$.timeout"))

    execution = run_to_end(sfn, arn, {"timeout": APPROVAL_TIMEOUT_SECONDS})  # unscaled: 72 hours

    assert execution["status"] == "SUCCEEDED"
    assert execution["output"]["error"]["Error"] == "States.Timeout"
    # The history shows the declared timeout, as AWS records it.
    assert _scheduled(sfn, execution["executionArn"])["timeoutInSeconds"] == APPROVAL_TIMEOUT_SECONDS


def test_a_task_heartbeat_is_scaled_like_a_wait(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run, long_waits_scaled: None
) -> None:
    queue_url = aws.client("sqs").create_queue(QueueName="heartbeats")["QueueUrl"]
    # A year's TimeoutSeconds is 315 s scaled, past the hang guard: ending first, the heartbeat ended it.
    task = _token_task(queue_url, TimeoutSeconds=YEAR_SECONDS, HeartbeatSeconds=3600)
    arn = _timed_out_machine(sfn, "heartbeat-timeout", task)

    execution = run_to_end(sfn, arn, {})  # unscaled: an hour without a heartbeat

    assert execution["status"] == "SUCCEEDED"
    # AWS says States.HeartbeatTimeout; moto's HeartbeatTimeoutError is a TimeoutError: States.Timeout.
    assert execution["output"]["error"]["Error"] in ("States.HeartbeatTimeout", "States.Timeout")
    scheduled = _scheduled(sfn, execution["executionArn"])
    assert (scheduled["timeoutInSeconds"], scheduled["heartbeatInSeconds"]) == (YEAR_SECONDS, 3600)


def test_a_sync_task_timeout_is_scaled_like_a_wait(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run, long_waits_scaled: None
) -> None:
    standin = standin_backend(aws.account_id, aws.region)
    standin.set_job_polls_in_progress(10**9)  # the job never ends: only the state's timeout can
    try:
        task = {
            "Resource": "arn:aws:states:::bedrock:createModelCustomizationJob.sync",
            "Parameters": job_parameters("sync-timeout"),
            "TimeoutSeconds": APPROVAL_TIMEOUT_SECONDS,
        }
        arn = _timed_out_machine(sfn, "sync-timeout", task)

        execution = run_to_end(sfn, arn, {})  # unscaled: 72 hours

        assert execution["status"] == "SUCCEEDED"
        assert execution["output"]["error"]["Error"] == "States.Timeout"
    finally:
        standin.set_job_polls_in_progress(0)


def test_request_response_task_timeouts_stay_in_real_seconds(aws: EmbeddedAws) -> None:
    """A Lambda's handler runs in real time: scaling its state's 60 s would time it out at once."""
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                "TimeoutSeconds": 60,
                "End": True,
            },
            "Approve": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": "q", "MessageBody.$": "$$.Task.Token"},
                "TimeoutSeconds": 60,
                "End": True,
            },
        },
    }
    program, _ = AmazonStateLanguageParser.parse(json.dumps(definition))
    states = program.states.states  # type: ignore[attr-defined]
    assert not isinstance(states["Call"].timeout, adapters._ScaledTimeout)
    assert isinstance(states["Approve"].timeout, adapters._ScaledTimeout)


# --- 7. S3 events to EventBridge --------------------------------------------------------------------


def test_s3_events_reach_eventbridge_in_the_shape_aws_sends(aws: EmbeddedAws) -> None:
    s3, sqs, events = aws.client("s3"), aws.client("sqs"), aws.client("events")
    s3.create_bucket(Bucket="events-bucket")
    s3.put_bucket_versioning(Bucket="events-bucket", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket="events-bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    queue_url = sqs.create_queue(QueueName="s3-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["events-bucket"]}},
    }
    events.put_rule(Name="uploads", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="uploads", Targets=[{"Id": "queue", "Arn": queue_arn}])

    first = s3.put_object(Bucket="events-bucket", Key="incoming/x/a b.jsonl", Body=b"{}")
    s3.put_object(Bucket="events-bucket", Key="incoming/x/a b.jsonl", Body=b"{}\n")

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    first_event, second_event = (json.loads(message["Body"]) for message in messages)
    assert first_event["detail-type"] == "Object Created"
    assert first_event["time"].endswith("Z")
    obj = first_event["detail"]["object"]
    assert obj == {
        "key": "incoming/x/a b.jsonl",
        "size": 2,
        "etag": first["ETag"].strip('"'),
        "version-id": first["VersionId"],
        "sequencer": obj["sequencer"],
    }
    assert first_event["detail"]["reason"] == "PutObject"
    assert first_event["id"] != second_event["id"]
    assert second_event["detail"]["object"]["sequencer"] > obj["sequencer"]


# --- 6. per-request work remembered ----------------------------------------------------------------


def test_backend_for_a_host_is_worked_out_once(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    app = DomainDispatcherApplication(create_backend_app)
    host = "bedrock-runtime.us-east-1.amazonaws.com"
    assert app.get_backend_for_host(host) == "bedrockruntime"
    monkeypatch.setattr(moto_backends, "list_of_moto_modules", lambda: pytest.fail("worked out again"))
    assert app.get_backend_for_host(host) == "bedrockruntime"


def test_runtime_and_control_plane_requests_still_reach_their_services(aws: EmbeddedAws) -> None:
    """Both signed `bedrock`: the runtime shortcut and moto's own inference for the control plane."""
    reply = aws.client("bedrock-runtime").converse(
        modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "Hello?"}]}]
    )
    assert reply["output"]["message"]["role"] == "assistant"
    assert "modelSummaries" in aws.client("bedrock").list_custom_models()
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        aws.client("bedrock").get_custom_model_deployment(customModelDeploymentIdentifier="missing")


def test_bedrock_runtime_paths_begin_where_no_other_bedrock_signed_service_goes() -> None:
    """What makes the runtime shortcut safe: no other service signed `bedrock` shares a first segment."""
    session = botocore.session.get_session()
    runtime = adapters._runtime_first_segments()
    assert {"model", "guardrail", "async-invoke"} <= runtime
    others = [
        name
        for name in session.get_available_services()
        if name != "bedrock-runtime" and session.get_service_model(name).signing_name == "bedrock"
    ]
    assert {"bedrock", "bedrock-agent"} <= set(others)
    for name in others:
        model = session.get_service_model(name)
        segments = {
            adapters._first_segment(model.operation_model(op).http["requestUri"])
            for op in model.operation_names
        }
        assert not segments & runtime, name


def test_step_functions_tasks_reuse_one_client_per_service_and_endpoint(aws: EmbeddedAws) -> None:
    lambda_client = sfn_boto_client.boto_client_for(region="us-east-1", service="lambda")
    assert sfn_boto_client.boto_client_for(region="us-east-1", service="lambda") is lambda_client
    assert sfn_boto_client.boto_client_for(region="us-east-1", service="s3") is not lambda_client
    assert lambda_client.meta.config.retries["total_max_attempts"] == 1  # moto's own settings kept
    assert lambda_client.list_functions()["Functions"] is not None


def test_parsed_json_paths_and_method_names_are_cached(aws: EmbeddedAws) -> None:
    assert json_path.parse("$.shard.index") is json_path.parse("$.shard.index")
    assert json_path.extract_json("$.shard.index", {"shard": {"index": 3}}) == 3
    names = moto_responses.method_names_from_class(BedrockRuntimeStandInResponse)
    assert {"converse", "invoke_model"} <= names
    assert moto_responses.method_names_from_class(BedrockRuntimeStandInResponse) is names


# --- install / uninstall ----------------------------------------------------------------------------


def test_every_patched_internal_exists_in_this_moto() -> None:
    """The names each adapter replaces or reads; a moto upgrade that moves one fails here first."""
    assert callable(preprocessor.state_task_for)
    assert "function_name" in inspect.signature(LambdaSimpleBackend.invoke).parameters
    assert callable(LambdaBackend.create_event_source_mapping)
    assert isinstance(state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK, float)
    assert callable(retrier_decl.time.sleep)
    assert callable(WaitFunction._wait_interval)
    assert callable(s3_notifications._send_event_bridge_message)
    assert callable(s3_notifications._detail_type)
    assert callable(DomainDispatcherApplication.get_backend_for_host)
    assert "path" in inspect.signature(DomainDispatcherApplication.infer_service_region_host).parameters
    assert callable(BaseResponse._get_action)
    assert callable(moto_responses.method_names_from_class)
    assert callable(sfn_boto_client.boto3.client)
    assert callable(json_path.parse)
    assert callable(StateTaskService.from_state_props)
    assert callable(StateTaskService._before_eval_execution)
    assert "timeout" in inspect.signature(CallbackEndpoint.wait).parameters
    assert "heartbeat_seconds" in inspect.signature(HeartbeatEndpoint.__init__).parameters
    assert callable(Timeout._eval_body) and callable(Heartbeat._eval_body)
    # BedrockCustomizationJobTask gives each attempt a fresh callback endpoint.
    assert (
        "state_credentials"
        in inspect.signature(
            state_task_service_callback.StateTaskServiceCallback._eval_integration_pattern
        ).parameters
    )
    assert callable(ContextObject.update_task_token)
    assert callable(CallbackPoolManager.add)


def test_installing_again_only_changes_the_time_scale(aws: EmbeddedAws) -> None:
    patched = (
        preprocessor.state_task_for,
        LambdaSimpleBackend.invoke,
        retrier_decl.time,
        WaitFunction._wait_interval,
    )
    try:
        adapters.install_adapters(0.25)
        assert (
            preprocessor.state_task_for,
            LambdaSimpleBackend.invoke,
            retrier_decl.time,
            WaitFunction._wait_interval,
        ) == patched
        assert adapters.scaled(10) == 2.5
        assert pytest.approx(0.125) == state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK
    finally:
        adapters.install_adapters(TIME_SCALE)
