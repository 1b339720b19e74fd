"""The reconciler (issue 19): what no path of the workflow may leave behind is repaired by the schedule and
by `iterft repair`, recorded and notified: a lock held by an ended execution is released and the next
upload runs; uploads left queued when their dispatch was dead-lettered are dispatched again; a custom
model no iteration records is recorded and deleted; capacity nothing serves is deleted; a serving pointer
that disagrees with the champion is notified and left as it is.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from iterft_runtime import naming
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import finish
from iterft_runtime.logic.dispatch import timestamp
from iterft_runtime.logic.reconcile import GRACE

from iterft.history import lineage_history, lineage_status
from iterft.local import adapters
from iterft.local.chaos import ScriptedFaults
from iterft.local.session import LocalSession
from stacks.trigger import MAX_RECEIVE_COUNT
from tests.integration.cli_support import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("embedded-default")]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
TIMEOUT = 90
DECIDED = ("promoted", "rejected")


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    for lineage in ("repair-lock", "repair-cli", "repair-orphan", "repair-queue"):
        itest_session.put_evaluation_set(lineage, EXAMPLES / "eval.jsonl")
    return itest_session


def _upload(session: LocalSession, lineage: str, name: str) -> None:
    session.upload(lineage, (EXAMPLES / name).read_bytes(), name=name)


def _until(condition: Any, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not {what} after {timeout} s")
        time.sleep(0.05)


def _execution(session: LocalSession, lineage: str, iteration: int) -> dict[str, Any]:
    """The iteration's execution as DescribeExecution has it (`{}` until the trigger recorded its ARN)."""
    record = Registry(session.stack.registry_table).get_iteration(lineage, iteration)
    if record is None or not record.execution_arn:
        return {}
    return dict(session.client("stepfunctions").describe_execution(executionArn=record.execution_arn))


def _lock_owner(session: LocalSession, lineage: str) -> int | None:
    state = Registry(session.stack.registry_table).get_state(lineage)
    return state.lock_owner if state else None


def _repairs_of(results: list[dict[str, Any]], lineage: str) -> list[dict[str, Any]]:
    return [repair for result in results for repair in result["repairs"] if repair["lineage"] == lineage]


