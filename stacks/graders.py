"""The default reinforcement graders, and what the customization role needs for each lineage's strategies.

A lineage with `strategies.reinforcement` and the default grader gets a grader function of its own, named
by naming.grader_function_name (the function reads its lineage from its own name, Begin builds its ARN from
the same name). The Bedrock customization role (stacks/bedrock_role.py) may invoke exactly the graders the
lineages name, the distillation teachers they name, and read the invocation logs they distil from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from iterft_runtime import naming
from iterft_runtime.models.lineage import LineageConfig

from stacks.functions import RuntimePackage, grant_parameter_reads

GRADER_TIMEOUT = cdk.Duration.minutes(5)
"""A batch of samples scored with the lineage's reference metric (a grader may take up to 15 minutes)."""
INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.")
"""A teacher id with one of these prefixes is a cross-region inference profile, not a model id."""


class Graders(Construct):
    """One default grader function per lineage that uses it; `arns` are every grader a lineage names."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_name: str,
        lineages: list[LineageConfig],
        runtime: RuntimePackage,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = naming.lineage_parameter_prefix(stack_name)
        self.arns: list[str] = []
        self.functions: list[lambda_.Function] = []
        """The default graders the stack deploys (stacks/nag.py acknowledges their findings)."""
        for lineage in lineages:
            reinforcement = lineage.strategies.reinforcement
            if reinforcement is None:
                continue
            if not reinforcement.uses_default_grader:
                self.arns.append(reinforcement.grader)
                continue
            function = runtime.function(
                self,
                naming.GRADER,
                timeout=GRADER_TIMEOUT,
                extra_environment={naming.ENV_LINEAGE_PARAMETER_PREFIX: prefix},
                construct_id=f"Grader-{lineage.name}",
                function_name=naming.grader_function_name(stack_name, lineage.name),
            )
            grant_parameter_reads(function, [naming.lineage_parameter_name(stack_name, lineage.name)])
            self.arns.append(function.function_arn)
            self.functions.append(function)


@dataclass(frozen=True)
class StrategyGrant:
    """A statement of the customization role for the lineages' strategies, and why each of its wildcard
    resources is one (what the cdk-nag acknowledgments say, stacks/nag.py)."""

    statement: iam.PolicyStatement
    wildcards: dict[str, str] = field(default_factory=dict)


LOG_KEYS_REASON = (
    "Bedrock's distillation job reads the invocation logs the lineage distils from: objects Bedrock's "
    "model invocation logging delivers under the configured prefix, in keys named by date as they arrive."
)
PROFILE_REASON = (
    "A cross-region inference profile routes the distillation teacher's requests to its model in any of "
    "the profile's regions: the foundation model's ARN in each (no account, any region)."
)


def strategy_grants(
    stack: cdk.Stack, lineages: list[LineageConfig], grader_arns: list[str]
) -> list[StrategyGrant]:
    """What the customization role needs for the lineages' strategies: invoke each grader, invoke each
    distillation teacher, read each invocation-log location distilled from (and nothing when no lineage
    uses them)."""
    grants: list[StrategyGrant] = []
    if grader_arns:
        graders = iam.PolicyStatement(
            sid="InvokeGraders", actions=["lambda:InvokeFunction"], resources=sorted(set(grader_arns))
        )
        grants.append(StrategyGrant(graders))
    distilling = [lineage.strategies.distillation for lineage in lineages if lineage.strategies.distillation]
    teachers = sorted({settings.teacher for settings in distilling})
    if teachers:
        resources = [arn for teacher in teachers for arn in _teacher_arns(stack, teacher)]
        invoke = iam.PolicyStatement(
            sid="InvokeTeachers", actions=["bedrock:InvokeModel"], resources=resources
        )
        grants.append(StrategyGrant(invoke, {arn: PROFILE_REASON for arn in resources if ":*:" in arn}))
    logs = sorted({settings.invocation_logs.s3_uri for settings in distilling if settings.invocation_logs})
    for index, uri in enumerate(logs):
        bucket, _, key_prefix = uri.removeprefix("s3://").partition("/")
        bucket_arn = f"arn:{stack.partition}:s3:::{bucket}"
        objects = f"{bucket_arn}/{key_prefix}*"
        read = iam.PolicyStatement(
            sid=f"ReadInvocationLogs{index}", actions=["s3:GetObject"], resources=[objects]
        )
        listing = iam.PolicyStatement(
            sid=f"ListInvocationLogs{index}",
            actions=["s3:ListBucket"],
            resources=[bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{key_prefix}*"]}},
        )
        grants += [StrategyGrant(read, {objects: LOG_KEYS_REASON}), StrategyGrant(listing)]
    return grants


def _teacher_arns(stack: cdk.Stack, teacher: str) -> list[str]:
    """A teacher model's ARN in the stack's region; an inference profile's ARN and its model in the
    regions it routes to (a profile's requests land on the model in any of them)."""
    if teacher.startswith(INFERENCE_PROFILE_PREFIXES):
        model = teacher.split(".", 1)[1]
        return [
            stack.format_arn(service="bedrock", resource="inference-profile", resource_name=teacher),
            f"arn:{stack.partition}:bedrock:*::foundation-model/{model}",
        ]
    return [f"arn:{stack.partition}:bedrock:{stack.region}::foundation-model/{teacher}"]
