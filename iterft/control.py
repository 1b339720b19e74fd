"""What operators change in a deployment (as opposed to iterft.history, what they read)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from iterft_runtime.dal.registry import Registry
from iterft_runtime.logic.dispatch import DISPATCH_KIND, timestamp
from iterft_runtime.logic.serving import rollback_refusal

from iterft.target import Deployment, TargetError


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
