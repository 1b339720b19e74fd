"""Which errors each step of the workflow retries, and how: one table (`STEP_RETRIES`), by error class.

An error that can heal is retried with exponential backoff and full jitter (a random wait between 0 and
the exponential interval, so that steps failing together, such as the evaluation Map's shards, do not
retry together); an error that cannot heal is never retried here: it goes to the step's Catch (the
failure path) at once. The classes:

- Lambda's transient service errors and its throttling (every Lambda step). Step Functions reports
  those as `Lambda.<Exception>` errors, and AWS recommends retrying them (Handle Lambda service
  exceptions, https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html):
  the four service exceptions with `"IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2`, and
  "When Lambda hits the maximum number of invocations, the error is `Lambda.TooManyRequestsException`"
  (a new account may run as few as 10 functions at once; the evaluation Map alone runs
  `evaluation.concurrency` Score shards).
- A transient AWS error inside a handler (`HANDLER_TRANSIENT`): an AWS call that still failed after
  boto3's own ten adaptive attempts with a 5xx, a throttling error or a broken connection. A function's
  exception reaches Step Functions as Error = its class name (the Python runtime's `errorType`), and
  botocore raises a modelled error as a class named after its code (`InternalServerException`,
  DynamoDB's `InternalServerError`, ...), so the class names below are the errors. Retried for minutes
  (a regional hiccup), and only on the steps `IDEMPOTENT_STEPS` lists (each with why it is safe to run
  again). An unmodelled error (S3's `InternalError`, `SlowDown`, say) is a bare `ClientError`, which cannot
  be told from a refusal: the data-access layer raises the ones that can heal as `TransientServiceError`
  (dal/clients.py), retried here; any other bare `ClientError` is not.
- Bedrock refusing a handler for rate or quota (`BedrockThrottled`, raised by `dal.bedrock`).
- Fine-tune's own errors (`Bedrock.<Exception>` from the optimized integration): throttling and quota
  (few jobs may run at once) and 5xx (`Bedrock.InternalServerException`,
  `Bedrock.ServiceUnavailableException`), on the create or on a status poll. A retried Fine-tune is
  safe: it passes the job's deterministic name as `ClientRequestToken`, so the create returns the job
  the first attempt started and the retry waits for it; a create that still conflicts finds the job by
  its name and waits for it (stacks/workflow/fine_tune.py).
- Finish holds the lineage's lock until it succeeds and is safe to repeat: any error.

Never retried (they cannot heal): `ValidationException`, `AccessDeniedException`,
`ResourceNotFoundException`, `ConflictException` (Fine-tune catches it and finds its own job instead),
`States.Permissions`, a handler's own refusals (`LockNotHeldError`, `EvaluationSetError`, ...),
`Sandbox.Timedout` (a step that ran out of time would run out again), `States.DataLimitExceeded`. No Task
state has a `TimeoutSeconds` of its own except Wait for approval, whose `States.Timeout` is the
reviewer's silence (a rejection), not a fault: so no step retries `States.Timeout`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct


@dataclass(frozen=True)
class Retrier:
    """One Retry entry: the errors of a class and its backoff (seconds)."""

    errors: tuple[str, ...]
    interval: int
    backoff_rate: float
    max_attempts: int
    max_delay: int | None = None
    jitter: bool = True

    def apply(self, state: sfn.TaskStateBase | sfn.CustomState) -> None:
        state.add_retry(
            errors=list(self.errors),
            interval=cdk.Duration.seconds(self.interval),
            backoff_rate=self.backoff_rate,
            max_attempts=self.max_attempts,
            max_delay=cdk.Duration.seconds(self.max_delay) if self.max_delay is not None else None,
            jitter_strategy=sfn.JitterType.FULL if self.jitter else None,
        )


LAMBDA_SERVICE_ERRORS = (
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
)
"""Lambda's transient service errors, as AWS's best-practice page lists them (CDK's default retry set)."""
LAMBDA_SERVICE = Retrier(LAMBDA_SERVICE_ERRORS, interval=2, backoff_rate=2, max_attempts=6)
"""AWS's recommended schedule for the service errors (with full jitter added)."""
LAMBDA_THROTTLING = Retrier(
    ("Lambda.TooManyRequestsException",), interval=2, backoff_rate=2, max_attempts=10, max_delay=120
)
"""Throttling lasts as long as the invocations holding the concurrency: a Score shard may run for minutes.
Ten attempts, each wait drawn up to 2, 4, ... 64 s then 120 s, cover up to about ten minutes of it before
the step fails into its Catch (about five on average)."""

TRANSIENT_HANDLER_ERRORS = (
    "InternalServerException",  # Bedrock, SSM (some), Step Functions
    "InternalServerError",  # DynamoDB, SSM
    "ServiceUnavailableException",  # Bedrock
    "ServiceUnavailable",
    "ThrottlingException",  # Bedrock (a handler not wrapping it in BedrockThrottled), SSM
    "ProvisionedThroughputExceededException",  # DynamoDB
    "RequestLimitExceeded",  # DynamoDB
    "EndpointConnectionError",  # botocore: the endpoint could not be reached
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "TransientServiceError",  # S3's 5xx and SlowDown, named by dal/clients.py (a bare ClientError otherwise)
)
HANDLER_TRANSIENT = Retrier(
    TRANSIENT_HANDLER_ERRORS, interval=15, backoff_rate=2, max_attempts=6, max_delay=300
)
"""Waits drawn up to 15, 30, 60, 120, 240 and 300 s: up to about thirteen minutes (six on average) of a
regional hiccup, after boto3's own retries inside each attempt."""

BEDROCK_THROTTLED_SHARD = Retrier(("BedrockThrottled",), interval=2, backoff_rate=2, max_attempts=6)
"""A burst of Score shards against a per-model quota slows the evaluation down instead of failing it."""
BEDROCK_THROTTLED = Retrier(("BedrockThrottled",), interval=10, backoff_rate=2, max_attempts=5)

BEDROCK_THROTTLING_ERRORS = (
    "Bedrock.ThrottlingException",
    "Bedrock.ServiceQuotaExceededException",
    "Bedrock.TooManyRequestsException",
)
"""What Step Functions reports when Bedrock refuses for rate or quota (few jobs may run at once)."""
FINE_TUNE_THROTTLING = Retrier(BEDROCK_THROTTLING_ERRORS, interval=60, backoff_rate=2, max_attempts=6)
BEDROCK_SERVER_ERRORS = ("Bedrock.InternalServerException", "Bedrock.ServiceUnavailableException")
FINE_TUNE_SERVER_ERRORS = Retrier(
    BEDROCK_SERVER_ERRORS, interval=30, backoff_rate=2, max_attempts=6, max_delay=600
)
"""Waits drawn up to 30 s, 1, 2, 4, 8 and 10 minutes: up to about 25 minutes (twelve on average)."""

FINISH_ANY_ERROR = Retrier((sfn.Errors.ALL,), interval=5, backoff_rate=2, max_attempts=4, jitter=False)

LAMBDA = (LAMBDA_SERVICE, LAMBDA_THROTTLING)
IDEMPOTENT_STEPS: dict[str, str] = {
    "validate": "copies one object version to fixed keys and records the same fields again",
    "begin": "derives the same names and sets the same iteration fields; checks the lock each time",
    "begin_rollback": "reads only",
    "collect_metrics": "reads the job and its CSVs, sets the same iteration fields",
    "plan_evaluation": "reads the set, overwrites the round's shard list",
    "provision_capacity": "names double as client request tokens: a retry returns the same capacity",
    "capacity_status": "reads only",
    "score_shard": "overwrites its own shard's answers",
    "start_managed_evaluation": "job names double as client request tokens",
    "managed_evaluation_status": "reads only",
    "aggregate_evaluation": "overwrites the round's results and sets the same scores",
    "decide": "reads the round's per-record scores; a seeded bootstrap gives the same verdict each time",
    "swap_serving": "creation idempotent by name; an update under way is not asked again",
    "promote": "a retry after the registry transaction committed only finishes the rest",
    "release_capacity": "a capacity already gone counts as deleted",
    "clean_up": (
        "raises only from its first registry reads, before it acts; its actions (stop, delete, publish) "
        "are best effort and find what is already stopped or gone"
    ),
}
"""The Lambda steps safe to run again after a transient error part-way through, and why."""

STEP_RETRIES: dict[str, tuple[Retrier, ...]] = {
    **{step: (*LAMBDA, HANDLER_TRANSIENT) for step in IDEMPOTENT_STEPS},
    "score_shard": (*LAMBDA, HANDLER_TRANSIENT, BEDROCK_THROTTLED_SHARD),
    "start_managed_evaluation": (*LAMBDA, HANDLER_TRANSIENT, BEDROCK_THROTTLED),
    "managed_evaluation_status": (*LAMBDA, HANDLER_TRANSIENT, BEDROCK_THROTTLED),
    # Best effort by design (never raises its own errors); its failure is caught into Finish.
    "retain_models": LAMBDA,
    "finish": (*LAMBDA, FINISH_ANY_ERROR),
    "fine_tune": (FINE_TUNE_THROTTLING, FINE_TUNE_SERVER_ERRORS),
    # Reads only (stacks/workflow/fine_tune.py): the job a conflicting create found, polled until it ends.
    "find_fine_tune_job": (FINE_TUNE_THROTTLING, FINE_TUNE_SERVER_ERRORS),
}
"""Each step's retriers, in order (a `States.ALL` retrier must come last); keyed by the step's function
(naming.STEPS) or, for the non-Lambda tasks that retry here, `fine_tune` and `find_fine_tune_job`."""


def add_retries(state: sfn.TaskStateBase | sfn.CustomState, step: str) -> None:
    """Add `step`'s retriers from STEP_RETRIES (a step missing from the table is a KeyError at synth)."""
    for retrier in STEP_RETRIES[step]:
        retrier.apply(state)


def lambda_step(
    scope: Construct, name: str, function: lambda_.IFunction, step: str, **props: Any
) -> tasks.LambdaInvoke:
    """A Lambda Task state returning its handler's result, retried as STEP_RETRIES says for `step`.

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
    add_retries(task, step)
    return task
