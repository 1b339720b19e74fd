"""Model invocation logging on the embedded default: what Bedrock delivers to S3 when logging is on.

moto stores the region's logging configuration (Put/Get/DeleteModelInvocationLoggingConfiguration) and
does nothing with it. The stand-in adds what AWS does:

* PutModelInvocationLoggingConfiguration with an `s3Config` is refused (ValidationException) unless the
  bucket exists and its bucket policy (as the stack set it: iterft.local.bucket_policies) allows the
  `bedrock.amazonaws.com` service principal `s3:PutObject` on the delivery prefix (AWS checks it can
  write there before accepting the configuration). The check reads the policy's statements (principal,
  action, resource pattern, `aws:SourceAccount`); it is not a full policy evaluation.
* Every Converse and InvokeModel call, while a configuration with `s3Config` and `textDataDeliveryEnabled`
  is set, writes one log object under `<keyPrefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/
  YYYY/MM/DD/HH/` (gzipped JSON lines, one record: `schemaType`, `schemaVersion`, `timestamp`, `accountId`,
  `region`, `requestId`, `operation`, `modelId`, `input{inputContentType, inputBodyJson, inputTokenCount}`,
  `output{outputContentType, outputBodyJson, outputTokenCount}`, `requestMetadata`), as the user guide's
  model-invocation-logging page shows it. AWS batches several records into an object; the stand-in writes
  one object a call (readers must not care). A body over LARGE_BODY_BYTES is written as an object of its
  own under `.../data/` and named by `inputBodyS3Path` / `outputBodyS3Path`. The record's `requestId` is the
  call's response request id (`x-amzn-RequestId`), which applications give with their feedback.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from iterft_runtime.logic.invocation_logs import LOG_SCHEMA, log_root
from moto.bedrock.models import bedrock_backends
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends

from iterft.local.bedrock.requests import invalid
from iterft.local.bucket_policies import bucket_policy

LARGE_BODY_BYTES = 100 * 1024
"""A body larger than this is delivered as an object of its own (the guide: data over 100 KB)."""
SCHEMA_VERSION = "1.0"
SERVICE = "bedrock.amazonaws.com"


def logging_config(account: str, region: str) -> dict[str, Any]:
    """The region's logging configuration as moto stores it (`{}`: none)."""
    return dict(bedrock_backends[account][region].get_model_invocation_logging_configuration() or {})


def check_destination(account: str, region: str, config: Mapping[str, Any], partition: str = "aws") -> None:
    """Refuse a configuration whose S3 destination Bedrock could not write to, as AWS does."""
    s3 = config.get("s3Config") or {}
    bucket_name = s3.get("bucketName")
    if not bucket_name:
        return
    try:
        bucket = s3_backends[account][partition].get_bucket(bucket_name)
    except MissingBucket:
        raise invalid(
            f"Failed to validate permissions for S3 bucket {bucket_name}: it does not exist."
        ) from None
    key = f"{log_root(str(s3.get('keyPrefix') or ''), account, region)}2026/01/01/00/probe.json.gz"
    arn = f"arn:{partition}:s3:::{bucket_name}/{key}"
    policy = bucket_policy(account, bucket_name) or (json.loads(bucket.policy) if bucket.policy else {})
    if not any(_allows_delivery(statement, arn, account) for statement in _listify(policy.get("Statement"))):
        raise invalid(
            f"Failed to validate permissions for S3 bucket {bucket_name}: its bucket policy must allow "
            f"{SERVICE} s3:PutObject on {key.rsplit('/2026/', 1)[0]}/*."
        )


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _allows_delivery(statement: Mapping[str, Any], arn: str, account: str) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal") or {}
    services = _listify(principal.get("Service")) if isinstance(principal, Mapping) else []
    if SERVICE not in services:
        return False
    actions = [str(action).lower() for action in _listify(statement.get("Action"))]
    if not any(fnmatch.fnmatchcase("s3:putobject", action) for action in actions):
        return False
    if not any(fnmatch.fnmatchcase(arn, str(resource)) for resource in _listify(statement.get("Resource"))):
        return False
    condition = statement.get("Condition") or {}
    accounts = _listify((condition.get("StringEquals") or {}).get("aws:SourceAccount"))
    return not accounts or account in accounts


def deliver(
    account: str,
    region: str,
    *,
    request_id: str,
    operation: str,
    model_id: str,
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    metadata: Mapping[str, str] | None,
    tokens: tuple[int, int],
    partition: str = "aws",
    now: datetime | None = None,
) -> str | None:
    """Write the call's log record where the configuration says (nothing when logging is off); its key."""
    config = logging_config(account, region)
    s3 = config.get("s3Config") or {}
    if not s3.get("bucketName") or not config.get("textDataDeliveryEnabled", False):
        return None
    bucket = str(s3["bucketName"])
    root = log_root(str(s3.get("keyPrefix") or ""), account, region)
    when = now or datetime.now(UTC)
    store = s3_backends[account][partition]

    def section(kind: str, body: Mapping[str, Any], count: int) -> dict[str, Any]:
        text = json.dumps(body)
        found: dict[str, Any] = {f"{kind}ContentType": "application/json", f"{kind}TokenCount": count}
        if len(text.encode()) <= LARGE_BODY_BYTES:
            found[f"{kind}BodyJson"] = body
            return found
        key = f"{root}{when:%Y/%m/%d/%H}/data/{request_id}-{kind}.json.gz"
        store.put_object(bucket, key, gzip.compress(text.encode()))
        found[f"{kind}BodyS3Path"] = f"s3://{bucket}/{key}"
        return found

    record: dict[str, Any] = {
        "schemaType": LOG_SCHEMA,
        "schemaVersion": SCHEMA_VERSION,
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "accountId": account,
        "region": region,
        "requestId": request_id,
        "operation": operation,
        "modelId": model_id,
        "input": section("input", request, tokens[0]),
        "output": section("output", response, tokens[1]),
    }
    if metadata:
        record["requestMetadata"] = dict(metadata)
    name = (
        f"{account}_BedrockModelInvocationLogs_{region}_{when:%Y%m%dT%H%M}Z_{uuid.uuid4().hex[:16]}.json.gz"
    )
    key = f"{root}{when:%Y/%m/%d/%H}/{name}"
    store.put_object(bucket, key, gzip.compress((json.dumps(record) + "\n").encode()))
    return key
