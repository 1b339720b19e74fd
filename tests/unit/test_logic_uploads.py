"""Upload order (sequencer for one key, arrival for different keys) and what an object under incoming/ is."""

from __future__ import annotations

import random

import pytest
from iterft_runtime.logic.uploads import (
    StartedVersion,
    UploadStatus,
    classify,
    compare_sequencers,
    natural_key,
    normalize_sequencer,
    plan_next,
    queue_order,
)
from iterft_runtime.models.records import DatasetRef, QueuedUpload

SECOND = "2026-03-01T10:00:00.000Z"


def entry(
    name: str, version: str, sequencer: str | None, *, at: str = SECOND, received: str | None = None
) -> QueuedUpload:
    key = f"incoming/bot/{name}"
    dataset = DatasetRef("data", key, version, "e", 10, at)
    return QueuedUpload(f"QUEUE#{at}#{key}#{version}", dataset, sequencer, received)


def names(entries: list[QueuedUpload]) -> list[str]:
    return [f"{e.dataset.key.rsplit('/', 1)[-1]}@{e.dataset.version_id}" for e in entries]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("0055AED6DCD90281E5", "0055AED6DCD90281E6", -1),
        ("0055AED6DCD90281E5", "0055aed6dcd90281e5", 0),
        # Different lengths: the shorter is right-padded with zeros, then compared as text.
        ("0055AED6DCD90281E5", "0055AED6DCD90281E500", 0),
        ("0055AED6DCD90281E5", "0055AED6DCD90281E501", -1),
        ("0055AED6DCD90281F", "0055AED6DCD90281E5FF", 1),
    ],
)
def test_sequencers_compare_as_the_s3_user_guide_documents(first: str, second: str, expected: int) -> None:
    assert compare_sequencers(first, second) == expected
    assert compare_sequencers(second, first) == -expected


def test_a_sequencer_is_upper_case_hex_or_nothing() -> None:
    assert normalize_sequencer("0055aed6") == "0055AED6"
    assert normalize_sequencer("") is None and normalize_sequencer(None) is None
    assert normalize_sequencer("not-hex") is None


def test_keys_sort_naturally() -> None:
    keys = ["round-10.jsonl", "round-9.jsonl", "round-11.jsonl", "round-1.jsonl"]
    assert sorted(keys, key=natural_key) == [
        "round-1.jsonl",
        "round-9.jsonl",
        "round-10.jsonl",
        "round-11.jsonl",
    ]


def test_a_burst_inside_one_second_runs_in_arrival_order_then_natural_key_order() -> None:
    burst = [entry(f"round-{n}.jsonl", f"v{n}", f"00{n:02X}") for n in (9, 10, 11)]
    for _ in range(5):
        shuffled = random.sample(burst, len(burst))
        assert names(queue_order(shuffled)) == [
            "round-9.jsonl@v9",
            "round-10.jsonl@v10",
            "round-11.jsonl@v11",
        ]
    # The queue's arrival time (milliseconds) comes before the name when the event times tie.
    late = [
        entry("a.jsonl", "v1", "01", received="2026-03-01T10:00:00.900Z"),
        entry("b.jsonl", "v1", "02", received="2026-03-01T10:00:00.100Z"),
    ]
    assert names(queue_order(late)) == ["b.jsonl@v1", "a.jsonl@v1"]
    # A later second always comes after, whatever the name.
    seconds = [entry("a.jsonl", "v1", "01", at="2026-03-01T10:00:01.000Z"), entry("b.jsonl", "v1", "02")]
    assert names(queue_order(seconds)) == ["b.jsonl@v1", "a.jsonl@v1"]


def test_two_versions_of_one_key_run_oldest_first_whatever_their_arrival() -> None:
    # The newer version's event arrived first (even a second earlier): the older one still runs first.
    newer = entry("data.jsonl", "vB", "0055AED6DCD90281E6", received="2026-03-01T10:00:00.100Z")
    older = entry("data.jsonl", "vA", "0055AED6DCD90281E5", at="2026-03-01T10:00:01.000Z")
    other = entry("other.jsonl", "v1", "0001", received="2026-03-01T10:00:00.500Z")
    assert names(queue_order([older, other, newer])) == ["data.jsonl@vA", "other.jsonl@v1", "data.jsonl@vB"]
    plan = plan_next([older, other, newer], {}, supersede_same_key=False)
    assert plan.head is older and plan.superseded == []


