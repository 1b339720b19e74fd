"""S3 events in AWS's EventBridge shape.

Patches `moto.s3.notifications._send_event_bridge_message`.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

from moto.events.models import events_backends
from moto.events.utils import EventMessageType
from moto.s3 import notifications as s3_notifications

from iterft.local.adapters.state import STATE

_OBJECT_CREATED_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
}
_SEQUENCER = itertools.count(int(time.time() * 1000) << 16)


def s3_eventbridge_event(account_id: str, bucket: Any, event_name: str, key: Any) -> EventMessageType:
    """The event S3 sends to EventBridge (AmazonS3/latest/userguide/ev-events.html).

    moto's differs: `eTag` for `etag`, `reason` "ObjectCreated" for "PutObject", the same `id` for every
    event, `version-id: null` on unversioned buckets and one fixed `sequencer`. `time` stays a Unix time,
    moto's internal form: its rule targets render it as AWS's ISO-8601 string on delivery.
    """
    obj: dict[str, Any] = {"key": key.name}
    if event_name.startswith("s3:ObjectCreated:"):
        obj |= {"size": key.size, "etag": key.etag.strip('"')}
    if key.version_id and key.version_id != "null":
        obj["version-id"] = key.version_id
    obj["sequencer"] = f"{next(_SEQUENCER):018X}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": s3_notifications._detail_type(event_name),
        "source": "aws.s3",
        "account": account_id,
        "time": time.time(),
        "region": bucket.region_name,
        "resources": [bucket.arn],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": obj,
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": account_id,
            "source-ip-address": "127.0.0.1",
            "reason": _OBJECT_CREATED_REASONS.get(event_name, event_name.split(":")[1]),
        },
    }


def adapt_s3_eventbridge_events() -> None:
    """S3 sends AWS's EventBridge event shape, to the default bus's enabled rules only.

    Relies on `moto.s3.notifications._send_event_bridge_message` (called by `send_event` for buckets with
    an EventBridgeConfiguration) and `moto.events.models.Rule.send_to_targets`. Input transformers are not
    applied (moto's `transform_input=False`, as moto does for S3 events).
    """

    def send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        event = s3_eventbridge_event(account_id, bucket, event_name, key)
        bus = events_backends[account_id][bucket.region_name].event_buses.get("default")
        if bus is None:
            return
        for rule in list(bus.rules.values()):
            if rule.state == "ENABLED":
                rule.send_to_targets(event, transform_input=False)

    STATE.patches.replace(s3_notifications, "_send_event_bridge_message", send_event_bridge_message)
