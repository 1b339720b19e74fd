"""The service role Bedrock assumes to run this stack's model customization jobs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct
from iterft_runtime import naming

from stacks.storage import Storage, grant_key_use


def bedrock_service_role(scope: Construct, description: str, source_arns: str) -> iam.Role:
    """A role only Bedrock may assume, and only for this account's jobs matching `source_arns` (the
    confused-deputy conditions: aws:SourceAccount and aws:SourceArn)."""
    return iam.Role(
        scope,
        "Role",
        description=description,
        assumed_by=iam.ServicePrincipal(
            "bedrock.amazonaws.com",
            conditions={
                "StringEquals": {"aws:SourceAccount": cdk.Stack.of(scope).account},
                "ArnEquals": {"aws:SourceArn": source_arns},
            },
        ),
    )


class BedrockCustomizationRole(Construct):
    """Trusted by Bedrock for this account's customization jobs only; reads validated/, writes jobs/."""

    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        bucket = storage.data_bucket
        self.role = bedrock_service_role(
            self,
            "Assumed by Amazon Bedrock to run iterft model customization jobs",
            stack.format_arn(service="bedrock", resource="model-customization-job", resource_name="*"),
        )
        statements = [
            iam.PolicyStatement(
                sid="ReadTrainingData",
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{naming.VALIDATED_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="WriteJobOutput",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{naming.JOB_OUTPUT_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="ListDataAndOutput",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={
                    "StringLike": {
                        "s3:prefix": [f"{naming.VALIDATED_PREFIX}*", f"{naming.JOB_OUTPUT_PREFIX}*"]
                    }
                },
            ),
        ]
        for statement in statements:
            self.role.add_to_policy(statement)
        grant_key_use(
            storage.key,
            self.role,
            ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
            "bedrock",
            "s3",
        )
