"""What the checker reads from the embedded AWS: the policies a role holds, resource policies, and the ARNs
and KMS keys behind names. Everything comes from moto's backends, as the deployed template left them."""

from __future__ import annotations

import json
from typing import Any

from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends


def _document(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class MotoEnvironment:
    """A `requests.Resolver` and policy source over moto's backends of one account."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    # Policies -----------------------------------------------------------------------------------

    def policy_fingerprint(self, role_arn: str) -> tuple[Any, ...]:
        """Changes whenever the role's policies do (moto replaces a document's string when it is put)."""
        role = iam_backends[self.account_id]["aws"].get_role_by_arn(role_arn)
        inline = tuple((name, id(document)) for name, document in sorted(role.policies.items()))
        managed = tuple(
            (arn, policy.default_version_id) for arn, policy in sorted(role.managed_policies.items())
        )
        return role_arn, id(role), id(role.assume_role_policy_document), inline, managed

    def identity_policies(self, role_arn: str) -> list[dict[str, Any]]:
        """Every policy the role holds: inline ones (CDK's AWS::IAM::Policy resources) and managed ones."""
        role = iam_backends[self.account_id]["aws"].get_role_by_arn(role_arn)
        policies = [
            {"name": name, "policy": _document(document)} for name, document in sorted(role.policies.items())
        ]
        for arn, managed in sorted(role.managed_policies.items()):
            version = next(v for v in managed.versions if v.is_default)
            policies.append({"name": arn, "policy": _document(version.document)})
        return policies

    def trust_policy(self, role_arn: str) -> Any:
        role = iam_backends[self.account_id]["aws"].get_role_by_arn(role_arn)
        return _document(role.assume_role_policy_document)

    def key_policy(self, key_arn: str) -> Any:
        region = key_arn.split(":")[3]
        key = kms_backends[self.account_id][region].describe_key(key_arn)
        return _document(key.policy)

    # Resolver -----------------------------------------------------------------------------------

    def _key_arn(self, region: str, key_id: str | None) -> str | None:
        if not key_id:
            return None
        try:
            return str(kms_backends[self.account_id][region].describe_key(key_id).arn)
        except Exception:
            return None

    def bucket_key(self, bucket: str) -> str | None:
        try:
            found = s3_backends[self.account_id]["aws"].get_bucket(bucket)
        except Exception:
            return None
        rules = (found.encryption or {}).get("Rule") or {}
        if isinstance(rules, list):
            rules = rules[0] if rules else {}
        default = rules.get("ApplyServerSideEncryptionByDefault") or {}
        if default.get("SSEAlgorithm") != "aws:kms":
            return None
        return self._key_arn(found.region_name, default.get("KMSMasterKeyID"))

    def topic_key(self, topic_arn: str) -> str | None:
        region = topic_arn.split(":")[3]
        topic = sns_backends[self.account_id][region].topics.get(topic_arn)
        return self._key_arn(region, getattr(topic, "kms_master_key_id", None)) if topic else None

    def queue_key(self, queue_arn: str) -> str | None:
        _, _, _, region, _, name = queue_arn.split(":")
        queue = sqs_backends[self.account_id][region].queues.get(name)
        return self._key_arn(region, getattr(queue, "kms_master_key_id", None)) if queue else None

    def bedrock_arn(self, region: str, identifier: str) -> str | None:
        from iterft.local.bedrock import standin_backend  # the stand-in itself asks this package

        return standin_backend(self.account_id, region).resource_arn(identifier)

    def served_model(self, region: str, capacity_arn: str) -> str | None:
        from iterft.local.bedrock import standin_backend

        return standin_backend(self.account_id, region).served_model_arn(capacity_arn)
