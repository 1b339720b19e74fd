"""The poll loop: check a status until it is ready, failed, or out of checks.

Bedrock sends no events for custom model deployments, provisioned throughput or evaluation jobs, so
their status is polled by a Lambda step (`lambda_poll`); a customization job found after a conflicting
create is polled by an SDK read (stacks/workflow/fine_tune.py). Every such wait in the round is one `Poll`.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.workflow.steps import Catchable, Fragment, Steps

CAPACITY_POLL_INTERVAL = cdk.Duration.seconds(30)
CAPACITY_MAX_POLLS = 120
"""An hour of polling: capacity still not serving then is treated as failed (and deleted), so a stuck
deployment or throughput can neither loop until the execution's history limit nor keep the lineage
locked. (Bedrock sends no events for deployments or provisioned throughput: they must be polled.)"""


class Poll(Fragment):
    """`Start <label> polls`, then `check` until `ready`: then `then`. `failed`, or not ready after
    `max_polls` checks `interval` apart, puts `$.error` (`errors`: the failed and the timed-out error
    names; `failed_cause` and the string at `status` say why) and goes to `on_failure`; so does a check
    that fails past its retries.

    Checks first, waits after: what is already done (an adopted capacity) costs no wait. The bound keeps
    every wait inside the execution's history limit and the lineage's lock from being held forever.
    """

    def __init__(
        self,
        scope: Construct,
        label: str,
        check: Catchable,
        *,
        ready: sfn.Condition,
        failed: sfn.Condition,
        status: str,
        failed_cause: str,
        errors: tuple[str, str],
        interval: cdk.Duration,
        max_polls: int,
        waiting_for: str,
        then: sfn.IChainable,
        on_failure: sfn.IChainable,
    ) -> None:
        title = label[0].upper() + label[1:]
        super().__init__(scope, f"{title} poll")
        failed_error, timeout_error = errors
        start = sfn.Pass(
            self,
            f"Start {label} polls",
            result=sfn.Result.from_object({"polls": 0}),
            result_path="$.polls",
        )
        check.add_catch(on_failure, errors=[sfn.Errors.ALL], result_path="$.error")
        is_ready = sfn.Choice(self, f"{title} ready?")
        has_failed = sfn.Pass(
            self,
            f"{title} failed",
            parameters={"Error": failed_error, "Cause": failed_cause},
            result_path="$.error",
        )
        timed_out = sfn.Pass(
            self,
            f"{title} timed out",
            parameters={
                "Error": timeout_error,
                "Cause": sfn.JsonPath.format(
                    f"not {waiting_for} after {max_polls} checks {interval.to_seconds()} s apart: {{}}",
                    sfn.JsonPath.string_at(status),
                ),
            },
            result_path="$.error",
        )
        count = sfn.Pass(
            self,
            f"Count {label} poll",
            parameters={"polls": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.polls.polls"), 1)},
            result_path="$.polls",
        )
        wait = sfn.Wait(self, f"Wait for {label}", time=sfn.WaitTime.duration(interval))

        start.next(check).next(is_ready)
        is_ready.when(ready, then)
        is_ready.when(failed, has_failed)
        is_ready.when(sfn.Condition.number_greater_than_equals("$.polls.polls", max_polls), timed_out)
        is_ready.otherwise(count)
        count.next(wait).next(check)
        has_failed.next(on_failure)
        timed_out.next(on_failure)
        self._entered_at(start)


def lambda_poll(
    scope: Construct,
    label: str,
    steps: Steps,
    step: str,
    payload: dict[str, Any],
    *,
    result: str,
    errors: tuple[str, str],
    interval: cdk.Duration,
    max_polls: int,
    waiting_for: str,
    then: sfn.IChainable,
    on_failure: sfn.IChainable,
) -> Poll:
    """A `Poll` whose check is `Check <label>`, the Lambda `step` with `payload`, answering
    `{ready, failed, reason}` at `result`."""
    check = steps.invoke(scope, f"Check {label}", step, result, payload=sfn.TaskInput.from_object(payload))
    return Poll(
        scope,
        label,
        check,
        ready=sfn.Condition.boolean_equals(f"{result}.ready", True),
        failed=sfn.Condition.boolean_equals(f"{result}.failed", True),
        status=f"{result}.reason",
        failed_cause=sfn.JsonPath.string_at(f"{result}.reason"),
        errors=errors,
        interval=interval,
        max_polls=max_polls,
        waiting_for=waiting_for,
        then=then,
        on_failure=on_failure,
    )


def until_serving(
    scope: Construct,
    label: str,
    steps: Steps,
    capacities: str,
    *,
    then: sfn.IChainable,
    on_failure: sfn.IChainable,
) -> Poll:
    """Check the capacities at `capacities` until each serves its model: then `then`. Failed, or not
    serving after CAPACITY_MAX_POLLS checks, puts `$.error` and goes to `on_failure`."""
    return lambda_poll(
        scope,
        label,
        steps,
        "capacity_status",
        {"capacities": sfn.JsonPath.list_at(capacities)},
        result="$.capacity_check",
        errors=("CapacityFailed", "CapacityTimeout"),
        interval=CAPACITY_POLL_INTERVAL,
        max_polls=CAPACITY_MAX_POLLS,
        waiting_for="serving",
        then=then,
        on_failure=on_failure,
    )
