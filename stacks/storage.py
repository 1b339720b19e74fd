"""Storage: the stack's KMS key, the data bucket and the bucket that receives its access logs.

The one key encrypts every store of the stack (bucket, table, queues, topic, custom models), so
access to data is granted here, prefix by prefix, together with the key use it needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import RetentionConfig

ACCESS_LOG_PREFIX = "data-bucket/"


OBJECT_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
OBJECT_WRITE_ACTIONS = ("s3:PutObject",)
COPY_SOURCE_ACTIONS = ("s3:GetObjectTagging", "s3:GetObjectVersionTagging")
COPY_DESTINATION_ACTIONS = ("s3:PutObjectTagging",)
"""What `Storage.grant_read` / `grant_write` allow on objects, and what `grant_copy` adds for tags."""


def removal_policy(retention: RetentionConfig) -> cdk.RemovalPolicy:
    """Stateful resources are kept when the stack is deleted unless the config opts out."""
    return cdk.RemovalPolicy.DESTROY if retention.destroy_data_on_delete else cdk.RemovalPolicy.RETAIN


def grant_key_use(key: kms.IKey, grantee: iam.IGrantable, actions: Iterable[str], *services: str) -> None:
    """Let `grantee` use `key` only through the named AWS services (kms:ViaService), never directly."""
    region = cdk.Stack.of(key).region
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=sorted(set(actions)),
            resources=[key.key_arn],
            conditions={
                "StringEquals": {
                    "kms:ViaService": [f"{service}.{region}.amazonaws.com" for service in sorted(services)]
                }
            },
        )
    )


class Storage(Construct):
    """The KMS key, the versioned and encrypted data bucket, and its access-log bucket."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stack_name: str, retention: RetentionConfig
    ) -> None:
        super().__init__(scope, construct_id)
        removal = removal_policy(retention)
        expire_noncurrent = s3.LifecycleRule(
            noncurrent_version_expiration=cdk.Duration.days(retention.noncurrent_object_days),
            abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
        )

        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{stack_name}",
            description=f"Encrypts the data, registry, queues, topic and custom models of {stack_name}",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[expire_noncurrent],
            removal_policy=removal,
        )
        self.data_bucket = s3.Bucket(
            self,
            "DataBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            versioned=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            lifecycle_rules=[expire_noncurrent],
            removal_policy=removal,
        )
        self._send_events_to_eventbridge()

    def _send_events_to_eventbridge(self) -> None:
        """S3 -> EventBridge through the bucket's own NotificationConfiguration: CDK's `event_bridge_enabled`
        would add a custom resource and its Lambda (with an AWS-managed policy) for the same setting."""
        bucket = self.data_bucket.node.default_child
        if not isinstance(bucket, s3.CfnBucket):
            raise TypeError(f"{self.data_bucket.node.path} has no CfnBucket")
        bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
                event_bridge_enabled=True
            )
        )

    def allow_service(
        self, sid: str, service: str, actions: Iterable[str], conditions: dict[str, Any]
    ) -> None:
        """Let an AWS service principal use the key, in a key-policy statement of its own, only under
        `conditions` (the source that may call): a service has no role to hold a kms:ViaService grant."""
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                principals=[iam.ServicePrincipal(service)],
                actions=sorted(set(actions)),
                resources=["*"],  # in a key policy, "*" is this key
                conditions=conditions,
            )
        )

    def grant_read(self, grantee: iam.IGrantable, *prefixes: str) -> None:
        """Read (any version of) objects under `prefixes`.

        Also s3:ListBucket on the bucket, unconditioned: S3 answers a missing key with 404 only to
        callers allowed to list the bucket (an `s3:prefix` condition does not apply to GetObject or
        HeadObject), and the handlers tell a missing object from a refused one.
        """
        self._grant_objects(grantee, list(OBJECT_READ_ACTIONS), prefixes)
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.data_bucket.bucket_arn])
        )
        grant_key_use(self.key, grantee, ["kms:Decrypt"], "s3")

    def grant_read_keys(self, grantee: iam.IGrantable, *patterns: str) -> None:
        """Read (any version of) the objects whose keys match `patterns` exactly (`*` where a key part is
        named at run time), not whole prefixes; s3:ListBucket and kms:Decrypt as grant_read."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(OBJECT_READ_ACTIONS),
                resources=[self.data_bucket.arn_for_objects(pattern) for pattern in sorted(patterns)],
            )
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.data_bucket.bucket_arn])
        )
        grant_key_use(self.key, grantee, ["kms:Decrypt"], "s3")

    def grant_head(self, grantee: iam.IGrantable, *prefixes: str) -> None:
        """HeadObject (any version) under `prefixes`: whether an object version still exists.

        HeadObject is authorized as s3:GetObject (s3:GetObjectVersion with a version id) but returns
        metadata only, so no kms:Decrypt; s3:ListBucket makes a missing key 404 instead of 403.
        """
        self._grant_objects(grantee, list(OBJECT_READ_ACTIONS), prefixes)
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.data_bucket.bucket_arn])
        )

    def grant_write(self, grantee: iam.IGrantable, *prefixes: str) -> None:
        """Write objects under `prefixes` (multipart uploads under SSE-KMS need Decrypt too)."""
        self._grant_objects(grantee, list(OBJECT_WRITE_ACTIONS), prefixes)
        grant_key_use(self.key, grantee, ["kms:Decrypt", "kms:GenerateDataKey"], "s3")

    def grant_copy(self, grantee: iam.IGrantable, source_prefix: str, *destination_prefixes: str) -> None:
        """Copy objects from `source_prefix` to the destinations, tags included (CopyObject's default)."""
        self.grant_read(grantee, source_prefix)
        self.grant_write(grantee, *destination_prefixes)
        self._grant_objects(grantee, list(COPY_SOURCE_ACTIONS), [source_prefix])
        self._grant_objects(grantee, list(COPY_DESTINATION_ACTIONS), destination_prefixes)

    def _grant_objects(self, grantee: iam.IGrantable, actions: list[str], prefixes: Iterable[str]) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=actions,
                resources=[self.data_bucket.arn_for_objects(f"{prefix}*") for prefix in sorted(prefixes)],
            )
        )
