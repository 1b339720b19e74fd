"""The trigger: uploads recorded once, queued in upload order, dispatched one round at a time."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from iterft_runtime import naming
from iterft_runtime.dal import workflow
from iterft_runtime.handlers import trigger
from iterft_runtime.models.lineage import LineageConfig
from runtime_support import BUCKET, LINEAGE, LINEAGE_CONFIG, Aws, valid_dataset
from trigger_support import (
    dispatch_message,
    run,
    run_queue_out,
    s3_event,
    started_keys,
    upload_event,
)

pytest_plugins = ("runtime_fixtures", "step_contract_fixtures")


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


def test_a_redelivered_feedback_event_is_checked_and_notified_once(aws: Aws) -> None:
    aws.put_lineage({**LINEAGE_CONFIG, "traffic": {}})
    parameters.clear_caches()
    key = f"feedback/{LINEAGE}/ratings.jsonl"
    event = s3_event(key, aws.upload(key, b'{"request_id": "r-1", "rating": 7}\n')["VersionId"])
    assert run(event, event) == [] and run(event) == []
    refused = [n for n in aws.notifications() if "feedback refused" in n["Subject"]]
    assert len(refused) == 1
    report = json.loads(aws.read(naming.feedback_report_key(key)))
    assert (report["notified"], report["problem_count"]) == (True, 1)
    # A notice that never went out (the function stopped after the check) goes out on the redelivery.
    aws.upload(naming.feedback_report_key(key), json.dumps({**report, "notified": False}).encode())
    assert run(event) == [] and len(aws.notifications()) == 1
    # Another version of the file is another check.
    other = s3_event(key, aws.upload(key, b'{"request_id": "r-1", "rating": 8}\n')["VersionId"])
    assert run(other) == [] and len(aws.notifications()) == 1
    assert aws.executions() == []  # feedback starts no round


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