def test_the_schedule_releases_a_lock_finish_could_not_and_the_next_upload_runs(
    session: LocalSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finish fails on every attempt (its cost estimate, before the release, is made to fail): the execution
    fails holding the lock, and the next upload waits. The scheduled run releases the lock, records and
    notifies the repair, and asks for a dispatch: the queued upload runs."""
    lineage = "repair-lock"

    def unreachable(*_: object, **__: object) -> None:
        raise RuntimeError("injected: the registry is unreachable from Finish")

    monkeypatch.setattr(finish, "_estimate", unreachable)
    _upload(session, lineage, "round-1-billing.jsonl")
    _until(lambda: _execution(session, lineage, 1).get("status") in ("FAILED", "SUCCEEDED"), "ended")
    assert _execution(session, lineage, 1)["status"] == "FAILED"
    _upload(session, lineage, "round-2-storage-and-account.jsonl")
    _until(adapters.is_quiet, "quiet")
    monkeypatch.undo()
    assert _lock_owner(session, lineage) == 1
    [status] = lineage_status(session.deployment, lineage)
    assert status["lock_execution_status"] == "FAILED" and len(status["queued"]) == 1

    results = session.run_schedule()

    [repair] = _repairs_of(results, lineage)
    assert (repair["kind"], repair["iteration"], repair["execution_status"], repair["error"]) == (
        "release_lock",
        1,
        "FAILED",
        None,
    )
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    first, second = lineage_history(session.deployment, lineage)
    # Promote had committed before Finish failed: the round stays promoted (a running one is recorded
    # failed: the next test), and the champion it made is what round 2 built on.
    assert first["decision"] == "promoted" and second["parent_iteration"] == 1
    assert second["decision"] in DECIDED, second["reason"]
    [notice] = [
        n for n in session.notifications() if n["subject"] == f"iterft {lineage} repaired: release_lock"
    ]
    assert "iteration 1's execution FAILED" in notice["message"]
    [status] = lineage_status(session.deployment, lineage)
    assert any("iteration 1's execution FAILED" in line for line in status["repairs"])


def test_iterft_repair_releases_the_lock_records_the_round_failed_and_dry_run_changes_nothing(
    session: LocalSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invalid upload's round reaches Finish, which fails on every attempt: the iteration still says
    running and holds the lock. `iterft status` says so; `iterft repair --dry-run` says what it would do
    and does nothing; `iterft repair` records the round failed, releases the lock, and the next upload runs.
    (StopExecution cannot end an execution waiting on a task in moto 5.2.5, so Finish fails instead.)"""
    lineage = "repair-cli"
    registry = Registry(session.stack.registry_table)

    def unreachable(*_: object, **__: object) -> None:
        raise RuntimeError("injected: the registry is unreachable from Finish")

    monkeypatch.setattr(finish, "_estimate", unreachable)
    session.upload(lineage, b"not json\n" * 10, name="broken.jsonl")
    _until(lambda: _execution(session, lineage, 1).get("status") == "FAILED", "failed")
    _upload(session, lineage, "round-1-billing.jsonl")
    _until(adapters.is_quiet, "quiet")
    monkeypatch.undo()

    code, out, _ = run_cli(session, capsys, "status", lineage)
    assert code == 0 and "whose execution FAILED" in out and f"iterft repair {lineage}" in out

    code, out, _ = run_cli(session, capsys, "repair", lineage, "--dry-run")
    assert code == 0, out
    assert "would repair repair-cli: release_lock: iteration 1's execution FAILED" in out
    record = registry.get_iteration(lineage, 1)
    assert _lock_owner(session, lineage) == 1 and record is not None and record.decision == "running"

    code, out, _ = run_cli(session, capsys, "repair", lineage)
    assert code == 0 and out.startswith("repair-cli: release_lock"), out
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    first, second = lineage_history(session.deployment, lineage)
    assert first["decision"] == "failed" and "execution ended (FAILED)" in first["reason"]
    assert second["decision"] in DECIDED, second["reason"]
    code, out, _ = run_cli(session, capsys, "repair", lineage)
    assert (code, out.strip()) == (0, f"{lineage}: nothing to repair")


def test_an_orphan_model_and_capacity_are_deleted_and_a_moved_pointer_only_notified(
    session: LocalSession,
) -> None:
    """Round 1 promotes; round 2's job fails. A job that completes afterwards under round 2's model name
    (the model a round failing while its job finished would leave) and an evaluation deployment of it: the
    schedule deletes the deployment, records the model on iteration 2 and deletes it (a failed round's
    candidate). The serving pointer moved by hand is notified, not moved back."""
    lineage = "repair-orphan"
    bedrock = session.client("bedrock")
    _upload(session, lineage, "round-1-billing.jsonl")
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    session.standin.fail_next_job(f"iterft-{lineage}-", "Internal error: the training instance was lost")
    _upload(session, lineage, "round-2-storage-and-account.jsonl")
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    first, failed = lineage_history(session.deployment, lineage)
    assert (
        first["decision"] == "promoted" and failed["decision"] == "failed" and not failed["output_model_arn"]
    )

    record = Registry(session.stack.registry_table).get_iteration(lineage, 2)
    assert record is not None and record.job_name
    job = bedrock.get_model_customization_job(jobIdentifier=record.job_name)
    fingerprint = record.job_name.rsplit("-", 1)[1]
    model_name = naming.custom_model_name(lineage, 2, fingerprint)
    late = bedrock.create_model_customization_job(
        jobName=f"late-{lineage}-it0002",
        customModelName=model_name,
        roleArn=job["roleArn"],
        baseModelIdentifier=job["baseModelArn"],
        trainingDataConfig=job["trainingDataConfig"],
        outputDataConfig=job["outputDataConfig"],
    )
    orphan = bedrock.get_model_customization_job(jobIdentifier=late["jobArn"])["outputModelArn"]
    capacity_name = naming.evaluation_capacity_name(lineage, 2, fingerprint, "candidate")
    capacity = bedrock.create_custom_model_deployment(modelDeploymentName=capacity_name, modelArn=orphan)
    pointer_name = naming.serving_parameter_name(session.stack.stack_name, lineage)
    ssm = session.client("ssm")
    ssm.put_parameter(Name=pointer_name, Value="amazon.nova-micro-v1:0", Type="String", Overwrite=True)

    repairs = _repairs_of(session.run_schedule(), lineage)

    assert [(r["kind"], r["target"], r["error"]) for r in repairs] == [
        ("delete_capacity", capacity["customModelDeploymentArn"], None),
        ("record_model", orphan, None),
        ("delete_model", orphan, None),
        ("pointer_mismatch", first["serving_model_id"], None),
    ]
    assert [item for item in session.bedrock_inventory() if item["name"] == capacity_name] == []
    assert orphan not in [model["modelArn"] for model in bedrock.list_custom_models()["modelSummaries"]]
    _, failed = lineage_history(session.deployment, lineage)
    assert failed["output_model_arn"] == orphan and failed["model_deleted_at"]
    assert ssm.get_parameter(Name=pointer_name)["Parameter"]["Value"] == "amazon.nova-micro-v1:0"
    [notice] = [n for n in session.notifications() if n["subject"].startswith(f"iterft {lineage} repaired")]
    assert "serving pointer says amazon.nova-micro-v1:0" in notice["message"]
    # Notified once: the next run finds the same disagreement and says nothing new.
    assert _repairs_of(session.run_schedule(), lineage) == []
    ssm.put_parameter(Name=pointer_name, Value=first["serving_model_id"], Type="String", Overwrite=True)


def test_the_schedule_dispatches_uploads_left_queued_when_their_dispatch_was_dead_lettered(
    session: LocalSession,
) -> None:
    """The trigger records the upload, then its dispatch fails on every delivery (the registry's Query,
    past botocore's retries) until SQS moves the message to the dead-letter queue: the upload waits with
    no lock and nothing to start it (chaos found it). Within the grace period the schedule leaves it (a
    dispatch may be on its way); past it, the schedule dispatches the lineage again and the round runs."""
    lineage = "repair-queue"
    [trigger] = [f.name for f in session.stack.functions.values() if ".handlers.trigger." in f.handler]
    with ScriptedFaults() as faults:
        faults.fail_next(trigger, "dynamodb", "Query", "InternalServerError", times=MAX_RECEIVE_COUNT)
        _upload(session, lineage, "round-1-billing.jsonl")
        _until(lambda: _dead_lettered(session, lineage), "dead-lettered")
    _until(adapters.is_quiet, "quiet")
    [status] = lineage_status(session.deployment, lineage)
    assert status["running_iteration"] is None and len(status["queued"]) == 1
    assert _repairs_of(session.run_schedule(), lineage) == []

    _age_queue(session, lineage, timestamp(datetime.now(UTC) - GRACE))
    [repair] = _repairs_of(session.run_schedule(), lineage)

    assert (repair["kind"], repair["iteration"], repair["error"]) == ("redispatch", None, None)
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    [row] = lineage_history(session.deployment, lineage)
    assert row["decision"] in DECIDED, row["reason"]


def _dead_lettered(session: LocalSession, lineage: str) -> bool:
    prefix = naming.incoming_prefix(lineage)
    return any(
        m.get("detail", {}).get("object", {}).get("key", "").startswith(prefix)
        for m in session.dead_letters()
    )


def _age_queue(session: LocalSession, lineage: str, received_at: str) -> None:
    """Every queued upload of the lineage reached the trigger queue at `received_at`."""
    dynamodb, table = session.client("dynamodb"), session.stack.registry_table
    items = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :queue)",
        ExpressionAttributeValues={
            ":pk": {"S": naming.lineage_pk(lineage)},
            ":queue": {"S": naming.QUEUE_SK_PREFIX},
        },
    )["Items"]
    for item in items:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET received_at = :at",
            ExpressionAttributeValues={":at": {"S": received_at}},
        )
