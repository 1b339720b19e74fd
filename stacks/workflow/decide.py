"""Step 7 of the round: the gate's decision, then (lineages with `approval.required`) a human's."""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.workflow.steps import Fragment, Steps, catch_failures


class Decide(Fragment):
    """Decide -> Promote? -> (Wait for approval -> Approved?) -> promote or discard (`connect`).

    Human approval: the trigger records the task token on the iteration and notifies; `iterft
    approve/reject` answer it; silence (the lineage's `approval.timeout_hours`) is a rejection.
    """

    def __init__(
        self, scope: Construct, construct_id: str, steps: Steps, *, on_failure: sfn.IChainable
    ) -> None:
        super().__init__(scope, construct_id)
        self._decide = steps.invoke(self, "Decide", "decide", "$.decision")
        self._promote = sfn.Choice(self, "Promote?")
        self._wait_for_approval = _wait_for_approval(self, steps)
        self._approved = sfn.Choice(self, "Approved?")
        self._reviewer_rejected = _rejected_after_review(
            self,
            "Reviewer rejected",
            sfn.JsonPath.format(
                "rejected by reviewer {}: {}",
                sfn.JsonPath.string_at("$.approval.reviewer"),
                sfn.JsonPath.string_at("$.approval.reason"),
            ),
        )
        self._approval_timed_out = _rejected_after_review(
            self,
            "Approval timed out",
            sfn.JsonPath.format(
                "rejected: no review within {} second(s); {}",
                sfn.JsonPath.string_at("$.decision.approval_timeout_seconds"),
                sfn.JsonPath.string_at("$.decision.reason"),
            ),
        )
        self._decide.next(self._promote)
        self._wait_for_approval.next(self._approved)
        self._wait_for_approval.add_catch(
            self._approval_timed_out, errors=[sfn.Errors.TIMEOUT], result_path="$.approval"
        )
        catch_failures([self._decide, self._wait_for_approval], on_failure)
        self._entered_at(self._decide)

    def connect(self, *, promote: sfn.IChainable, discard: sfn.IChainable) -> None:
        """A candidate the gate passes (and a reviewer approves, where one must) goes to `promote`;
        any other to `discard`."""
        self._promote.when(
            sfn.Condition.and_(
                sfn.Condition.boolean_equals("$.decision.promote", True),
                sfn.Condition.boolean_equals("$.decision.approval_required", True),
            ),
            self._wait_for_approval,
        )
        self._promote.when(sfn.Condition.boolean_equals("$.decision.promote", True), promote)
        self._promote.otherwise(discard)
        self._approved.when(sfn.Condition.boolean_equals("$.approval.approved", True), promote)
        self._approved.otherwise(self._reviewer_rejected)
        self._reviewer_rejected.next(discard)
        self._approval_timed_out.next(discard)


def _wait_for_approval(scope: Construct, steps: Steps) -> sfn.TaskStateBase:
    """Send the task token to the trigger (which records it and notifies) and wait for the answer.

    Times out after the lineage's `approval.timeout_hours` (Decide passes it on in whole seconds).
    """
    return tasks.SqsSendMessage(
        scope,
        "Wait for approval",
        queue=steps.upload_queue.queue,
        integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
        message_body=sfn.TaskInput.from_object(
            {
                "kind": "approval",
                "lineage": sfn.JsonPath.string_at("$.lineage.name"),
                "iteration": sfn.JsonPath.number_at("$.iteration"),
                "task_token": sfn.JsonPath.task_token,
                "reason": sfn.JsonPath.string_at("$.decision.reason"),
            }
        ),
        task_timeout=sfn.Timeout.at("$.decision.approval_timeout_seconds"),
        result_path="$.approval",
    )


def _rejected_after_review(scope: Construct, name: str, reason: str) -> sfn.Pass:
    """A gate-passing candidate turned down by a reviewer or by silence: `$.decision` says rejected."""
    return sfn.Pass(
        scope,
        name,
        parameters={
            "promote": False,
            "decision": "rejected",
            "reason": reason,
            "improvement": sfn.JsonPath.number_at("$.decision.improvement"),
            "deltas": sfn.JsonPath.object_at("$.decision.deltas"),
            "gate": sfn.JsonPath.list_at("$.decision.gate"),
            "inconclusive": False,
            "power": sfn.JsonPath.object_at("$.decision.power"),
            "approval_required": True,
            "approval_timeout_seconds": sfn.JsonPath.number_at("$.decision.approval_timeout_seconds"),
        },
        result_path="$.decision",
    )
