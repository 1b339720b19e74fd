"""The trigger queue's messages, as they arrive: one discriminated union on `kind`.

Four kinds reach the queue: S3 `Object Created` events (from the EventBridge rule; they carry no
`kind` of their own, so the union calls them `upload`), and the `dispatch`, `start` and `approval`
requests. A rollback is not a queue message: `iterft rollback` records the rollback iteration and sends
a `dispatch`; the trigger then starts a `rollback` execution (`models/steps.RollbackExecutionInput`).

Validation errors carry the readable reason the trigger reports (its `MessageError`).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from aws_lambda_powertools.utilities.parser.models import (
    S3EventNotificationEventBridgeDetailModel,
    S3EventNotificationEventBridgeModel,
    S3EventNotificationObjectModel,
)
from pydantic import AliasChoices, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

DISPATCH_KIND: Final = "dispatch"
APPROVAL_KIND: Final = "approval"
START_KIND: Final = "start"
UPLOAD_KIND: Final = "upload"
"""The union's tag for an S3 Object Created event (which has no `kind`)."""


class DispatchMessage(BaseModel):
    """`{"kind": "dispatch", "lineage": NAME}`: start the lineage's next queued upload if it is idle
    (sent by a finished round, `iterft resume`, `iterft rollback` and the reconciler)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["dispatch"] = DISPATCH_KIND
    lineage: str = Field(description="The lineage whose queue head to start.")

    @field_validator("lineage", mode="before")
    @classmethod
    def _named(cls, value: object) -> object:
        if not isinstance(value, str) or not value:
            raise ValueError("dispatch message without a lineage")
        return value


class ApprovalMessage(BaseModel):
    """`{"kind": "approval", "lineage", "iteration", "task_token", "reason"}`: sent by the workflow's
    wait-for-approval step; the trigger records the token on the iteration and asks for a review."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["approval"] = APPROVAL_KIND
    lineage: str = Field(description="The lineage (`$.lineage.name`).")
    iteration: int = Field(description="The round waiting for a reviewer (`$.iteration`).")
    task_token: str = Field(description="The wait-for-approval step's task token (`$$.Task.Token`).")
    reason: str = Field(default="", description="Decide's reason (`$.decision.reason`).")

    @field_validator("iteration", mode="before")
    @classmethod
    def _iteration(cls, value: object) -> object:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"approval message with iteration {value!r}")
        return value

    @field_validator("reason", mode="before")
    @classmethod
    def _reason(cls, value: object) -> str:
        return str(value or "")


class StartDataset(BaseModel):
    """The object a manual round trains on (the fields of `models/records.DatasetRef`)."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str = ""
    size: int = 0
    uploaded_at: str = Field(description="The object's LastModified, ISO-8601 (normalized on receipt).")
    strategy: str | None = Field(default=None, description="`iterft start --strategy`: the round's strategy.")

    @field_validator("version_id", mode="before")
    @classmethod
    def _version(cls, value: object) -> object:
        return value or None

    @field_validator("etag", mode="before")
    @classmethod
    def _etag(cls, value: object) -> object:
        return str(value or "")

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        return value or 0


class StartMessage(BaseModel):
    """`{"kind": "start", "lineage", "dataset": {bucket, key, version_id, etag, size, uploaded_at}}`:
    a manual round (`iterft start`) on an object already in the data bucket, queued and dispatched
    exactly like an upload."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["start"] = START_KIND
    lineage: str
    dataset: StartDataset


class UploadObject(S3EventNotificationObjectModel):
    """Powertools' object model, also reading moto's `eTag` spelling (AWS sends `etag`)."""

    etag: str = Field(
        default="",
        validation_alias=AliasChoices("etag", "eTag"),
        description="The object's ETag (quotes, which moto keeps, are stripped on receipt).",
    )
    size: float | None = Field(default=None, ge=0, description="The size of the object in bytes.")


class UploadDetail(S3EventNotificationEventBridgeDetailModel):
    """Powertools' detail model; what iterft does not read may be absent (moto's events vary)."""

    version: str = "0"
    object: UploadObject  # the subclass reading moto's `eTag`
    request_id: str | None = Field(default=None, alias="request-id")  # type: ignore[assignment]
    requester: str | None = None  # type: ignore[assignment]


class UploadEvent(S3EventNotificationEventBridgeModel):
    """An S3 `Object Created` event delivered by EventBridge (Powertools' S3-over-EventBridge model).

    Only `detail.bucket.name`, `detail.object` and `time` are read; the envelope's other fields default
    when absent. `time` is kept as sent (ISO-8601 from AWS, epoch seconds from moto) and normalized by
    the trigger."""

    kind: Literal["upload"] = Field(default=UPLOAD_KIND, exclude=True)
    version: str = "0"
    id: str = ""
    account: str = ""
    region: str = ""
    resources: list[str] = Field(default_factory=list)
    time: Any = None  # normalized by the trigger (logic/dispatch)
    detail: UploadDetail


def _message_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return str(getattr(value, "kind", None))
    if not isinstance(value, dict):
        return None
    kind = value.get("kind")
    if kind in (DISPATCH_KIND, APPROVAL_KIND, START_KIND):
        return str(kind)
    if value.get("source") == "aws.s3" and value.get("detail-type") == "Object Created":
        return UPLOAD_KIND
    return None


TriggerMessage = Annotated[
    Annotated[DispatchMessage, Tag(DISPATCH_KIND)]
    | Annotated[ApprovalMessage, Tag(APPROVAL_KIND)]
    | Annotated[StartMessage, Tag(START_KIND)]
    | Annotated[UploadEvent, Tag(UPLOAD_KIND)],
    Discriminator(_message_kind),
]
"""One trigger queue message body, by `kind` (an S3 event counts as `upload`)."""
