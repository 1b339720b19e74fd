"""Queue messages and dispatch planning."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from iterft_runtime import naming
from iterft_runtime.logic.dispatch import (
    ApprovalRequest,
    DispatchRequest,
    MessageError,
    StartRequest,
    Upload,
    execution_input,
    execution_name,
    normalize_event_time,
    parse_message,
    timestamp,
)
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import DatasetRef


def s3_event(obj: dict[str, object], time: object = "2026-11-25T09:00:00Z") -> str:
    return json.dumps(
        {
            "source": "aws.s3",
            "detail-type": "Object Created",
            "time": time,
            "detail": {"bucket": {"name": "data"}, "object": obj},
        }
    )


def test_an_aws_event() -> None:
    message = parse_message(
        s3_event({"key": "incoming/bot/a+b c.jsonl", "size": 12, "etag": "e1", "version-id": "v1"})
    )
    assert message == Upload(
        lineage="bot",
        dataset=DatasetRef("data", "incoming/bot/a+b c.jsonl", "v1", "e1", 12, "2026-11-25T09:00:00.000Z"),
    )
    assert message.is_dataset


def test_a_moto_event() -> None:
    message = parse_message(
        s3_event({"key": "incoming/bot/A.JSONL", "size": 3, "eTag": '"e2"'}, time=1764061200.5)
    )
    assert isinstance(message, Upload)
    assert (message.dataset.etag, message.dataset.version_id) == ("e2", None)
    assert message.dataset.uploaded_at == "2025-11-25T09:00:00.500Z"
    assert message.is_dataset


@pytest.mark.parametrize(
    ("key", "lineage", "is_dataset"),
    [
        ("incoming/bot/data.jsonl", "bot", True),
        ("incoming/bot/sub/data.jsonl", "bot", True),
        ("incoming/bot/notes.txt", "bot", False),
        ("incoming/data.jsonl", None, True),
    ],
)
def test_lineage_and_dataset_from_the_key(key: str, lineage: str | None, is_dataset: bool) -> None:
    message = parse_message(s3_event({"key": key, "size": 1, "etag": "e", "version-id": "null"}))
    assert isinstance(message, Upload)
    assert (message.lineage, message.is_dataset, message.dataset.version_id) == (lineage, is_dataset, None)


def test_a_dispatch_request() -> None:
    assert parse_message('{"kind": "dispatch", "lineage": "bot"}') == DispatchRequest(lineage="bot")


def test_an_approval_request() -> None:
    body = {"kind": "approval", "lineage": "bot", "iteration": 3, "task_token": "tok", "reason": "gain +0.05"}
    assert parse_message(json.dumps(body)) == ApprovalRequest.model_validate(body)


START_DATASET = {
    "bucket": "data",
    "key": "incoming/bot/manual.jsonl",
    "version_id": "v1",
    "etag": "e",
    "size": 10,
    "uploaded_at": "2026-03-01T10:00:00Z",
}


def test_a_start_request_carries_the_dataset_with_a_sortable_time() -> None:
    message = parse_message(json.dumps({"kind": "start", "lineage": "bot", "dataset": START_DATASET}))
    assert isinstance(message, StartRequest)
    assert message.lineage == "bot"
    assert message.dataset == DatasetRef(
        "data", "incoming/bot/manual.jsonl", "v1", "e", 10, "2026-03-01T10:00:00.000Z"
    )
    message.check("data")


@pytest.mark.parametrize(
    ("dataset", "bucket", "error"),
    [
        (START_DATASET, "other", "not the data bucket"),
        (
            {**START_DATASET, "key": "validated/bot/000001/train.jsonl"},
            "data",
            "not a .jsonl key under incoming/",
        ),
        ({**START_DATASET, "key": "incoming/bot/notes.txt"}, "data", "not a .jsonl key under incoming/"),
    ],
)
def test_a_start_request_outside_the_data_buckets_incoming_datasets_is_refused(
    dataset: dict[str, object], bucket: str, error: str
) -> None:
    message = parse_message(json.dumps({"kind": "start", "lineage": "bot", "dataset": dataset}))
    assert isinstance(message, StartRequest)
    with pytest.raises(MessageError, match=error):
        message.check(bucket)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{"kind": "start", "lineage": "bot"}', "without a lineage or a dataset"),
        ('{"kind": "start", "dataset": {}}', "without a lineage or a dataset"),
        ('{"kind": "start", "lineage": "bot", "dataset": {"bucket": "data"}}', "incomplete dataset"),
        (
            json.dumps(
                {
                    "kind": "start",
                    "lineage": "bot",
                    "dataset": {**START_DATASET, "version_id": None, "etag": ""},
                }
            ),
            "without a bucket, key and version",
        ),
        (
            json.dumps(
                {"kind": "start", "lineage": "bot", "dataset": {**START_DATASET, "uploaded_at": "soon"}}
            ),
            "not an ISO-8601 timestamp",
        ),
        ("nope", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"kind": "dispatch"}', "without a lineage"),
        ('{"kind": "approval", "lineage": "bot", "iteration": 1}', "without a lineage or a task token"),
        ('{"kind": "approval", "lineage": "bot", "iteration": "1", "task_token": "t"}', "iteration '1'"),
        ('{"kind": "approval", "lineage": "bot", "iteration": 0, "task_token": "t"}', "iteration 0"),
        ('{"source": "aws.ec2"}', "unknown message"),
        (s3_event({"size": 1}), "without bucket name or object key"),
        (s3_event({"key": "incoming/b/x.jsonl"}, time="yesterday"), "not an ISO-8601 timestamp"),
        (s3_event({"key": "incoming/b/x.jsonl"}, time=None), "missing"),
    ],
)
def test_messages_that_cannot_be_acted_on(body: str, error: str) -> None:
    with pytest.raises(MessageError, match=error):
        parse_message(body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-25T09:00:00Z", "2026-11-25T09:00:00.000Z"),
        ("2026-11-25T10:00:00+01:00", "2026-11-25T09:00:00.000Z"),
        ("2026-11-25T09:00:00.123456Z", "2026-11-25T09:00:00.123Z"),
        ("2026-11-25T09:00:00", "2026-11-25T09:00:00.000Z"),
        (0, "1970-01-01T00:00:00.000Z"),
    ],
)
def test_event_times_are_normalized_to_one_sortable_form(value: object, expected: str) -> None:
    assert normalize_event_time(value) == expected


def test_timestamps_sort_as_text() -> None:
    times = [
        datetime(2026, 1, 1, 0, 0, s, ms * 1000, tzinfo=UTC) for s, ms in ((0, 0), (0, 5), (0, 500), (1, 0))
    ]
    assert sorted(timestamp(t) for t in reversed(times)) == [timestamp(t) for t in times]


def test_execution_name_and_input() -> None:
    lineage = LineageConfig(
        name="bot", base_model="amazon.nova-micro-v1:0:128k", hyperparameters={"epochCount": 2}
    )
    dataset = DatasetRef("data", "incoming/bot/a.jsonl", "v1", "e", 5, "2026-11-25T09:00:00.000Z")
    name = execution_name("bot", 3, dataset)
    assert name == f"bot-it0003-{naming.dataset_fingerprint('incoming/bot/a.jsonl', 'v1')}"
    document = execution_input(lineage, 3, dataset)
    assert document == {
        "kind": "round",
        "lineage": lineage.model_dump(mode="json"),
        "iteration": 3,
        "dataset": {
            "bucket": "data",
            "key": "incoming/bot/a.jsonl",
            "version_id": "v1",
            "etag": "e",
            "size": 5,
            "uploaded_at": "2026-11-25T09:00:00.000Z",
        },
    }
    assert LineageConfig.model_validate(json.loads(json.dumps(document))["lineage"]) == lineage
