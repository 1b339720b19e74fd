"""The registry: one DynamoDB table, the durable record the workflow and the CLI share."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import RetentionConfig
from stacks.storage import grant_key_use, removal_policy

READ_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query")
WRITE_ACTIONS = (
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
"""Item-level reads, writes and transactions; no Scan, no table administration."""


class Registry(Construct):
    """`pk`/`sk` table (keys from naming.py), on demand, point-in-time recovery, encrypted with the stack key.

    A `dynamodb.Table`, not `TableV2`: the embedded default's CloudFormation cannot deploy
    `AWS::DynamoDB::GlobalTable`.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, retention: RetentionConfig
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = key
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            removal_policy=removal_policy(retention),
        )

    def grant_read(self, grantee: iam.IGrantable) -> None:
        self.table.grant(grantee, *READ_ACTIONS)
        grant_key_use(self._key, grantee, ["kms:Decrypt", "kms:DescribeKey"], "dynamodb")

    def grant_update_items(self, grantee: iam.IGrantable) -> None:
        """UpdateItem only (on top of `grant_read`): set fields on existing items."""
        self.table.grant(grantee, "dynamodb:UpdateItem")
        grant_key_use(self._key, grantee, ["kms:Encrypt", "kms:GenerateDataKey"], "dynamodb")

    def grant_read_write(self, grantee: iam.IGrantable) -> None:
        """Item reads and writes, with the key use DynamoDB makes on the caller's behalf."""
        self.table.grant(grantee, *READ_ACTIONS, *WRITE_ACTIONS)
        grant_key_use(
            self._key,
            grantee,
            ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
            "dynamodb",
        )
