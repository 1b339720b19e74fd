"""Monitoring: a dashboard of the rounds, and alarms, on the operators' topic, for what no round's own
failure path reports.

The dashboard (named after the stack) shows the workflow's executions (started, succeeded, failed,
timed out, aborted), the dead-letter queue, and per lineage the custom metrics Finish publishes
(namespace `naming.METRICS_NAMESPACE`, dimensions `service` and `lineage`): rounds by outcome, the
customization job's duration, and the candidate's and the champion's primary score.

A round that fails inside the workflow publishes its outcome itself; these catch the rest: a message
the trigger could not handle (moved to the dead-letter queue) and an execution that ended as failed,
timed out or aborted (outside its catch-all, or stopped by hand). CloudWatch's ExecutionsFailed also
counts the rounds that end in `Round failed`, the failure path's own Fail state: those rounds have
published their outcome too, and the metric cannot tell the two apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from iterft_runtime import naming

from stacks.notifications import Notifications
from stacks.storage import Storage
from stacks.trigger import UploadQueue

PERIOD = cdk.Duration.minutes(5)
ROUND_PERIOD = cdk.Duration.hours(1)
"""Rounds take minutes to hours: their metrics are plotted per hour."""
OUTCOMES = ("promoted", "rejected", "failed", "invalid_data", "rolled_back")
WIDGET_WIDTH = 12


class Monitoring(Construct):
    """A dashboard, and one alarm per condition, each notifying the topic when it fires and when it clears."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        notifications: Notifications,
        upload_queue: UploadQueue,
        state_machine: sfn.StateMachine,
        dashboard_name: str,
        lineages: Sequence[str],
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
        self.dashboard = self._dashboard(dashboard_name, lineages, upload_queue, state_machine)

    def _dashboard(
        self,
        name: str,
        lineages: Sequence[str],
        upload_queue: UploadQueue,
        state_machine: sfn.StateMachine,
    ) -> cloudwatch.Dashboard:
        executions = [
            state_machine.metric_started(period=PERIOD, statistic=cloudwatch.Stats.SUM, label="started"),
            state_machine.metric_succeeded(period=PERIOD, statistic=cloudwatch.Stats.SUM, label="succeeded"),
            state_machine.metric_failed(period=PERIOD, statistic=cloudwatch.Stats.SUM, label="failed"),
            state_machine.metric_timed_out(period=PERIOD, statistic=cloudwatch.Stats.SUM, label="timed out"),
            state_machine.metric_aborted(period=PERIOD, statistic=cloudwatch.Stats.SUM, label="aborted"),
        ]
        dead_letters = upload_queue.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM, label="messages in the dead-letter queue"
        )
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=name)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Executions", left=executions, width=WIDGET_WIDTH),
            cloudwatch.GraphWidget(title="Dead-letter queue", left=[dead_letters], width=WIDGET_WIDTH),
        )
        for lineage in lineages:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{lineage}: rounds by outcome",
                    left=[
                        _round_metric(lineage, naming.rounds_metric(outcome), outcome, cloudwatch.Stats.SUM)
                        for outcome in OUTCOMES
                    ],
                    width=WIDGET_WIDTH // 2,
                ),
                cloudwatch.GraphWidget(
                    title=f"{lineage}: training duration (s)",
                    left=[
                        _round_metric(
                            lineage, naming.METRIC_TRAINING_DURATION, "job duration", cloudwatch.Stats.MAXIMUM
                        )
                    ],
                    width=WIDGET_WIDTH // 2,
                ),
                cloudwatch.GraphWidget(
                    title=f"{lineage}: evaluation score (primary metric)",
                    left=[
                        _round_metric(
                            lineage, naming.METRIC_CANDIDATE_SCORE, "candidate", cloudwatch.Stats.MAXIMUM
                        ),
                        _round_metric(
                            lineage, naming.METRIC_CHAMPION_SCORE, "champion", cloudwatch.Stats.MAXIMUM
                        ),
                    ],
                    left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
                    width=WIDGET_WIDTH,
                ),
            )
        return dashboard


def _round_metric(lineage: str, name: str, label: str, statistic: str) -> cloudwatch.Metric:
    """A metric Finish publishes for the lineage (dimensions as powertools writes them)."""
    return cloudwatch.Metric(
        namespace=naming.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": naming.POWERTOOLS_SERVICE, naming.METRIC_LINEAGE_DIMENSION: lineage},
        statistic=statistic,
        period=ROUND_PERIOD,
        label=label,
    )
