"""SQS trigger: record uploads, queue them, and start a lineage's next round when it is idle.

Each message is an EventBridge S3 `Object Created` event, a `{"kind": "dispatch"}` request from a
finished round or from `iterft resume`, a `{"kind": "start"}` request from `iterft start` (a manual
round on an object of the data bucket, recorded and queued like an upload), or a `{"kind": "approval"}`
request from a round waiting for a reviewer (its task token is recorded on the iteration, and the
team is asked to answer).
A message that fails is reported in batchItemFailures and redelivered; everything here is safe
to repeat (conditional writes, idempotent execution start).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from iterft_runtime import naming
from iterft_runtime.dal import notifier, storage, workflow
from iterft_runtime.dal.lineages import known_lineages, lineage_config
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.cost import BudgetCheck, budget_check, parse_time
from iterft_runtime.logic.dispatch import (
    ApprovalRequest,
    DispatchRequest,
    MessageError,
    StartRequest,
    Upload,
    execution_input,
    execution_name,
    parse_message,
    rollback_input,
    timestamp,
)
from iterft_runtime.logic.feedback import (
    FEEDBACK_PREFIX,
    check_feedback,
    lineage_of_feedback_key,
    report_document,
)
from iterft_runtime.logic.notifications import (
    approval_notification,
    budget_notification,
    feedback_problems_notification,
    unknown_lineage_notification,
    upload_not_trained_notification,
)
from iterft_runtime.logic.strategies import distils_from_logs
from iterft_runtime.logic.uploads import UploadStatus, classify, plan_next
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import DatasetRef, Decision, IterationRecord, LineageState, QueuedUpload

logger = Logger()

DISPATCH_ATTEMPTS = 3
"""Tries when another dispatcher wins the race for the same lineage (it then starts the round)."""


class DispatchIncompleteError(RuntimeError):
    """Raised so that SQS redelivers the message: the queue head was neither started nor taken."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # A processor per invocation: it holds the batch's results, and invocations may run concurrently.
    processor = BatchProcessor(event_type=EventType.SQS)
    return dict(
        process_partial_response(event=event, record_handler=_handle, processor=processor, context=context)
    )


def _handle(record: SQSRecord) -> None:
    message = parse_message(record.body)
    received_at = _sent_at(record)
    if isinstance(message, DispatchRequest):
        lineage = _lineage_config(message.lineage)
        if lineage is None:
            logger.warning("dispatch request for an unknown lineage", extra={"lineage": message.lineage})
            return
        dispatch(Registry(settings.table_name()), lineage)
        return
    if isinstance(message, ApprovalRequest):
        _request_approval(message)
        return
    if isinstance(message, StartRequest):
        _handle_start(message)
        return
    _handle_upload(message, received_at)


def _sent_at(record: SQSRecord) -> str | None:
    """When the trigger queue received the message (SQS SentTimestamp, epoch milliseconds)."""
    sent = (record.raw_event.get("attributes") or {}).get("SentTimestamp")
    try:
        return timestamp(datetime.fromtimestamp(int(sent) / 1000, UTC)) if sent else None
    except (TypeError, ValueError):
        return None


def _handle_start(request: StartRequest) -> None:
    """A manual round: checked (the data bucket's incoming/, a known lineage), then recorded and
    dispatched exactly like an upload, so a repeated request for the same object version is one round."""
    request.check(settings.bucket_name())
    lineage = _lineage_config(request.lineage)
    if lineage is None:
        raise MessageError(f"start request for an unknown lineage {request.lineage!r}")
    _queue_and_dispatch(lineage, request.dataset)


def _request_approval(request: ApprovalRequest) -> None:
    """Record the pending review (token included) on the iteration, then ask the team; both repeatable."""
    lineage = _lineage_config(request.lineage)
    if lineage is None:
        raise MessageError(f"approval request for an unknown lineage {request.lineage!r}")
    approval = {"status": "pending", "requested_at": settings.now()}
    Registry(settings.table_name()).update_iteration(
        lineage.name, request.iteration, {"approval": approval, "approval_token": request.task_token}
    )
    notifier.publish(
        settings.topic_arn(),
        approval_notification(
            lineage.name, request.iteration, request.reason, lineage.approval.timeout_hours
        ),
    )
    logger.info("approval requested", extra={"lineage": lineage.name, "iteration": request.iteration})


