"""The trigger: uploads recorded once, queued in upload order, dispatched one round at a time."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from iterft_runtime import naming
from iterft_runtime.dal import workflow
from iterft_runtime.dal.registry import MonthSpend
from iterft_runtime.handlers import settings, trigger
from iterft_runtime.models.lineage import LineageConfig
from runtime_support import BUCKET, LINEAGE, LINEAGE_CONFIG, Aws, valid_dataset

pytest_plugins = ("runtime_fixtures", "step_contract_fixtures")


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


def test_an_upload_starts_iteration_one_with_the_contract_input(aws: Aws) -> None:
    key = f"incoming/{LINEAGE}/batch-1.jsonl"
    version = aws.upload(key, valid_dataset())["VersionId"]
    assert run(s3_event(key, version, size=321)) == []

    [execution] = aws.executions()
    fingerprint = naming.dataset_fingerprint(key, version)
    assert execution["name"] == naming.execution_name(LINEAGE, 1, fingerprint)
    assert execution["input"] == {
        "kind": "round",
        "lineage": LineageConfig.model_validate(LINEAGE_CONFIG).model_dump(mode="json"),
        "iteration": 1,
        "dataset": {
            "bucket": BUCKET,
            "key": key,
            "version_id": version,
            "etag": "b1946ac9",
            "size": 321,
            "uploaded_at": "2026-03-01T10:00:00.000Z",
        },
    }
    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None
    assert (record.decision, record.execution_arn) == ("running", execution["arn"])
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and state.lock_owner == 1


def test_a_redelivered_event_yields_one_iteration(aws: Aws) -> None:
    event = upload_event(aws, "a.jsonl", "2026-03-01T10:00:00Z")
    assert run(event, event) == []
    assert run(event) == []
    assert len(aws.executions()) == 1
    assert [r.iteration for r in aws.registry.list_iterations(LINEAGE)] == [1]
    assert aws.registry.queued_uploads(LINEAGE) == []


def test_the_ledger_says_when_each_upload_was_queued(aws: Aws) -> None:
    """`recorded_at`: when the trigger queued the upload (a redelivery keeps the first one), no later
    than the round it started; what tells an upload recorded late from one overtaken in the queue."""
    event = upload_event(aws, "a.jsonl", "2026-03-01T10:00:00Z")
    assert run(event) == []
    [upload] = aws.registry.uploads(LINEAGE)
    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None and record.started_at is not None
    assert upload.recorded_at is not None and upload.recorded_at <= record.started_at
    assert run(event) == []
    assert [again.recorded_at for again in aws.registry.uploads(LINEAGE)] == [upload.recorded_at]
    assert upload.to_public()["recorded_at"] == upload.recorded_at


def test_uploads_during_a_round_wait_and_run_in_upload_order(aws: Aws) -> None:
    first = upload_event(aws, "first.jsonl", "2026-03-01T10:00:00Z")
    second = upload_event(aws, "second.jsonl", "2026-03-01T10:05:00Z")
    third = upload_event(aws, "third.jsonl", "2026-03-01T10:09:00Z")
    assert run(first) == []
    assert run(third, second) == []  # delivered out of order, while round 1 runs

    assert len(aws.executions()) == 1
    assert [q.dataset.key.rsplit("/", 1)[-1] for q in aws.registry.queued_uploads(LINEAGE)] == [
        "second.jsonl",
        "third.jsonl",
    ]
    assert run(dispatch_message()) == []  # the lineage is still locked: nothing starts
    assert len(aws.executions()) == 1

    for expected in (2, 3):
        assert aws.registry.release_lock(LINEAGE, expected - 1)
        assert run(dispatch_message()) == []
        assert len(aws.executions()) == expected
    assert aws.registry.release_lock(LINEAGE, 3)
    assert run(dispatch_message()) == []  # queue empty: nothing more
    keys = [aws.registry.get_iteration(LINEAGE, n).dataset_key for n in (1, 2, 3)]  # type: ignore[union-attr]
    assert [key.rsplit("/", 1)[-1] for key in keys] == ["first.jsonl", "second.jsonl", "third.jsonl"]
    assert [e["input"]["iteration"] for e in aws.executions()] == [1, 2, 3]


@pytest.mark.parametrize(
    ("name", "size", "status", "reason"),
    [
        ("train.json", 100, "invalid_data", "not a .jsonl file (extension 'json')"),
        ("data.csv", 100, "invalid_data", "not a .jsonl file (extension 'csv')"),
        ("train.jsonl.gz", 100, "invalid_data", "compressed JSON Lines (.jsonl.gz) are not accepted"),
        ("empty.jsonl", 0, "invalid_data", "the object is empty (0 bytes)"),
        ("", 0, "ignored", "a folder marker"),
    ],
)
def test_objects_that_are_not_datasets_are_recorded_and_notified_once(
    aws: Aws, name: str, size: int, status: str, reason: str
) -> None:
    key = f"incoming/{LINEAGE}/{name}"
    event = s3_event(key, "v1", size=size, sequencer="00A1")
    assert run(event, event) == []
    assert run(event) == []

    [record] = aws.registry.uploads(LINEAGE)
    assert (record.dataset.key, record.dataset.version_id, record.status) == (key, "v1", status)
    assert record.reason is not None and reason in record.reason and record.closed_at is not None
    [notification] = aws.notifications()  # once, however often the event is delivered
    assert f"upload {status}" in notification["Subject"]
    assert (
        f"s3://{BUCKET}/{key}?versionId=v1" in notification["Message"] and reason in notification["Message"]
    )
    assert aws.executions() == [] and aws.registry.queued_uploads(LINEAGE) == []


def test_an_empty_upload_starts_a_round_of_a_lineage_that_distils_from_invocation_logs(aws: Aws) -> None:
    """Its distillation rounds train on the logs, none of the upload: the empty object asks for one
    (Validate then checks the round's strategy reads the logs, handlers/validate.py)."""
    logs = {"s3_uri": "s3://invocation-logs/AWSLogs/"}
    aws.put_lineage(
        {
            **LINEAGE_CONFIG,
            "strategies": {
                "default": "distillation",
                "distillation": {"teacher": "amazon.nova-pro-v1:0", "invocation_logs": logs},
            },
        }
    )
    key = f"incoming/{LINEAGE}/from-logs.jsonl"
    version = aws.upload(key, b"")["VersionId"]
    assert run(s3_event(key, version, size=0, sequencer="00A1")) == []
    assert started_keys(aws) == [f"from-logs.jsonl@{version}"]
    [record] = aws.registry.uploads(LINEAGE)
    assert record.status == "started" and aws.notifications() == []


def test_two_versions_of_one_key_within_a_second_run_oldest_first(aws: Aws) -> None:
    key = f"incoming/{LINEAGE}/data.jsonl"
    blocker = upload_event(aws, "blocker.jsonl", "2026-03-01T09:00:00Z", "0001")
    old, new = (aws.upload(key, valid_dataset(n))["VersionId"] for n in (3, 4))
    # One second, delivered newest first: the sequencer (right-padded, compared as text) decides.
    newer = s3_event(key, new, sequencer="0055AED6DCD90281E6")
    older = s3_event(key, old, sequencer="0055AED6DCD90281E5")
    assert run(blocker) == []
    assert run(newer, older) == []
    assert [(q.dataset.version_id, q.sequencer) for q in aws.registry.queued_uploads(LINEAGE)] == [
        (old, "0055AED6DCD90281E5"),
        (new, "0055AED6DCD90281E6"),
    ]
    run_queue_out(aws)
    assert started_keys(aws)[1:] == [f"data.jsonl@{old}", f"data.jsonl@{new}"]


def test_a_burst_of_keys_inside_one_second_runs_in_name_order(aws: Aws) -> None:
    blocker = upload_event(aws, "blocker.jsonl", "2026-03-01T09:00:00Z", "0001")
    burst = {
        n: upload_event(aws, f"round-{n}.jsonl", "2026-03-01T10:00:00Z", f"00{n:02X}") for n in (9, 10, 11)
    }
    assert run(blocker) == []
    assert run(burst[11], burst[9], burst[10]) == []
    run_queue_out(aws)
    assert [name.split("@")[0] for name in started_keys(aws)] == [
        "blocker.jsonl",
        "round-9.jsonl",
        "round-10.jsonl",
        "round-11.jsonl",
    ]


def test_a_late_event_for_an_older_version_is_superseded_never_trained(aws: Aws) -> None:
    key = f"incoming/{LINEAGE}/data.jsonl"
    old, new = (aws.upload(key, valid_dataset(n))["VersionId"] for n in (3, 4))
    assert run(s3_event(key, new, sequencer="00B0")) == []  # the newer version starts round 1
    assert run(s3_event(key, old, sequencer="00A0")) == []  # its older sibling's event comes late
    run_queue_out(aws)

    assert started_keys(aws) == [f"data.jsonl@{new}"]
    by_version = {record.dataset.version_id: record for record in aws.registry.uploads(LINEAGE)}
    assert (by_version[new].status, by_version[new].iteration) == ("started", 1)
    stale = by_version[old]
    assert stale.status == "superseded" and stale.reason is not None
    assert f"versionId {new}" in stale.reason and "iteration 1" in stale.reason
    assert any("upload superseded" in n["Subject"] for n in aws.notifications())


def test_supersede_same_key_runs_only_the_newest_queued_version(aws: Aws) -> None:
    aws.put_lineage({**LINEAGE_CONFIG, "queue": {"supersede_same_key": True}})
    parameters.clear_caches()
    key = f"incoming/{LINEAGE}/data.jsonl"
    blocker = upload_event(aws, "blocker.jsonl", "2026-03-01T09:00:00Z", "0001")
    versions = [aws.upload(key, valid_dataset(n))["VersionId"] for n in (3, 4, 5)]
    assert run(blocker) == []
    assert run(*(s3_event(key, v, sequencer=f"00C{i}") for i, v in enumerate(versions))) == []
    run_queue_out(aws)

    assert [name.split("@")[0] for name in started_keys(aws)] == ["blocker.jsonl", "data.jsonl"]
    assert started_keys(aws)[1] == f"data.jsonl@{versions[2]}"
    statuses = {r.dataset.version_id: r.status for r in aws.registry.uploads(LINEAGE) if r.dataset.key == key}
    assert statuses == {versions[0]: "superseded", versions[1]: "superseded", versions[2]: "started"}


def test_an_upload_whose_version_was_deleted_before_its_round_is_withdrawn_not_trained(aws: Aws) -> None:
    key = f"incoming/{LINEAGE}/gone.jsonl"
    blocker = upload_event(aws, "blocker.jsonl", "2026-03-01T09:00:00Z", "0001")
    version = aws.upload(key, valid_dataset())["VersionId"]
    after = upload_event(aws, "after.jsonl", "2026-03-01T11:00:00Z", "0003")
    assert run(blocker, s3_event(key, version, sequencer="0002"), after) == []
    aws.client("s3").delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    run_queue_out(aws)

    assert [name.split("@")[0] for name in started_keys(aws)] == ["blocker.jsonl", "after.jsonl"]
    [gone] = [r for r in aws.registry.uploads(LINEAGE) if r.dataset.key == key]
    assert (gone.status, gone.by) == ("withdrawn", "s3")
    assert gone.reason is not None and f"object version {version} was deleted" in gone.reason
    [notice] = [n for n in aws.notifications() if "withdrawn" in n["Subject"]]
    assert f"?versionId={version}" in notice["Message"]


def test_an_unknown_lineage_is_notified_and_consumed(aws: Aws) -> None:
    assert run(s3_event("incoming/nobody/data.jsonl", "v1")) == []
    [notification] = aws.notifications()
    assert "incoming/nobody/data.jsonl" in notification["Subject"]
    assert "incoming/nobody/data.jsonl" in notification["Message"]
    assert f"Known lineages: {LINEAGE}" in notification["Message"]
    assert aws.registry.get_state("nobody") is None and aws.executions() == []


def test_a_bad_message_fails_alone(aws: Aws) -> None:
    good = upload_event(aws, "a.jsonl", "2026-03-01T10:00:00Z")
    assert run("not json", good) == [{"itemIdentifier": "m0"}]
    assert len(aws.executions()) == 1


def test_the_event_moto_really_delivers_is_understood(aws: Aws) -> None:
    """EventBridge -> SQS as the embedded default wires it: `eTag`, a key with a space and a '+'."""
    s3, events, sqs = aws.client("s3"), aws.client("events"), aws.client("sqs")
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    queue_url = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"]}
    events.put_rule(Name="uploads", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="uploads", Targets=[{"Id": "queue", "Arn": queue_arn}])
    key = f"incoming/{LINEAGE}/week 1+2.jsonl"
    put = aws.upload(key, valid_dataset())
    [message] = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]

    assert run(message["Body"]) == []
    [execution] = aws.executions()
    dataset = execution["input"]["dataset"]
    assert (dataset["key"], dataset["version_id"]) == (key, put["VersionId"])
    assert dataset["etag"] == put["ETag"].strip('"')


