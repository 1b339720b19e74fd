"""`AWS::S3::BucketPolicy` on the embedded default: recorded, for the stand-ins that check them.

moto 5.2.5's CloudFormation has no model for `AWS::S3::BucketPolicy` (it logs "No Moto CloudFormation
support" and creates nothing), and moto's S3 enforces a policy put on a bucket only for `Principal: *`
statements, ignoring their conditions (which would make the stack's TLS-only Deny refuse every request
of the embedded default, which speaks plain HTTP on loopback). So the policy document, as CloudFormation
resolves it, is recorded here (not put on moto's bucket): the services that check a bucket policy before
they act, such as Bedrock accepting an invocation logging destination (bedrock/invocation_logging.py),
read it with `bucket_policy`.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel

_LOCK = threading.Lock()
_POLICIES: dict[tuple[str, str], dict[str, Any]] = {}


def bucket_policy(account: str, bucket: str) -> dict[str, Any] | None:
    with _LOCK:
        return _POLICIES.get((account, bucket))


class RecordedBucketPolicy(CloudFormationModel):
    """A stack's bucket policy, recorded by bucket (created, updated and deleted with its resource)."""

    def __init__(self, account: str, bucket: str) -> None:
        self.account, self.bucket = account, bucket

    @property
    def physical_resource_id(self) -> str:
        return self.bucket

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> RecordedBucketPolicy:
        properties = cloudformation_json.get("Properties", {})
        bucket = str(properties["Bucket"])
        document = properties["PolicyDocument"]
        with _LOCK:
            _POLICIES[(account_id, bucket)] = json.loads(json.dumps(document))
        return cls(account_id, bucket)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: RecordedBucketPolicy,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> RecordedBucketPolicy:
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        bucket = str(cloudformation_json.get("Properties", {}).get("Bucket", resource_name))
        with _LOCK:
            _POLICIES.pop((account_id, bucket), None)


for _cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
    _cache.cache_clear()  # moto lists CloudFormationModel's subclasses once; this one is new