MAX_REPORTED_FEEDBACK_PROBLEMS = 1000
"""Problems a feedback file's report lists (its `problem_count` counts them all)."""


def _check_feedback(upload: Upload) -> None:
    """A feedback file arrived under feedback/<lineage>/ (docs/flywheel.md): checked at once, every problem
    with its line, recorded as feedback-reports/<lineage>/<name>.report.json and, when it has problems,
    notified (curation will not use it). It starts nothing."""
    dataset = upload.dataset
    name = lineage_of_feedback_key(dataset.key)
    lineage = _lineage_config(name) if name else None
    if lineage is None or lineage.traffic is None:
        logger.warning("feedback for no curated lineage", extra={"key": dataset.key, "lineage": name})
        return
    bucket, report_key = settings.bucket_name(), naming.feedback_report_key(dataset.key)
    earlier = storage.read_json(bucket, report_key)
    if (
        isinstance(earlier, dict)
        and earlier.get("source") == dataset.s3_uri
        and earlier.get("notified", True)
    ):
        # S3 events arrive at least once: this version was checked (and any refusal notified) before.
        logger.info("feedback already checked", extra={"lineage": lineage.name, "feedback": dataset.s3_uri})
        return
    report = check_feedback(storage.iter_lines(dataset.bucket, dataset.key, dataset.version_id))
    document = report_document(dataset.s3_uri, report, MAX_REPORTED_FEEDBACK_PROBLEMS)
    if not report.valid:  # true once the team is told: a redelivery before then tells it
        document["notified"] = False
    report_uri = storage.put_json(bucket, report_key, document)
    logger.info(
        "feedback checked",
        extra={"lineage": lineage.name, "feedback": dataset.s3_uri, "summary": document["summary"]},
    )
    if not report.valid:
        problems = report.problems or [(0, "no feedback records")]
        notifier.publish(
            settings.topic_arn(),
            feedback_problems_notification(lineage.name, dataset.s3_uri, problems, report_uri),
        )
        storage.put_json(bucket, report_key, {**document, "notified": True})


def _handle_upload(upload: Upload, received_at: str | None) -> None:
    key = upload.dataset.key
    if key.startswith(FEEDBACK_PREFIX):
        _check_feedback(upload)
        return
    lineage = _lineage_config(upload.lineage) if upload.lineage else None
    if lineage is None:
        known = _known_lineages()
        logger.warning("upload for an unknown lineage", extra={"key": key, "known": known})
        notifier.publish(settings.topic_arn(), unknown_lineage_notification(key, upload.lineage, known))
        return
    kind = classify(key, upload.dataset.size, empty_starts_a_round=distils_from_logs(lineage))
    if not kind.is_dataset:
        _record_not_trained(lineage, upload, kind.status, kind.reason)
        return
    _queue_and_dispatch(lineage, upload.dataset, sequencer=upload.sequencer, received_at=received_at)


def _record_not_trained(lineage: LineageConfig, upload: Upload, status: UploadStatus, reason: str) -> None:
    """Nothing under incoming/<lineage>/ is silently ignored: recorded in the upload ledger (iterft
    history --uploads, iterft status) and notified, once per object version."""
    registry = Registry(settings.table_name())
    dataset = upload.dataset
    logger.info(
        "upload recorded without a round",
        extra={"lineage": lineage.name, "dataset": dataset.s3_uri, "status": status.value, "reason": reason},
    )
    if registry.record_refused(
        lineage.name, dataset, status, reason, at=settings.now(), sequencer=upload.sequencer
    ):
        notifier.publish(
            settings.topic_arn(),
            upload_not_trained_notification(lineage.name, dataset.s3_uri, status.value, reason),
        )


