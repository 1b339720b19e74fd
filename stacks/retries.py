"""How the workflow's Lambda steps are retried: the one helper every Lambda task of the state machine uses.

Lambda can refuse an invocation for reasons that pass: a transient service error, or throttling when the
account's (or the function's) concurrent executions are exhausted; a new account may run as few as 10 at
once, and the evaluation Map alone runs `evaluation.concurrency` Score shards. Step Functions reports those
as `Lambda.<Exception>` errors, and AWS recommends retrying them (Handle Lambda service exceptions,
https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html): the four service
exceptions with `"IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2`, and, the same page says, "When
Lambda hits the maximum number of invocations, the error is `Lambda.TooManyRequestsException`".

Both retriers add full jitter (a random wait between 0 and the exponential interval), so that the Map's
concurrent shards, throttled together, do not retry together. A function's own errors (an exception, a
timeout: `Sandbox.Timedout`) are not retried here: they go to the step's Catch (the failure path), or to a
retrier of the step's own (`BedrockThrottled`).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

LAMBDA_SERVICE_ERRORS = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
]
"""Lambda's transient service errors, as AWS's best-practice page lists them (CDK's default retry set)."""
LAMBDA_THROTTLING_ERRORS = ["Lambda.TooManyRequestsException"]

SERVICE_RETRY = {"interval": cdk.Duration.seconds(2), "backoff_rate": 2, "max_attempts": 6}
"""AWS's recommended schedule for the service errors (with full jitter added)."""
THROTTLING_RETRY = {
    "interval": cdk.Duration.seconds(2),
    "backoff_rate": 2,
    "max_attempts": 10,
    "max_delay": cdk.Duration.seconds(120),
}
"""Throttling lasts as long as the invocations holding the concurrency: a Score shard may run for minutes.
Ten attempts, each wait drawn up to 2, 4, ... 64 s then 120 s, cover up to about ten minutes of it before
the step fails into its Catch (about five on average)."""


def retry_lambda_errors(task: tasks.LambdaInvoke) -> None:
    """Add the service-error and the throttling retriers (in that order, before any of the step's own)."""
    task.add_retry(errors=LAMBDA_SERVICE_ERRORS, jitter_strategy=sfn.JitterType.FULL, **SERVICE_RETRY)
    task.add_retry(errors=LAMBDA_THROTTLING_ERRORS, jitter_strategy=sfn.JitterType.FULL, **THROTTLING_RETRY)


def lambda_step(scope: Construct, name: str, function: lambda_.IFunction, **props: Any) -> tasks.LambdaInvoke:
    """A Lambda Task state returning its handler's result, retried by `retry_lambda_errors`.

    CDK's own retry (`retry_on_service_exceptions`) is replaced: it leaves out throttling and has no jitter.
    """
    task = tasks.LambdaInvoke(
        scope,
        name,
        lambda_function=function,
        payload_response_only=True,
        retry_on_service_exceptions=False,
        **props,
    )
    retry_lambda_errors(task)
    return task


def retry_bedrock_throttled(
    task: tasks.LambdaInvoke, interval_seconds: int = 10, max_attempts: int = 5
) -> None:
    """Retry a step that Bedrock refused for rate or quota (the handler raises `BedrockThrottled`), with
    exponential backoff and full jitter."""
    task.add_retry(
        errors=["BedrockThrottled"],
        interval=cdk.Duration.seconds(interval_seconds),
        backoff_rate=2,
        max_attempts=max_attempts,
        jitter_strategy=sfn.JitterType.FULL,
    )
