"""Step 9 of the round, where every round ends: retention, Finish, and the next queued upload."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.workflow.steps import Fragment, Steps


class Finish(Fragment):
    """Apply retention -> Finish iteration -> Start next queued upload -> Round failed? -> the end.

    Retention (delete custom models beyond the lineage's retention) is best effort: its failure goes on
    to Finish. Finish (record, unlock, notify) holds the lineage's lock until it succeeds and is safe to
    repeat: any error is retried (stacks/retries.py), so a passing fault cannot leave the lineage locked.
    Then the trigger is asked to start the lineage's next queued upload.
    """

    def __init__(self, scope: Construct, construct_id: str, steps: Steps) -> None:
        super().__init__(scope, construct_id)
        retain = steps.invoke(self, "Apply retention", "retain_models", "$.retention")
        finish = steps.invoke(self, "Finish iteration", "finish", "$.finish")
        start_next = tasks.SqsSendMessage(
            self,
            "Start next queued upload",
            queue=steps.upload_queue.queue,
            message_body=sfn.TaskInput.from_object(
                {"kind": "dispatch", "lineage": sfn.JsonPath.string_at("$.lineage.name")}
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        start_next.add_retry(
            errors=[sfn.Errors.TASKS_FAILED], interval=cdk.Duration.seconds(2), max_attempts=3
        )
        round_failed = sfn.Choice(self, "Round failed?")
        failed = sfn.Fail(self, "Round failed", error="RoundFailed", cause_path="$.outcome.reason")
        succeeded = sfn.Succeed(self, "Round complete")

        retain.next(finish)
        retain.add_catch(finish, errors=[sfn.Errors.ALL], result_path="$.retention")
        finish.next(start_next).next(round_failed)
        round_failed.when(sfn.Condition.string_equals("$.outcome.decision", "failed"), failed)
        round_failed.otherwise(succeeded)
        self._entered_at(retain)
