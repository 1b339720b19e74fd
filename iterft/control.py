"""What operators change in a deployment (as opposed to iterft.history, what they read)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.exceptions import ClientError
from iterft_runtime import naming
from iterft_runtime.dal.registry import Registry
from iterft_runtime.logic.dispatch import timestamp
from iterft_runtime.logic.serving import rollback_refusal
from iterft_runtime.logic.uploads import UploadStatus
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.messages import DISPATCH_KIND, START_KIND
from iterft_runtime.models.records import DatasetRef, UploadRecord
from iterft_runtime.models.strategy import Strategy

from iterft.history import lineage_config, retired_line
from iterft.target import Deployment, TargetError

MAX_REASON_CHARS = 1000
"""A reviewer's or a rollback's reason travels in the workflow's state (at most 256 KiB), the registry and
the notification: it is a sentence, not a document."""


def _check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON_CHARS:
        raise TargetError(f"the reason is {len(reason):,} characters; at most {MAX_REASON_CHARS:,} are kept")


def _ask_for_dispatch(deployment: Deployment, lineage: str) -> None:
    """Send the trigger the message a finished round sends: dispatch the lineage."""
    deployment.client("sqs").send_message(
        QueueUrl=deployment.trigger_queue_url,
        MessageBody=json.dumps({"kind": DISPATCH_KIND, "lineage": lineage}),
    )


def rollback_lineage(deployment: Deployment, lineage: str, to_iteration: int, reason: str) -> int:
    """Make an earlier promoted iteration the champion and the serving model again; its iteration number.

    Recorded as a new iteration (`rollback_of`, who, why) that takes the lineage's lock like a round;
    the trigger then starts it (a dispatch finds the lock held by an iteration not yet started), and
    the workflow swaps the model in through the same steps as a promotion. Refused while a round runs.
    """
    _check_reason(reason)
    lineage_config(deployment, lineage)  # an unknown lineage fails here, naming the known ones
    registry = Registry(deployment.table_name)
    state = registry.get_state(lineage)
    refusal = rollback_refusal(registry.get_iteration(lineage, to_iteration), state, to_iteration)
    if refusal or state is None:
        raise TargetError(refusal or f"{lineage} has no state")
    if state.lock_owner is not None:
        raise TargetError(f"{lineage}: iteration {state.lock_owner} is running; roll back once it has ended")
    requested_by = deployment.client("sts").get_caller_identity()["Arn"]
    record = registry.begin_rollback(
        lineage,
        state.next_iteration,
        to_iteration=to_iteration,
        requested_by=requested_by,
        reason=reason,
        started_at=timestamp(datetime.now(UTC)),
    )
    if record is None:
        raise TargetError(f"{lineage}: a round started meanwhile; roll back once it has ended")
    _ask_for_dispatch(deployment, lineage)
    return record.iteration


def resume_lineage(deployment: Deployment, lineage: str) -> int:
    """Clear the lineage's `converged` state and ask the trigger to start its queued uploads, in order.

    The request goes through the trigger's own queue (the message a finished round sends), so the
    dispatch takes the lineage's lock exactly as for an upload. Returns the number of queued uploads.
    """
    lineage_config(deployment, lineage)  # an unknown lineage fails here, naming the known ones
    registry = Registry(deployment.table_name)
    if not registry.resume(lineage):
        raise TargetError(f"lineage {lineage!r} has no state in {deployment.stack_name}'s registry")
    queued = len(registry.queued_uploads(lineage))  # before the trigger starts taking them
    _ask_for_dispatch(deployment, lineage)
    return queued


def answer_review(
    deployment: Deployment, lineage: str, iteration: int, *, approved: bool, reason: str
) -> None:
    """Answer a round waiting for approval: SendTaskSuccess with the verdict on its recorded task token.

    The workflow promotes on `approved`, otherwise records the rejection with `reason` and discards
    the candidate's evaluation deployment.
    """
    _check_reason(reason)
    lineage_config(deployment, lineage)
    record = Registry(deployment.table_name).get_iteration(lineage, iteration)
    if record is None:
        raise TargetError(f"{lineage} has no iteration {iteration}")
    status = record.approval.get("status")
    if status != "pending" or not record.approval_token:
        raise TargetError(
            f"{lineage} #{iteration} is not waiting for approval (approval: {status or 'none'})"
        )
    # Who answered, as AWS knows them (the caller's IAM identity), not a local user name.
    reviewer = deployment.client("sts").get_caller_identity()["Arn"]
    verdict = {"approved": approved, "reviewer": reviewer, "reason": reason}
    states = deployment.client("stepfunctions")
    try:
        states.send_task_success(taskToken=record.approval_token, output=json.dumps(verdict))
    except (
        states.exceptions.TaskTimedOut,
        states.exceptions.InvalidToken,
        states.exceptions.TaskDoesNotExist,
    ):
        raise TargetError(
            f"{lineage} #{iteration}: the review is over (timed out or already answered)"
        ) from None


def start_round(
    deployment: Deployment, lineage: str, data_uri: str, strategy: str | None = None
) -> DatasetRef:
    """Ask the trigger for a manual round of `lineage` on an object of the data bucket's incoming/.

    The object version is pinned now (HeadObject; `?versionId=` in the URI picks an older one) and sent
    as a `start` message through the trigger's queue, which records and queues it exactly like an
    upload: one object version makes at most one round, and it waits its turn behind a running round.
    A version already recorded for the lineage is refused here, with a clear reason; so is a `strategy`
    the lineage has no settings for (its round would be refused before any job).
    """
    config = lineage_config(deployment, lineage)  # an unknown lineage fails here, naming the known ones
    if strategy is not None:
        _check_strategy(config, strategy)
    retired = retired_line(Registry(deployment.table_name).get_state(lineage))
    if retired:
        raise TargetError(f"{lineage} was {retired}: remove it from the config")
    bucket, key, version_id = parse_data_uri(data_uri)
    if bucket != deployment.bucket_name:
        raise TargetError(
            f"{data_uri}: the data must be in the stack's data bucket, s3://{deployment.bucket_name}/"
        )
    if not key.startswith(naming.INCOMING_PREFIX) or not key.lower().endswith(naming.DATASET_SUFFIX):
        raise TargetError(
            f"{data_uri}: must be a {naming.DATASET_SUFFIX} file under "
            f"s3://{bucket}/{naming.INCOMING_PREFIX} (what the round's validation reads)"
        )
    s3 = deployment.client("s3")
    try:
        head = s3.head_object(Bucket=bucket, Key=key, **({"VersionId": version_id} if version_id else {}))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion", "400"):
            raise TargetError(f"{data_uri}: no such object") from None
        raise
    dataset = DatasetRef(
        bucket=bucket,
        key=key,
        version_id=head.get("VersionId") or version_id,
        etag=str(head.get("ETag", "")).strip('"'),
        size=int(head.get("ContentLength", 0)),
        uploaded_at=timestamp(datetime.now(UTC)),
        strategy=strategy,
    )
    registry = Registry(deployment.table_name)
    if registry.upload_recorded(lineage, dataset):
        raise TargetError(
            f"{dataset.s3_uri} was already recorded for {lineage}: one object version makes at most one "
            "round (upload a new version to train on it again)"
        )
    deployment.client("sqs").send_message(
        QueueUrl=deployment.trigger_queue_url,
        MessageBody=json.dumps({"kind": START_KIND, "lineage": lineage, "dataset": dataset.to_dict()}),
    )
    return dataset


def _check_strategy(config: LineageConfig, name: str) -> None:
    """Refuse a strategy the lineage's round would refuse for its name or missing settings."""
    known = [strategy.value for strategy in Strategy]
    if name not in known:
        raise TargetError(f"unknown strategy {name!r}; known: {', '.join(known)}")
    if Strategy(name) not in config.strategies.configured():
        raise TargetError(f"{config.name}: {name} needs strategies.{name} settings in the lineage's config")


