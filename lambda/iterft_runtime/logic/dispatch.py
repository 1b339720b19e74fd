"""Trigger messages and dispatch planning: what a queue message means and what an execution gets."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from iterft_runtime import naming
from iterft_runtime.logic.uploads import Classification, classify, normalize_sequencer
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import DatasetRef

DISPATCH_KIND = "dispatch"
APPROVAL_KIND = "approval"
START_KIND = "start"
ROUND_KIND = "round"
"""An execution input's `kind`: a training round (started by an upload)..."""
ROLLBACK_KIND = "rollback"
"""...or a rollback (started by `iterft rollback`): the workflow's first Choice reads it."""


class MessageError(ValueError):
    """A queue message this trigger cannot act on (it goes to the dead-letter queue for a look)."""


@dataclass(frozen=True)
class DispatchRequest:
    """`{"kind": "dispatch", "lineage": NAME}`: start the lineage's next queued upload if it is idle."""

    lineage: str


@dataclass(frozen=True)
class ApprovalRequest:
    """`{"kind": "approval", "lineage", "iteration", "task_token", "reason"}`: sent by the workflow's
    wait-for-approval step; the trigger records the token on the iteration and asks for a review."""

    lineage: str
    iteration: int
    task_token: str
    reason: str


@dataclass(frozen=True)
class StartRequest:
    """`{"kind": "start", "lineage", "dataset": {bucket, key, version_id, etag, size, uploaded_at}}`:
    a manual round (`iterft start`) on an object already in the data bucket. Queued and dispatched
    exactly like an upload: the same marker makes one object version at most one round."""

    lineage: str
    dataset: DatasetRef

    def check(self, data_bucket: str) -> None:
        """The round's steps read only the data bucket's incoming/ prefix, and only JSON Lines."""
        key = self.dataset.key
        if self.dataset.bucket != data_bucket:
            raise MessageError(f"start request for s3://{self.dataset.bucket}/: not the data bucket")
        if not key.startswith(naming.INCOMING_PREFIX) or not key.lower().endswith(naming.DATASET_SUFFIX):
            raise MessageError(
                f"start request for {key!r}: not a {naming.DATASET_SUFFIX} key under incoming/"
            )


@dataclass(frozen=True)
class Upload:
    """An S3 `Object Created` event; `lineage` is None when the key is not under incoming/<lineage>/
    (a folder marker `incoming/<lineage>/` is under it). `sequencer` orders the versions of one key."""

    lineage: str | None
    dataset: DatasetRef
    sequencer: str | None = None

    @property
    def classification(self) -> Classification:
        return classify(self.dataset.key, self.dataset.size)

    @property
    def is_dataset(self) -> bool:
        return self.classification.is_dataset


def timestamp(moment: datetime) -> str:
    """One fixed-width UTC format (milliseconds, `Z`) so that timestamps sort as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def normalize_event_time(value: object) -> str:
    """EventBridge's `time` (`2026-11-25T09:00:00Z`; moto sends epoch seconds) in `timestamp` form."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timestamp(datetime.fromtimestamp(value, UTC))
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise MessageError(f"event time {value!r} is not an ISO-8601 timestamp") from None
        return timestamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    raise MessageError(f"event time {value!r} is missing or not a timestamp")


def parse_message(body: str) -> DispatchRequest | ApprovalRequest | StartRequest | Upload:
    """Classify one SQS message body: a dispatch, approval or start request, or an S3 Object Created
    event."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError:
        raise MessageError("message body is not JSON") from None
    if not isinstance(message, dict):
        raise MessageError("message body is not a JSON object")
    if message.get("kind") == DISPATCH_KIND:
        lineage = message.get("lineage")
        if not isinstance(lineage, str) or not lineage:
            raise MessageError("dispatch message without a lineage")
        return DispatchRequest(lineage)
    if message.get("kind") == APPROVAL_KIND:
        return _approval(message)
    if message.get("kind") == START_KIND:
        return _start(message)
    if message.get("source") == "aws.s3" and message.get("detail-type") == "Object Created":
        return _upload(message)
    raise MessageError(f"unknown message (source {message.get('source')!r}, kind {message.get('kind')!r})")


def _approval(message: dict[str, Any]) -> ApprovalRequest:
    lineage, iteration, token = message.get("lineage"), message.get("iteration"), message.get("task_token")
    if not isinstance(lineage, str) or not lineage or not isinstance(token, str) or not token:
        raise MessageError("approval message without a lineage or a task token")
    if not isinstance(iteration, int) or isinstance(iteration, bool) or iteration < 1:
        raise MessageError(f"approval message with iteration {iteration!r}")
    return ApprovalRequest(lineage, iteration, token, str(message.get("reason") or ""))


def _start(message: dict[str, Any]) -> StartRequest:
    lineage, dataset = message.get("lineage"), message.get("dataset")
    if not isinstance(lineage, str) or not lineage or not isinstance(dataset, dict):
        raise MessageError("start message without a lineage or a dataset")
    try:
        ref = DatasetRef.from_dict(dataset)
    except (KeyError, TypeError, ValueError):
        raise MessageError("start message with an incomplete dataset") from None
    if not ref.bucket or not ref.key or not (ref.version_id or ref.etag):
        raise MessageError("start message without a bucket, key and version (or ETag)")
    return StartRequest(lineage, replace(ref, uploaded_at=normalize_event_time(ref.uploaded_at)))


def _upload(event: dict[str, Any]) -> Upload:
    detail = event.get("detail") or {}
    obj = detail.get("object") or {}
    bucket, key = (detail.get("bucket") or {}).get("name"), obj.get("key")
    if not bucket or not key:
        raise MessageError("Object Created event without bucket name or object key")
    # EventBridge sends keys as stored (not URL-encoded like S3's direct notifications), so the key
    # is taken verbatim: decoding would turn a literal '+' into a space.
    dataset = DatasetRef(
        bucket=str(bucket),
        key=str(key),
        version_id=_version_id(obj.get("version-id")),
        etag=str(obj.get("etag") or obj.get("eTag") or "").strip('"'),
        size=int(obj.get("size") or 0),
        uploaded_at=normalize_event_time(event.get("time")),
    )
    return Upload(
        lineage=naming.lineage_of_incoming_key(dataset.key),
        dataset=dataset,
        sequencer=normalize_sequencer(obj.get("sequencer")),
    )


def _version_id(value: object) -> str | None:
    """S3 says `null` for objects written while versioning was off: no version to pin."""
    return str(value) if value and value != "null" else None


def execution_name(lineage: str, iteration: int, dataset: DatasetRef) -> str:
    return naming.execution_name(
        lineage, iteration, naming.dataset_fingerprint(dataset.key, dataset.identity)
    )


def execution_input(lineage: LineageConfig, iteration: int, dataset: DatasetRef) -> dict[str, Any]:
    """The execution input of docs/architecture.md: the lineage config, the number, the dataset."""
    return {
        "kind": ROUND_KIND,
        "lineage": lineage.model_dump(mode="json"),
        "iteration": iteration,
        "dataset": dataset.to_dict(),
    }


def rollback_input(
    lineage: LineageConfig, iteration: int, to_iteration: int, requested_by: str, reason: str
) -> dict[str, Any]:
    """A rollback's execution input: no dataset; `rollback` names the iteration to serve again."""
    return {
        "kind": ROLLBACK_KIND,
        "lineage": lineage.model_dump(mode="json"),
        "iteration": iteration,
        "rollback": {"to_iteration": to_iteration, "requested_by": requested_by, "reason": reason},
    }
