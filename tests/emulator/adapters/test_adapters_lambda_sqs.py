"""Lambda handlers in-process (`adapters.lambda_invoke`) and SQS event sources polled off the sender's
thread (`adapters.sqs_event_sources`).
"""

from __future__ import annotations

import json
from typing import Any

import emulator_fixture_handlers as handlers
import pytest
from adapter_support import (
    BUCKET,
    Run,
)
from emulator_support import create_function, lambda_task, state_machine

from iterft.local import adapters
from iterft.local.server import EmbeddedAws

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
