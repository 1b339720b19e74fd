"""Monitoring: alarms, on the operators' topic, for what no round's own failure path reports.

A round that fails inside the workflow publishes its outcome itself; these catch the rest: a message
the trigger could not handle (moved to the dead-letter queue) and an execution that ended as failed,
timed out or aborted (outside its catch-all, or stopped by hand). CloudWatch's ExecutionsFailed also
counts the rounds that end in `Round failed`, the failure path's own Fail state: those rounds have
published their outcome too, and the metric cannot tell the two apart.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.notifications import Notifications
from stacks.storage import Storage
from stacks.trigger import UploadQueue

PERIOD = cdk.Duration.minutes(5)


class Monitoring(Construct):
    """One alarm per condition, each notifying the topic when it fires and when it clears."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        notifications: Notifications,
        upload_queue: UploadQueue,
        state_machine: sfn.StateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        # The topic is encrypted with the stack's key: CloudWatch publishes to it only if it may use the key.
        storage.allow_service(
            "CloudWatchAlarmsPublish",
            "cloudwatch.amazonaws.com",
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            {"StringEquals": {"aws:SourceAccount": cdk.Stack.of(self).account}},
        )
        metrics = {
            "DeadLetters": (
                upload_queue.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM
                ),
                "An upload, dispatch or approval message went to the dead-letter queue, unhandled",
            ),
            "ExecutionsFailed": (
                state_machine.metric_failed(period=PERIOD, statistic=cloudwatch.Stats.SUM),
                "An execution failed: outside its failure path, or a failed round (which also reports)",
            ),
            "ExecutionsTimedOut": (
                state_machine.metric_timed_out(period=PERIOD, statistic=cloudwatch.Stats.SUM),
                "A round's execution timed out",
            ),
            "ExecutionsAborted": (
                state_machine.metric_aborted(period=PERIOD, statistic=cloudwatch.Stats.SUM),
                "A round's execution was aborted (stopped) before it reported its outcome",
            ),
        }
        action = actions.SnsAction(notifications.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for name, (metric, description) in metrics.items():
            alarm = metric.create_alarm(
                self,
                name,
                alarm_description=description,
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms[name] = alarm
