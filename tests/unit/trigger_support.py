"""Events and messages for the trigger's tests, and what they started."""

from __future__ import annotations

import json
from typing import Any

from iterft_runtime.handlers import trigger
from runtime_support import BUCKET, LINEAGE, Aws, valid_dataset


def s3_event(
    key: str,
    version_id: str,
    *,
    time: str = "2026-03-01T10:00:00Z",
    size: int = 100,
    sequencer: str | None = None,
) -> str:
    """An EventBridge S3 Object Created event as AWS documents it."""
    obj: dict[str, Any] = {"key": key, "size": size, "etag": "b1946ac9", "version-id": version_id}
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return json.dumps(
        {
            "version": "0",
            "id": "17793124-05d4-b198-2fde-7ededc63b103",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": "123456789012",
            "time": time,
            "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{BUCKET}"],
            "detail": {
                "version": "0",
                "bucket": {"name": BUCKET},
                "object": obj,
                "reason": "PutObject",
            },
        }
    )


def dispatch_message(lineage: str = LINEAGE) -> str:
    return json.dumps({"kind": "dispatch", "lineage": lineage})


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{index}",
                "receiptHandle": f"r{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:iterft-uploads",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def run(*bodies: str) -> list[dict[str, str]]:
    return trigger.handler(sqs_event(*bodies), None)["batchItemFailures"]


def upload_event(aws: Aws, name: str, time: str, sequencer: str | None = None) -> str:
    key = f"incoming/{LINEAGE}/{name}"
    put = aws.upload(key, valid_dataset())
    return s3_event(key, put["VersionId"], time=time, sequencer=sequencer)


def started_keys(aws: Aws) -> list[str]:
    """Each started round's file name and version, in iteration order."""
    return [
        f"{record.dataset_key.rsplit('/', 1)[-1]}@{record.dataset_version}"  # type: ignore[union-attr]
        for record in aws.registry.list_iterations(LINEAGE)
    ]


def run_queue_out(aws: Aws) -> None:
    """Finish each started round (release its lock) and dispatch, until the queue is empty."""
    while (state := aws.registry.get_state(LINEAGE)) is not None and state.lock_owner is not None:
        assert aws.registry.release_lock(LINEAGE, state.lock_owner)
        assert run(dispatch_message()) == []