def test_a_round_whose_start_was_lost_is_started_by_the_next_dispatch(aws: Aws) -> None:
    """A dispatcher that died after its transaction left the lock held and no execution."""
    registry = aws.registry
    key = f"incoming/{LINEAGE}/a.jsonl"
    version = aws.upload(key, valid_dataset())["VersionId"]
    config = LineageConfig.model_validate(LINEAGE_CONFIG)
    registry.ensure_state(config)
    registry.record_upload(LINEAGE, trigger.parse_message(s3_event(key, version)).dataset)  # type: ignore[union-attr]
    head = registry.queue_head(LINEAGE)
    assert head is not None and registry.try_dispatch(LINEAGE, 1, head, "2026-03-01T10:00:01.000Z")
    assert aws.executions() == []

    assert run(dispatch_message()) == []
    [execution] = aws.executions()
    assert execution["input"]["iteration"] == 1 and execution["input"]["dataset"]["key"] == key
    record = registry.get_iteration(LINEAGE, 1)
    assert record is not None and record.execution_arn == execution["arn"]
    assert run(dispatch_message()) == []
    assert len(aws.executions()) == 1


@pytest.mark.parametrize("asked", [None, "fine_tuning"], ids=["default-strategy", "strategy-asked"])
def test_a_round_whose_execution_arn_was_not_recorded_is_resumed_onto_its_execution(
    aws: Aws, asked: str | None
) -> None:
    """The dispatcher started the execution, then could not record its ARN (a DynamoDB fault past
    botocore's retries) and the message came back; meanwhile Begin recorded the round's strategy on the
    iteration. The redelivery resumes the held iteration with the input it was started with: the same
    execution, its ARN recorded (not ExecutionConflictError, redelivered until the dead-letter queue,
    and an iteration nothing can follow to its execution; chaos found it)."""
    registry = aws.registry
    key = f"incoming/{LINEAGE}/a.jsonl"
    version = aws.upload(key, valid_dataset())["VersionId"]
    config = LineageConfig.model_validate(LINEAGE_CONFIG)
    registry.ensure_state(config)
    dataset = trigger.parse_message(s3_event(key, version)).dataset  # type: ignore[union-attr]
    registry.record_upload(LINEAGE, replace(dataset, strategy=asked))
    head = registry.queue_head(LINEAGE)
    assert head is not None and registry.try_dispatch(LINEAGE, 1, head, "2026-03-01T10:00:01.000Z")
    name = trigger.execution_name(LINEAGE, 1, head.dataset)
    arn = workflow.start_execution(
        aws.state_machine_arn, name, trigger.execution_input(config, 1, head.dataset)
    )
    registry.update_iteration(LINEAGE, 1, {"strategy": "fine_tuning", "customization_type": "FINE_TUNING"})

    assert run(dispatch_message()) == []

    assert [execution["arn"] for execution in aws.executions()] == [arn]
    record = registry.get_iteration(LINEAGE, 1)
    assert record is not None and record.execution_arn == arn