def withdraw_upload(deployment: Deployment, lineage: str, upload: str, reason: str) -> UploadRecord:
    """Take a queued upload out of the lineage's queue: recorded as withdrawn (who: the caller's IAM
    identity; why: `reason`, which must not be empty), never trained. Returns its ledger entry.

    `upload` is the object's key under incoming/<lineage>/ (or its s3:// URI), with `?versionId=V` to
    name one version; without it, the key must have exactly one queued version. An upload that
    already started (or was never queued) is refused with the reason.
    """
    if not reason.strip():
        raise TargetError("--reason must not be empty: it is recorded with the withdrawal")
    lineage_config(deployment, lineage)  # an unknown lineage fails here, naming the known ones
    key, version_id = parse_upload(deployment, upload)
    registry = Registry(deployment.table_name)
    queued = [
        entry
        for entry in registry.queued_uploads(lineage)
        if entry.dataset.key == key and (version_id is None or entry.dataset.identity == version_id)
    ]
    if len(queued) > 1:
        versions = ", ".join(entry.dataset.identity for entry in queued)
        raise TargetError(f"{key} has {len(queued)} queued versions ({versions}): name one with ?versionId=")
    if not queued:
        raise TargetError(_not_queued(registry, lineage, key, version_id))
    [entry] = queued
    by = deployment.client("sts").get_caller_identity()["Arn"]
    at = timestamp(datetime.now(UTC))
    if not registry.close_queued(lineage, entry, UploadStatus.WITHDRAWN, reason=reason.strip(), by=by, at=at):
        raise TargetError(f"{entry.dataset.s3_uri} started meanwhile; it can no longer be withdrawn")
    [record] = [r for r in registry.uploads(lineage, key) if r.dataset.identity == entry.dataset.identity]
    return record


