"""The trigger: S3 `Object Created` under incoming/ -> EventBridge -> SQS (+DLQ) -> trigger Lambda.

The queue exists before the workflow (whose last step sends `dispatch` messages to it) and the
trigger function after it (it starts the workflow's executions), hence two constructs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from iterft_runtime import naming
from iterft_runtime.logic.feedback import FEEDBACK_PREFIX, feedback_prefix
from iterft_runtime.models.lineage import LineageConfig

from stacks.functions import RuntimePackage
from stacks.notifications import Notifications
from stacks.registry import Registry
from stacks.storage import Storage

if TYPE_CHECKING:
    from aws_cdk.interfaces import aws_events as events_interfaces

TRIGGER_TIMEOUT_SECONDS = 60
VISIBILITY_TIMEOUT = cdk.Duration.seconds(6 * TRIGGER_TIMEOUT_SECONDS)
"""Lambda's guidance for SQS event sources: at least six times the function timeout."""
MAX_RECEIVE_COUNT = 5
BATCH_SIZE = 10


@jsii.implements(events.IRuleTarget)
class _QueueTarget:
    """The queue as a rule target, without the grants of `targets.SqsQueue`: for a KMS-encrypted queue it
    lets every rule of the account send and use the key; UploadQueue grants its one rule instead."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    def bind(self, rule: events_interfaces.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._queue.queue_arn, target_resource=self._queue)


class UploadQueue(Construct):
    """The queue of upload events and dispatch requests, its dead-letter queue, and the S3 rule feeding it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_name: str,
        storage: Storage,
        feedback: bool = False,
    ) -> None:
        """`feedback`: feedback files arriving under feedback/ are sent too (a lineage curates its
        traffic), for the trigger to check them on arrival."""
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=storage.key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=storage.key,
            enforce_ssl=True,
            visibility_timeout=VISIBILITY_TIMEOUT,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT
            ),
        )
        rule_name = f"{stack_name}-uploads"
        self.rule_arn = cdk.Stack.of(self).format_arn(
            service="events", resource="rule", resource_name=rule_name
        )
        """Built from the rule's fixed name: the key policy naming `rule.rule_arn` would make the key depend
        on the rule, which depends on the queue, which depends on the key."""
        self.rule = events.Rule(
            self,
            "UploadRule",
            rule_name=rule_name,
            description="Uploads of training data under incoming/<lineage>/ start (or queue) a round"
            + ("; feedback files under feedback/<lineage>/ are checked" if feedback else ""),
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [storage.data_bucket.bucket_name]},
                    "object": {
                        "key": [
                            {"prefix": prefix}
                            for prefix in (naming.INCOMING_PREFIX, *([FEEDBACK_PREFIX] if feedback else []))
                        ]
                    },
                },
            ),
            targets=[_QueueTarget(self.queue)],
        )
        from_the_rule = {"ArnEquals": {"aws:SourceArn": self.rule_arn}}
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="UploadRuleSends",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn],
                conditions=from_the_rule,
            )
        )
        storage.allow_service(
            "UploadRuleEncrypts",
            "events.amazonaws.com",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            from_the_rule,
        )


class Trigger(Construct):
    """The trigger function, reading from the upload queue, and one SSM parameter per lineage it serves."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_name: str,
        lineages: list[LineageConfig],
        runtime: RuntimePackage,
        upload_queue: UploadQueue,
        state_machine: sfn.StateMachine,
        registry: Registry,
        notifications: Notifications,
        storage: Storage,
    ) -> None:
        super().__init__(scope, construct_id)
        parameter_prefix = naming.lineage_parameter_prefix(stack_name)
        for lineage in lineages:
            ssm.StringParameter(
                self,
                f"Lineage-{lineage.name}",
                parameter_name=naming.lineage_parameter_name(stack_name, lineage.name),
                string_value=lineage.model_dump_json(),
                description=f"iterft lineage {lineage.name}: its config, read by the trigger at dispatch",
            )

        self.function = runtime.function(
            self,
            "trigger",
            timeout=cdk.Duration.seconds(TRIGGER_TIMEOUT_SECONDS),
            extra_environment={
                naming.ENV_STATE_MACHINE_ARN: state_machine.state_machine_arn,
                naming.ENV_LINEAGE_PARAMETER_PREFIX: parameter_prefix,
            },
        )
        self.function.add_event_source(
            event_sources.SqsEventSource(
                upload_queue.queue, batch_size=BATCH_SIZE, report_batch_item_failures=True
            )
        )
        stack = cdk.Stack.of(self)
        parameter_path = parameter_prefix.strip("/")
        self.lineage_parameter_arns = stack.format_arn(
            service="ssm", resource="parameter", resource_name=f"{parameter_path}/*"
        )
        """The prefix, not each parameter: an unknown lineage reads as ParameterNotFound, not AccessDenied."""
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParameter", "ssm:GetParameters"], resources=[self.lineage_parameter_arns]
            )
        )
        # Listing the configured lineages (to name them when an upload's lineage is unknown).
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParametersByPath"],
                resources=[
                    stack.format_arn(service="ssm", resource="parameter", resource_name=parameter_path)
                ],
            )
        )
        state_machine.grant_start_execution(self.function)
        self.execution_arns = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine.state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        """A redelivered dispatch finds its execution already started and compares its input."""
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[self.execution_arns])
        )
        registry.grant_read_write(self.function)
        notifications.grant_publish(self.function)
        # At dispatch: does the queue head's object version still exist (deleted: withdrawn, not run)?
        storage.grant_head(self.function, naming.INCOMING_PREFIX)
        # Feedback files checked on arrival: read each curated lineage's, record the check beside it
        # (read first: a redelivered event finds its check done and notifies nothing again).
        curating = [lineage.name for lineage in lineages if lineage.traffic is not None]
        if curating:
            reports = [f"{naming.FEEDBACK_REPORT_PREFIX}{name}/" for name in curating]
            storage.grant_read(self.function, *(feedback_prefix(name) for name in curating), *reports)
            storage.grant_write(self.function, *reports)