def _queue_and_dispatch(
    lineage: LineageConfig,
    dataset: DatasetRef,
    *,
    sequencer: str | None = None,
    received_at: str | None = None,
) -> None:
    registry = Registry(settings.table_name())
    registry.ensure_state(lineage)
    state = registry.get_state(lineage.name)
    if state is not None and state.retired_at:
        _refuse_retired(registry, lineage.name, state, dataset, sequencer)
        return
    if registry.record_upload(
        lineage.name, dataset, sequencer=sequencer, received_at=received_at, recorded_at=settings.now()
    ):
        logger.info("upload queued", extra={"lineage": lineage.name, "dataset": dataset.s3_uri})
    else:
        logger.info("upload already recorded", extra={"lineage": lineage.name, "dataset": dataset.s3_uri})
    # Dispatch even for a redelivery: the first delivery may have died between queueing and starting.
    dispatch(registry, lineage)


def _refuse_retired(
    registry: Registry, lineage: str, state: LineageState, dataset: DatasetRef, sequencer: str | None
) -> None:
    """An upload for a retired lineage that is still configured: recorded as refused and notified once."""
    reason = (
        f"lineage {lineage} was retired on {state.retired_at} by {state.retired_by} "
        f"({state.retired_reason}): remove it from the config and deploy; upload to another lineage"
    )
    logger.info("upload for a retired lineage", extra={"lineage": lineage, "dataset": dataset.s3_uri})
    if registry.record_refused(
        lineage, dataset, UploadStatus.REFUSED, reason, at=settings.now(), sequencer=sequencer
    ):
        notifier.publish(
            settings.topic_arn(),
            upload_not_trained_notification(lineage, dataset.s3_uri, UploadStatus.REFUSED.value, reason),
        )


def dispatch(registry: Registry, lineage: LineageConfig) -> str | None:
    """Start the lineage's next queued upload if the lineage is idle; the started execution's ARN.

    A lock already held by an iteration whose execution never started (a dispatcher died after
    taking it) is resumed: the execution name is deterministic, so starting it again is harmless.
    A converged lineage with `gate.pause_when_converged` starts nothing: its uploads stay queued
    (visible in `iterft status`) until `iterft resume` clears `converged` and asks for a dispatch.
    Nor does a lineage `iterft retire` retired, or one whose estimated spend this month (UTC) has
    reached its monthly budget: the next dispatch in a new month, or under a raised budget, starts the
    queue head.
    """
    for _ in range(DISPATCH_ATTEMPTS):
        state = registry.get_state(lineage.name)
        if state is None:
            registry.ensure_state(lineage)
            continue
        if state.retired_at:
            logger.info("retired: nothing starts", extra={"lineage": lineage.name})
            return None
        if state.lock_owner is not None:
            held = registry.get_iteration(lineage.name, state.lock_owner)
            if held is not None and held.decision == Decision.RUNNING and held.execution_arn is None:
                return _start(registry, lineage, held)
            return None
        if state.converged and lineage.gate.pause_when_converged:
            logger.info("converged: uploads wait for iterft resume", extra={"lineage": lineage.name})
            return None
        queued = registry.queued_uploads(lineage.name)
        if not queued:
            return None
        budget = budget_check(lineage.cost, state.spend_month, state.spend_usd, parse_time(settings.now()))
        if budget is not None and budget.reached:
            _notify_budget_reached(registry, lineage.name, budget)
            return None
        head = _next_runnable(registry, lineage, queued)
        if head is None:
            return None
        record = registry.try_dispatch(lineage.name, state.next_iteration, head, settings.now())
        if record is not None:
            return _start(registry, lineage, record)
        logger.info("lost a dispatch race; looking again", extra={"lineage": lineage.name})
    raise DispatchIncompleteError(
        f"{lineage.name}: the queue head was not dispatched after {DISPATCH_ATTEMPTS} attempts"
    )


