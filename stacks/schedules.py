"""EventBridge Scheduler schedules that invoke one of the stack's functions (the reconciler's, each
lineage's curation): one role per function that Scheduler assumes for this account only, allowed to
invoke that function and to send what it could not deliver to the stack's dead-letter queue (whose alarm
notifies), and schedules with retries and that dead-letter queue."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.storage import grant_key_use


def schedule_role(
    scope: Construct,
    construct_id: str,
    *,
    function: lambda_.IFunction,
    dead_letter_queue: sqs.IQueue,
    key: kms.IKey,
    description: str,
) -> iam.Role:
    """The role Scheduler assumes (for this account only) to invoke `function`."""
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com",
            conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(scope).account}},
        ),
        description=description,
    )
    role.add_to_policy(
        iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn])
    )
    role.add_to_policy(
        iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[dead_letter_queue.queue_arn])
    )
    grant_key_use(key, role, ["kms:Decrypt", "kms:GenerateDataKey"], "sqs")
    return role


def function_schedule(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    expression: str,
    function: lambda_.IFunction,
    role: iam.IRole,
    dead_letter_queue: sqs.IQueue,
    input: str,
    max_event_age_seconds: int,
    retry_attempts: int,
) -> scheduler.CfnSchedule:
    """An enabled schedule invoking `function` with `input` as `role`, retried, then dead-lettered."""
    return scheduler.CfnSchedule(
        scope,
        construct_id,
        description=description,
        schedule_expression=expression,
        flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
        state="ENABLED",
        target=scheduler.CfnSchedule.TargetProperty(
            arn=function.function_arn,
            role_arn=role.role_arn,
            input=input,
            dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                arn=dead_letter_queue.queue_arn
            ),
            retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                maximum_event_age_in_seconds=max_event_age_seconds, maximum_retry_attempts=retry_attempts
            ),
        ),
    )