def test_starting_the_same_execution_twice_is_one_execution(aws: Aws) -> None:
    document = {"iteration": 1}
    first = workflow.start_execution(aws.state_machine_arn, "support-bot-it0001-abcdef12", document)
    again = workflow.start_execution(aws.state_machine_arn, "support-bot-it0001-abcdef12", document)
    assert first == again == workflow.execution_arn(aws.state_machine_arn, "support-bot-it0001-abcdef12")
    with pytest.raises(workflow.ExecutionConflictError):
        workflow.start_execution(aws.state_machine_arn, "support-bot-it0001-abcdef12", {"iteration": 2})
    assert len(aws.executions()) == 1


def test_a_converged_lineage_queues_uploads_until_resumed(aws: Aws) -> None:
    assert run(upload_event(aws, "first.jsonl", "2026-03-01T10:00:00Z")) == []
    assert aws.registry.record_plateau(LINEAGE, 1, marginal_rounds=3, converged=True)
    assert aws.registry.release_lock(LINEAGE, 1)

    assert run(upload_event(aws, "second.jsonl", "2026-03-01T10:05:00Z")) == []
    assert run(dispatch_message()) == []
    assert len(aws.executions()) == 1  # recorded and queued, not started
    assert [q.dataset.key.rsplit("/", 1)[-1] for q in aws.registry.queued_uploads(LINEAGE)] == [
        "second.jsonl"
    ]

    assert aws.registry.resume(LINEAGE)
    assert run(dispatch_message()) == []
    assert len(aws.executions()) == 2 and aws.registry.queued_uploads(LINEAGE) == []