def test_with_supersede_same_key_the_newest_queued_version_takes_the_oldest_ones_place() -> None:
    v1, v2, v3 = (entry("data.jsonl", f"v{n}", f"00{n}0") for n in (1, 2, 3))
    other = entry("other.jsonl", "v1", "0001", at="2026-03-01T10:00:05.000Z")
    plan = plan_next([v3, other, v1, v2], {}, supersede_same_key=True)
    assert plan.head is v3
    assert [item.entry for item in plan.superseded] == [v1, v2]
    assert "versionId v3" in plan.superseded[0].reason and "supersede_same_key" in plan.superseded[0].reason


def test_a_version_older_than_one_already_started_is_superseded_never_run() -> None:
    late = entry("data.jsonl", "vA", "0010")
    nxt = entry("next.jsonl", "v1", "0001", at="2026-03-01T10:00:05.000Z")
    started = {late.dataset.key: StartedVersion("0020", "vB", 4)}
    plan = plan_next([late, nxt], started, supersede_same_key=False)
    assert plan.head is nxt
    [item] = plan.superseded
    assert item.entry is late and "versionId vB" in item.reason and "iteration 4" in item.reason
    # A newer version than the one started runs normally.
    fresh = entry("data.jsonl", "vC", "0030")
    assert plan_next([fresh], started, supersede_same_key=False).head is fresh


def test_an_upload_without_a_sequencer_keeps_its_arrival_place() -> None:
    manual = entry("data.jsonl", "vM", None)
    sequenced = entry("data.jsonl", "vA", "0010", at="2026-03-01T10:00:01.000Z")
    assert names(queue_order([sequenced, manual])) == ["data.jsonl@vM", "data.jsonl@vA"]
    assert plan_next([], {}, supersede_same_key=True).head is None


@pytest.mark.parametrize(
    ("key", "size", "status", "reason"),
    [
        ("incoming/bot/train.jsonl", 10, UploadStatus.QUEUED, ""),
        ("incoming/bot/TRAIN.JSONL", 10, UploadStatus.QUEUED, ""),
        ("incoming/bot/train.json", 10, UploadStatus.INVALID_DATA, "extension 'json'"),
        ("incoming/bot/data.csv", 10, UploadStatus.INVALID_DATA, "extension 'csv'"),
        ("incoming/bot/README", 10, UploadStatus.INVALID_DATA, "no extension"),
        ("incoming/bot/train.jsonl.gz", 10, UploadStatus.INVALID_DATA, ".jsonl.gz) are not accepted"),
        ("incoming/bot/empty.jsonl", 0, UploadStatus.INVALID_DATA, "empty (0 bytes)"),
        ("incoming/bot/", 0, UploadStatus.IGNORED, "folder marker"),
        ("incoming/bot/sub/", 0, UploadStatus.IGNORED, "folder marker"),
    ],
)
def test_what_an_object_under_incoming_is(key: str, size: int, status: UploadStatus, reason: str) -> None:
    kind = classify(key, size)
    assert kind.status is status and reason in kind.reason
    assert kind.is_dataset == (status is UploadStatus.QUEUED)


def test_an_empty_object_starts_a_round_only_where_the_rounds_read_invocation_logs() -> None:
    """Such a round trains on none of the upload (docs/strategies.md): the empty object is its request.
    Everything else about the object is checked as before."""
    assert classify("incoming/bot/logs.jsonl", 0, empty_starts_a_round=True).is_dataset
    not_jsonl = classify("incoming/bot/logs.json", 0, empty_starts_a_round=True)
    assert not_jsonl.status is UploadStatus.INVALID_DATA and "extension 'json'" in not_jsonl.reason
    assert classify("incoming/bot/", 0, empty_starts_a_round=True).status is UploadStatus.IGNORED
