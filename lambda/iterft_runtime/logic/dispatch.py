"""Trigger messages and dispatch planning: what a queue message means and what an execution gets."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from iterft_runtime import naming
from iterft_runtime.logic.uploads import Classification, classify, normalize_sequencer
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.messages import (
    APPROVAL_KIND,
    DISPATCH_KIND,
    START_KIND,
    ApprovalMessage,
    DispatchMessage,
    StartMessage,
    TriggerMessage,
    UploadEvent,
)
from iterft_runtime.models.records import DatasetRef

ROUND_KIND = "round"
"""An execution input's `kind`: a training round (started by an upload)..."""
ROLLBACK_KIND = "rollback"
"""...or a rollback (started by `iterft rollback`): the workflow's first Choice reads it."""

_MESSAGES: TypeAdapter[TriggerMessage] = TypeAdapter(TriggerMessage)


class MessageError(ValueError):
    """A queue message this trigger cannot act on (it goes to the dead-letter queue for a look)."""


DispatchRequest = DispatchMessage
"""`{"kind": "dispatch", "lineage": NAME}` (models/messages.py)."""
ApprovalRequest = ApprovalMessage
"""`{"kind": "approval", "lineage", "iteration", "task_token", "reason"}` (models/messages.py)."""


@dataclass(frozen=True)
class StartRequest:
    """A `{"kind": "start"}` message (models/messages.StartMessage) as the trigger acts on it: a manual
    round (`iterft start`) on an object already in the data bucket. Queued and dispatched exactly like an
    upload: the same marker makes one object version at most one round."""

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
    """An S3 `Object Created` event (models/messages.UploadEvent); `lineage` is None when the key is not
    under incoming/<lineage>/ (a folder marker `incoming/<lineage>/` is under it). `sequencer` orders the
    versions of one key."""

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
    """Classify one SQS message body (models/messages.TriggerMessage): a dispatch, approval or start
    request, or an S3 Object Created event."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError:
        raise MessageError("message body is not JSON") from None
    if not isinstance(message, dict):
        raise MessageError("message body is not a JSON object")
    try:
        parsed = _MESSAGES.validate_python(message)
    except ValidationError as error:
        raise MessageError(_refusal(message, error)) from None
    if isinstance(parsed, StartMessage):
        return _start(parsed)
    if isinstance(parsed, UploadEvent):
        return _upload(parsed)
    return parsed


def _refusal(message: dict[str, Any], error: ValidationError) -> str:
    """The one-line reason a message of each kind is refused."""
    first = error.errors()[0]
    kind = message.get("kind")
    if first["type"] == "union_tag_invalid" or first["type"] == "union_tag_not_found":
        return f"unknown message (source {message.get('source')!r}, kind {kind!r})"
    if kind == APPROVAL_KIND:
        fields = {str(part) for item in error.errors() for part in item["loc"][1:2]}
        if fields & {"lineage", "task_token"} or not message.get("lineage"):
            return "approval message without a lineage or a task token"
        return str((first.get("ctx") or {}).get("error") or first["msg"])
    if kind == DISPATCH_KIND:
        return "dispatch message without a lineage"
    if kind == START_KIND:
        if not isinstance(message.get("lineage"), str) or not message.get("lineage"):
            return "start message without a lineage or a dataset"
        if not isinstance(message.get("dataset"), dict):
            return "start message without a lineage or a dataset"
        return "start message with an incomplete dataset"
    return "Object Created event without bucket name or object key"


def _start(message: StartMessage) -> StartRequest:
    dataset = message.dataset
    if not message.lineage:
        raise MessageError("start message without a lineage or a dataset")
    if not dataset.bucket or not dataset.key or not (dataset.version_id or dataset.etag):
        raise MessageError("start message without a bucket, key and version (or ETag)")
    ref = DatasetRef.from_dict(dataset.model_dump())
    return StartRequest(message.lineage, replace(ref, uploaded_at=normalize_event_time(ref.uploaded_at)))


def _upload(event: UploadEvent) -> Upload:
    obj = event.detail.object
    bucket, key = event.detail.bucket.name, obj.key
    if not bucket or not key:
        raise MessageError("Object Created event without bucket name or object key")
    # EventBridge sends keys as stored (not URL-encoded like S3's direct notifications), so the key
    # is taken verbatim: decoding would turn a literal '+' into a space.
    dataset = DatasetRef(
        bucket=bucket,
        key=key,
        version_id=_version_id(obj.version_id),
        etag=obj.etag.strip('"'),
        size=int(obj.size or 0),
        uploaded_at=normalize_event_time(event.time),
    )
    return Upload(
        lineage=naming.lineage_of_incoming_key(dataset.key),
        dataset=dataset,
        sequencer=normalize_sequencer(obj.sequencer),
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