def test_a_converged_lineage_without_pause_keeps_running(aws: Aws) -> None:
    config = {**LINEAGE_CONFIG, "gate": {"min_improvement": 0.02, "pause_when_converged": False}}
    aws.put_lineage(config)
    assert run(upload_event(aws, "first.jsonl", "2026-03-01T10:00:00Z")) == []
    assert aws.registry.record_plateau(LINEAGE, 1, marginal_rounds=3, converged=True)
    assert aws.registry.release_lock(LINEAGE, 1)
    assert run(upload_event(aws, "second.jsonl", "2026-03-01T10:05:00Z")) == []
    assert len(aws.executions()) == 2


def test_an_approval_request_records_the_token_and_asks_the_team(aws: Aws) -> None:
    assert run(upload_event(aws, "first.jsonl", "2026-03-01T10:00:00Z")) == []
    request = {
        "kind": "approval",
        "lineage": LINEAGE,
        "iteration": 1,
        "task_token": "tok-1",
        "reason": "+0.05",
    }
    assert run(json.dumps(request), json.dumps(request)) == []  # a redelivery is harmless

    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None and record.approval_token == "tok-1"
    assert record.approval["status"] == "pending"
    notifications = aws.notifications()
    assert [n["Subject"] for n in notifications] == [f"iterft {LINEAGE} #1 awaits approval"] * 2
    assert f"iterft reject {LINEAGE} 1 --reason" in notifications[0]["Message"]


def test_an_approval_request_for_a_missing_iteration_fails_alone(aws: Aws) -> None:
    request = {"kind": "approval", "lineage": LINEAGE, "iteration": 7, "task_token": "t", "reason": "r"}
    failures = run(json.dumps(request), dispatch_message())
    assert len(failures) == 1  # the bad request is redelivered (then dead-lettered), the other proceeds


def test_a_head_nobody_could_dispatch_fails_the_message_so_sqs_redelivers_it(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """try_dispatch returning None while the lineage stays unlocked: no one took the upload."""
    monkeypatch.setattr(type(aws.registry), "try_dispatch", lambda *_args, **_kwargs: None)
    body = upload_event(aws, "stuck.jsonl", "2026-03-01T10:00:00Z")

    # Every record of the batch failed: powertools fails the invocation, so SQS redelivers it.
    with pytest.raises(BatchProcessingError, match="DispatchIncompleteError"):
        run(body)

    assert aws.executions() == []
    assert aws.registry.queue_head(LINEAGE) is not None  # still queued, for the redelivery


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