def _not_queued(registry: Registry, lineage: str, key: str, version_id: str | None) -> str:
    """Why nothing matching is queued: what became of that upload, as the ledger says."""
    seen = [
        r for r in registry.uploads(lineage, key) if version_id is None or r.dataset.identity == version_id
    ]
    name = key + (f"?versionId={version_id}" if version_id else "")
    if not seen:
        return f"no upload {name} was recorded for {lineage} (iterft history {lineage} --uploads lists them)"
    outcomes = "; ".join(
        f"version {r.dataset.identity}: {r.status}" + (f" as iteration {r.iteration}" if r.iteration else "")
        for r in seen
    )
    return f"{name} is not queued for {lineage}, so it cannot be withdrawn ({outcomes})"


def parse_upload(deployment: Deployment, upload: str) -> tuple[str, str | None]:
    """`KEY[?versionId=V]` or `s3://BUCKET/KEY[?versionId=V]` (the stack's data bucket) -> (key, version)."""
    if upload.startswith("s3://"):
        bucket, key, version = parse_data_uri(upload)
        if bucket != deployment.bucket_name:
            raise TargetError(f"{upload}: not in the stack's data bucket, s3://{deployment.bucket_name}/")
        return key, version
    parts = urlsplit(upload)
    key = unquote(parts.path)
    if not key.startswith(naming.INCOMING_PREFIX):
        raise TargetError(f"{upload!r}: name the upload by its key under {naming.INCOMING_PREFIX}")
    return key, parse_qs(parts.query).get("versionId", [None])[0]


def parse_data_uri(uri: str) -> tuple[str, str, str | None]:
    """`s3://bucket/key[?versionId=V]` -> (bucket, key, version id or None)."""
    parts = urlsplit(uri)
    key = unquote(parts.path.lstrip("/"))
    if parts.scheme != "s3" or not parts.netloc or not key:
        raise TargetError(f"{uri!r} is not an s3://BUCKET/KEY URI")
    version = parse_qs(parts.query).get("versionId", [None])[0]
    return parts.netloc, key, version
