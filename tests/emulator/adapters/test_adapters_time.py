"""Time scaling (`adapters.time_scaling`): Waits, Retry intervals, callback Task timeouts and heartbeats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from adapter_support import (
    TIME_SCALE,
    Run,
    failed_lambda_errors,
    job_parameters,
)
from emulator_support import create_function, state_machine
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from iterft.local import adapters
from iterft.local.adapters import time_scaling
from iterft.local.bedrock import standin_backend
from iterft.local.server import EmbeddedAws

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
    assert not isinstance(states["Call"].timeout, time_scaling._ScaledTimeout)
    assert isinstance(states["Approve"].timeout, time_scaling._ScaledTimeout)
