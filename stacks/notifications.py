"""Notifications: the SNS topic operators subscribe to (round outcomes, rejected uploads, failures)."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import NotificationConfig
from stacks.storage import grant_key_use


class Notifications(Construct):
    """A KMS-encrypted topic that refuses plain HTTP, with the configured e-mail subscriptions."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, config: NotificationConfig
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = key
        self.topic = sns.Topic(self, "Topic", display_name="iterft", master_key=key, enforce_ssl=True)
        for email in config.emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[self.topic.topic_arn])
        )
        grant_key_use(self._key, grantee, ["kms:Decrypt", "kms:GenerateDataKey"], "sns")
