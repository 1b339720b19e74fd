"""The scheduled reconciler: a function EventBridge Scheduler invokes every few minutes, which repairs
what no path of the workflow may leave behind (lambda/iterft_runtime/handlers/reconcile.py), and which
`iterft repair` invokes for one lineage on demand.

The schedule has its own role, allowed only lambda:InvokeFunction on this one function (and to send a
failed invocation to its dead-letter queue), retries an invocation Lambda refused for a few minutes,
and drops a run older than one interval (to the stack's dead-letter queue, which alarms): the next
run does the same work.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct
from iterft_runtime import naming

from stacks.functions import RuntimePackage
from stacks.notifications import Notifications
from stacks.registry import Registry
from stacks.schedules import function_schedule, schedule_role
from stacks.serving import ServingPointers
from stacks.storage import Storage, grant_key_use
from stacks.trigger import Trigger, UploadQueue
from stacks.workflow import Workflow

RATE_MINUTES = 5
SCHEDULE_EXPRESSION = f"rate({RATE_MINUTES} minutes)"
TIMEOUT = cdk.Duration.minutes(1)
"""Like every short step: a run is a Query per lineage, a few Bedrock lists and a handful of deletes."""
RETRY_ATTEMPTS = 3
MAX_EVENT_AGE_SECONDS = RATE_MINUTES * 60
"""A run not delivered within one interval is dropped (to the dead-letter queue): the next one replaces it."""


class Reconciler(Construct):
    """The reconciler function, its grants, and its schedule (its own role, the stack dead-letter queue)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_name: str,
        runtime: RuntimePackage,
        storage: Storage,
        registry: Registry,
        notifications: Notifications,
        upload_queue: UploadQueue,
        serving_pointers: ServingPointers,
        workflow: Workflow,
        trigger: Trigger,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        lineage_prefix = naming.lineage_parameter_prefix(stack_name)
        self.function = runtime.function(
            self,
            "reconcile",
            timeout=TIMEOUT,
            extra_environment={
                naming.ENV_LINEAGE_PARAMETER_PREFIX: lineage_prefix,
                naming.ENV_TRIGGER_QUEUE_URL: upload_queue.queue.queue_url,
            },
        )
        fn = self.function
        registry.grant_read_write(fn)
        notifications.grant_publish(fn)
        # The dispatch request after a released lock: SendMessage on the upload queue, its key through SQS.
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[upload_queue.queue.queue_arn])
        )
        grant_key_use(storage.key, fn, ["kms:Decrypt", "kms:GenerateDataKey"], "sqs")
        fn.add_to_role_policy(  # the lineages' configs and serving pointers, one path each
            iam.PolicyStatement(
                actions=["ssm:GetParametersByPath"],
                resources=[
                    stack.format_arn(service="ssm", resource="parameter", resource_name=path.strip("/"))
                    for path in (lineage_prefix, serving_pointers.prefix)
                ],
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[trigger.execution_arns])
        )
        # Bedrock's list operations take no resource ARN; deletes are scoped like retention's and Discard's.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "bedrock:ListCustomModels",
                    "bedrock:ListCustomModelDeployments",
                    "bedrock:ListProvisionedModelThroughputs",
                ],
                resources=["*"],
            )
        )
        workflow.grant_delete_capacity(fn)
        workflow.grant_delete_models(fn)

        # A run Scheduler could not deliver goes to the stack's one dead-letter queue, whose alarm notifies.
        self.dead_letter_queue = upload_queue.dead_letter_queue
        self.schedule_role = schedule_role(
            self,
            "ScheduleRole",
            function=fn,
            dead_letter_queue=self.dead_letter_queue,
            key=storage.key,
            description="EventBridge Scheduler: invoke the iterft reconciler",
        )
        self.schedule = function_schedule(
            self,
            "Schedule",
            description=f"iterft {stack_name}: reconcile the registry with Step Functions and Bedrock",
            expression=SCHEDULE_EXPRESSION,
            function=fn,
            role=self.schedule_role,
            dead_letter_queue=self.dead_letter_queue,
            input="{}",
            max_event_age_seconds=MAX_EVENT_AGE_SECONDS,
            retry_attempts=RETRY_ATTEMPTS,
        )