def _next_runnable(
    registry: Registry, lineage: LineageConfig, queued: list[QueuedUpload]
) -> QueuedUpload | None:
    """The queued upload to run next (logic/uploads.plan_next); on the way, stale or superseded
    versions are recorded as superseded, and a head whose object version was deleted as withdrawn."""
    while queued:
        sequenced = {entry.dataset.key for entry in queued if entry.sequencer is not None}
        plan = plan_next(
            queued,
            registry.started_versions(lineage.name, sequenced),
            supersede_same_key=lineage.queue.supersede_same_key,
        )
        for item in plan.superseded:
            _close(registry, lineage.name, item.entry, UploadStatus.SUPERSEDED, item.reason, None)
        head = plan.head
        if head is None:
            return None
        gone = _deleted_reason(head.dataset)
        if gone is None:
            return head
        _close(registry, lineage.name, head, UploadStatus.WITHDRAWN, gone, DELETED_BY)
        queued = registry.queued_uploads(lineage.name)
    return None


DELETED_BY = "s3"
"""Who withdrew an upload whose object version was deleted before its round started."""


def _deleted_reason(dataset: DatasetRef) -> str | None:
    """Why the upload can no longer run (its object version deleted, or hidden by a delete marker), or
    None when it still exists as uploaded."""
    try:
        found = storage.head_object(dataset.bucket, dataset.key, dataset.version_id)
        if dataset.version_id is None and dataset.etag and found.etag != dataset.etag:
            return "the object was overwritten before its round started (unversioned bucket)"
        if dataset.version_id is not None:
            storage.head_object(dataset.bucket, dataset.key)
    except storage.ObjectNotFoundError:
        if dataset.version_id is None:
            return "the object was deleted before its round started"
        return (
            f"the object version {dataset.version_id} was deleted (or hidden by a delete marker) "
            "before its round started"
        )
    return None


def _close(
    registry: Registry,
    lineage: str,
    entry: QueuedUpload,
    status: UploadStatus,
    reason: str,
    by: str | None,
) -> None:
    """Take `entry` out of the queue as withdrawn or superseded, and tell the team (once: only the
    dispatcher whose write took it out notifies)."""
    if not registry.close_queued(lineage, entry, status, reason=reason, by=by, at=settings.now()):
        return
    logger.info(
        "upload not trained",
        extra={"lineage": lineage, "dataset": entry.dataset.s3_uri, "status": status.value, "reason": reason},
    )
    notifier.publish(
        settings.topic_arn(),
        upload_not_trained_notification(lineage, entry.dataset.s3_uri, status.value, reason, by),
    )


def _notify_budget_reached(registry: Registry, lineage: str, budget: BudgetCheck) -> None:
    """Tell the team once per month and lineage: the mark is taken first (concurrent dispatches
    notify once) and given back if the message cannot be sent, so a redelivery sends it."""
    logger.info(
        "monthly budget reached: uploads stay queued",
        extra={"lineage": lineage, "month": budget.month, "spend_usd": budget.spend_usd},
    )
    if not registry.mark_budget_notified(lineage, budget.month):
        return
    queued = len(registry.queued_uploads(lineage))
    try:
        notifier.publish(
            settings.topic_arn(),
            budget_notification(lineage, budget.month, budget.spend_usd, budget.budget_usd, queued),
        )
    except Exception:
        registry.unmark_budget_notified(lineage, budget.month)
        raise


def _start(registry: Registry, lineage: LineageConfig, record: IterationRecord) -> str:
    """Start the iteration's execution: a training round, or a rollback `iterft rollback` recorded."""
    if record.rollback_of is not None:
        name = naming.rollback_execution_name(lineage.name, record.iteration, record.rollback_of)
        request = rollback_input(
            lineage,
            record.iteration,
            record.rollback_of,
            record.requested_by or "unknown",
            record.reason or "",
        )
    else:
        dataset = record.dataset_ref()
        name = execution_name(lineage.name, record.iteration, dataset)
        request = execution_input(lineage, record.iteration, dataset)
    arn = workflow.start_execution(settings.state_machine_arn(), name, request)
    registry.update_iteration(lineage.name, record.iteration, {"execution_arn": arn})
    logger.info(
        "round started", extra={"lineage": lineage.name, "iteration": record.iteration, "execution": arn}
    )
    return arn


def _lineage_config(name: str) -> LineageConfig | None:
    """The lineage's config from SSM, or None when no such lineage is configured."""
    return lineage_config(settings.lineage_parameter_prefix(), name)


def _known_lineages() -> list[str]:
    return known_lineages(settings.lineage_parameter_prefix())
