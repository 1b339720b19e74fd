"""The trigger: `iterft start` requests (an object version run once, queued like an upload) and the
monthly budget (uploads queued over it, started again in a new month or under a raised budget)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from iterft_runtime.dal.registry import MonthSpend
from iterft_runtime.handlers import settings, trigger
from runtime_support import BUCKET, LINEAGE, LINEAGE_CONFIG, Aws, valid_dataset
from trigger_support import (
    dispatch_message,
    run,
    upload_event,
)

pytest_plugins = ("runtime_fixtures", "step_contract_fixtures")


def start_message(key: str, version_id: str | None, *, lineage: str = LINEAGE, bucket: str = BUCKET) -> str:
    """What `iterft start` sends: the object version it read with HeadObject."""
    dataset = {
        "bucket": bucket,
        "key": key,
        "version_id": version_id,
        "etag": "b1946ac9",
        "size": 55,
        "uploaded_at": "2026-03-01T11:00:00.000Z",
    }
    return json.dumps({"kind": "start", "lineage": lineage, "dataset": dataset})


def test_a_start_request_runs_a_round_on_that_object_version_once(aws: Aws) -> None:
    key = "incoming/staging/manual.jsonl"
    version = aws.upload(key, valid_dataset())["VersionId"]
    message = start_message(key, version)
    assert run(message, message) == []
    assert run(message) == []  # repeated: the same upload marker as an S3 event's
    [execution] = aws.executions()
    assert execution["input"]["iteration"] == 1
    assert execution["input"]["dataset"]["key"] == key
    assert execution["input"]["dataset"]["version_id"] == version
    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None and record.dataset_key == key


def test_a_start_request_waits_in_the_queue_behind_a_running_round(aws: Aws) -> None:
    assert run(upload_event(aws, "first.jsonl", "2026-03-01T10:00:00Z")) == []
    key = f"incoming/{LINEAGE}/again.jsonl"
    version = aws.upload(key, valid_dataset())["VersionId"]
    assert run(start_message(key, version)) == []
    assert len(aws.executions()) == 1
    assert [q.dataset.key for q in aws.registry.queued_uploads(LINEAGE)] == [key]


@pytest.mark.parametrize(
    ("key", "lineage", "bucket", "error"),
    [
        pytest.param(
            "incoming/x/a.jsonl", "nobody", BUCKET, "unknown lineage 'nobody'", id="unknown-lineage"
        ),
        pytest.param("incoming/x/a.jsonl", LINEAGE, "elsewhere", "not the data bucket", id="other-bucket"),
        pytest.param(
            "validated/x/a.jsonl", LINEAGE, BUCKET, "not a .jsonl key under incoming/", id="outside"
        ),
    ],
)
def test_a_start_request_the_pipeline_cannot_run_fails_for_the_dead_letter_queue(
    aws: Aws, key: str, lineage: str, bucket: str, error: str
) -> None:
    # The only message of the batch fails, so the whole batch is reported failed (and redelivered).
    with pytest.raises(BatchProcessingError, match=error):
        run(start_message(key, "v1", lineage=lineage, bucket=bucket))
    assert aws.executions() == []
    assert aws.registry.get_state(LINEAGE) is None


# -- the monthly budget ----------------------------------------------------------------------------

BUDGETED = {
    **LINEAGE_CONFIG,
    "cost": {
        "training_usd_per_1k_tokens": 0.008,
        "evaluation_capacity_usd_per_hour": 2.0,
        "monthly_budget_usd": 5,
    },
}


def over_budget(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 1 ran in March 2026 and its Finish counted $6 against the $5 budget."""
    monkeypatch.setattr(settings, "now", lambda: "2026-03-15T10:00:00.000Z")
    aws.put_lineage(BUDGETED)
    assert run(upload_event(aws, "first.jsonl", "2026-03-01T10:00:00Z")) == []
    assert aws.registry.release_lock(LINEAGE, 1, MonthSpend("2026-03", 6.0))


def budget_notices(aws: Aws) -> list[dict[str, str]]:
    return [n for n in aws.notifications() if "monthly budget reached" in n["Subject"]]


def test_a_lineage_over_its_monthly_budget_queues_uploads_and_notifies_once(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    over_budget(aws, monkeypatch)

    assert run(upload_event(aws, "second.jsonl", "2026-03-15T10:00:00Z")) == []
    assert run(upload_event(aws, "third.jsonl", "2026-03-15T10:05:00Z"), dispatch_message()) == []

    assert len(aws.executions()) == 1  # recorded and queued, not started
    assert [q.dataset.key.rsplit("/", 1)[-1] for q in aws.registry.queued_uploads(LINEAGE)] == [
        "second.jsonl",
        "third.jsonl",
    ]
    [notice] = budget_notices(aws)  # once a month, not once an upload
    assert notice["Subject"] == f"iterft {LINEAGE} monthly budget reached: $6.00 of $5.00 in 2026-03"
    assert "estimated spend in 2026-03 (UTC) is $6.00 of the $5.00 monthly budget" in notice["Message"]
    assert f"`iterft resume {LINEAGE}`" in notice["Message"]


def test_a_new_month_starts_the_queued_uploads_again(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    over_budget(aws, monkeypatch)
    assert run(upload_event(aws, "second.jsonl", "2026-03-31T23:59:00Z")) == []
    assert len(aws.executions()) == 1

    monkeypatch.setattr(settings, "now", lambda: "2026-04-01T00:00:01.000Z")
    assert run(dispatch_message()) == []

    assert len(aws.executions()) == 2 and aws.registry.queued_uploads(LINEAGE) == []


def test_a_raised_budget_starts_the_queued_uploads_again(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    over_budget(aws, monkeypatch)
    assert run(upload_event(aws, "second.jsonl", "2026-03-15T10:00:00Z")) == []
    assert len(aws.executions()) == 1

    aws.put_lineage({**BUDGETED, "cost": {**BUDGETED["cost"], "monthly_budget_usd": 10}})
    parameters.clear_caches()  # what the trigger's 30-second cache would do after a redeploy
    assert run(dispatch_message()) == []

    assert len(aws.executions()) == 2 and aws.registry.queued_uploads(LINEAGE) == []


def test_a_budget_notice_that_could_not_be_sent_is_sent_by_the_redelivery(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    over_budget(aws, monkeypatch)
    publish = trigger.notifier.publish

    def unavailable(*_args: Any) -> None:
        raise RuntimeError("SNS unavailable")

    monkeypatch.setattr(trigger.notifier, "publish", unavailable)
    body = upload_event(aws, "second.jsonl", "2026-03-15T10:00:00Z")
    with pytest.raises(BatchProcessingError):
        run(body)
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and state.budget_notified_month is None

    monkeypatch.setattr(trigger.notifier, "publish", publish)
    assert run(body) == []
    assert len(budget_notices(aws)) == 1 and len(aws.executions()) == 1
