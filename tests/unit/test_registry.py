"""The registry's conditional writes and transactions, against moto's DynamoDB."""

from __future__ import annotations

from decimal import Decimal

import pytest
from botocore.exceptions import ClientError
from iterft_runtime import naming
from iterft_runtime.dal.registry import (
    IterationNotFoundError,
    LockNotHeldError,
    Registry,
    from_dynamo,
    to_dynamo,
)
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import DatasetRef, Decision, QueuedUpload
from runtime_support import BASE_MODEL, LINEAGE, LINEAGE_CONFIG, Aws

CUSTOM_BASE = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abc123"

pytest_plugins = ("runtime_fixtures",)


def dataset(
    key: str = "incoming/support-bot/a.jsonl", version: str = "v1", at: str = "2026-01-01T00:00:00.000Z"
):
    return DatasetRef(bucket="data", key=key, version_id=version, etag="e1", size=10, uploaded_at=at)


@pytest.fixture
def registry(aws: Aws) -> Registry:
    registry = aws.registry
    registry.ensure_state(LineageConfig.model_validate(LINEAGE_CONFIG))
    return registry


def dispatch_one(registry: Registry, upload: DatasetRef | None = None) -> int:
    registry.record_upload(LINEAGE, upload or dataset())
    state = registry.get_state(LINEAGE)
    head = registry.queue_head(LINEAGE)
    assert state is not None and head is not None
    record = registry.try_dispatch(LINEAGE, state.next_iteration, head, "2026-01-01T00:00:01.000Z")
    assert record is not None
    return record.iteration


def test_ensure_state_creates_the_starting_point_once(registry: Registry) -> None:
    state = registry.get_state(LINEAGE)
    assert state is not None
    assert (state.champion_model, state.champion_iteration, state.next_iteration) == (BASE_MODEL, 0, 1)
    assert state.champion_model_arn is None and state.lock_owner is None

    dispatch_one(registry)
    registry.ensure_state(LineageConfig.model_validate(LINEAGE_CONFIG))
    again = registry.get_state(LINEAGE)
    assert again is not None and (again.lock_owner, again.next_iteration) == (1, 2)


def test_a_custom_starting_point_is_also_the_champion_model_arn(aws: Aws) -> None:
    config = {**LINEAGE_CONFIG, "name": "custom-start", "base_model": CUSTOM_BASE, "family": "nova"}
    aws.registry.ensure_state(LineageConfig.model_validate(config))
    state = aws.registry.get_state("custom-start")
    assert state is not None and state.champion_model == state.champion_model_arn == CUSTOM_BASE


def test_record_upload_is_once_per_object_version(registry: Registry) -> None:
    assert registry.record_upload(LINEAGE, dataset(version="v1")) is True
    assert registry.record_upload(LINEAGE, dataset(version="v1")) is False
    assert registry.record_upload(LINEAGE, dataset(version="v2", at="2026-01-01T00:00:05.000Z")) is True
    assert [q.dataset.version_id for q in registry.queued_uploads(LINEAGE)] == ["v1", "v2"]


def test_unversioned_uploads_are_told_apart_by_etag(registry: Registry) -> None:
    first = DatasetRef(
        "data", "incoming/support-bot/a.jsonl", None, "etag-one", 5, "2026-01-01T00:00:00.000Z"
    )
    second = DatasetRef(
        "data", "incoming/support-bot/a.jsonl", None, "etag-two", 5, "2026-01-01T00:00:09.000Z"
    )
    assert registry.record_upload(LINEAGE, first) and registry.record_upload(LINEAGE, second)
    assert not registry.record_upload(LINEAGE, first)


def test_queue_head_is_the_oldest_upload_whatever_the_recording_order(registry: Registry) -> None:
    registry.record_upload(LINEAGE, dataset("incoming/support-bot/late.jsonl", at="2026-01-01T00:00:09.000Z"))
    registry.record_upload(
        LINEAGE, dataset("incoming/support-bot/early.jsonl", at="2026-01-01T00:00:01.000Z")
    )
    head = registry.queue_head(LINEAGE)
    assert head is not None and head.dataset.key == "incoming/support-bot/early.jsonl"
    assert head.sort_key == naming.queue_sk("2026-01-01T00:00:01.000Z", head.dataset.key, "v1")


def test_try_dispatch_locks_numbers_and_dequeues_atomically(registry: Registry) -> None:
    registry.record_upload(LINEAGE, dataset())
    head = registry.queue_head(LINEAGE)
    assert head is not None
    record = registry.try_dispatch(LINEAGE, 1, head, "2026-01-01T00:00:01.000Z")

    assert record is not None and record.iteration == 1
    state = registry.get_state(LINEAGE)
    assert state is not None
    assert (state.lock_owner, state.next_iteration, state.lock_since) == (1, 2, "2026-01-01T00:00:01.000Z")
    assert registry.queue_head(LINEAGE) is None
    stored = registry.get_iteration(LINEAGE, 1)
    assert stored is not None
    assert (stored.decision, stored.dataset, stored.dataset_key) == (
        "running",
        "s3://data/incoming/support-bot/a.jsonl?versionId=v1",
        "incoming/support-bot/a.jsonl",
    )
    assert stored.dataset_ref() == dataset()


def test_try_dispatch_writes_nothing_while_the_lineage_is_locked(registry: Registry) -> None:
    dispatch_one(registry)
    registry.record_upload(LINEAGE, dataset("incoming/support-bot/b.jsonl", at="2026-01-01T00:00:02.000Z"))
    head = registry.queue_head(LINEAGE)
    assert head is not None

    assert registry.try_dispatch(LINEAGE, 2, head, "2026-01-01T00:00:03.000Z") is None
    assert registry.get_iteration(LINEAGE, 2) is None
    assert registry.queue_head(LINEAGE) == head
    state = registry.get_state(LINEAGE)
    assert state is not None and (state.lock_owner, state.next_iteration) == (1, 2)


def test_try_dispatch_refuses_a_stale_number_or_a_head_already_taken(registry: Registry) -> None:
    registry.record_upload(LINEAGE, dataset())
    head = registry.queue_head(LINEAGE)
    assert head is not None
    assert registry.try_dispatch(LINEAGE, 7, head, "t") is None  # next_iteration is 1, not 7
    gone = QueuedUpload(
        sort_key=naming.queue_sk("2020-01-01T00:00:00.000Z", "x.jsonl", "v9"), dataset=dataset()
    )
    assert registry.try_dispatch(LINEAGE, 1, gone, "t") is None
    state = registry.get_state(LINEAGE)
    assert state is not None and state.lock_owner is None and state.next_iteration == 1
    assert registry.list_iterations(LINEAGE) == []


def test_the_lock_is_released_only_by_its_owner(registry: Registry) -> None:
    owner = dispatch_one(registry)
    assert registry.release_lock(LINEAGE, owner + 1) is False
    state = registry.get_state(LINEAGE)
    assert state is not None and state.lock_owner == owner
    assert registry.release_lock(LINEAGE, owner) is True
    assert registry.release_lock(LINEAGE, owner) is False  # a retried release changes nothing
    state = registry.get_state(LINEAGE)
    assert state is not None and state.lock_owner is None and state.lock_since is None


METRICS = {
    "token_f1": {"overall": 0.75, "by_category": {"billing": 0.5, "storage": 1.0}},
    "exact_match": {"overall": 0.0, "by_category": {}},
}


SERVING = {
    "kind": "deployment",
    "name": "bot-serving-it0001",
    "arn": "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/it1",
    "model_arn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/it1",
    "role": "serving",
    "model_units": 0,
}


def promote(registry: Registry, iteration: int, serving: dict | None = SERVING) -> None:
    registry.promote(
        LINEAGE,
        iteration,
        model_arn="arn:aws:bedrock:us-east-1:123456789012:custom-model/it1",
        serving_capacity=serving,
        score=0.75,
        metrics=METRICS,
        eval_set_version="0123456789abcdef",
        metric="token_f1",
    )


def test_promote_moves_the_champion_and_marks_the_iteration(registry: Registry) -> None:
    owner = dispatch_one(registry)
    promote(registry, owner)
    state = registry.get_state(LINEAGE)
    assert state is not None
    assert (
        state.champion_model
        == state.champion_model_arn
        == "arn:aws:bedrock:us-east-1:123456789012:custom-model/it1"
    )
    assert (state.champion_iteration, state.champion_score, state.champion_eval_set_version) == (
        owner,
        0.75,
        "0123456789abcdef",
    )
    assert state.champion_metric == "token_f1"
    assert state.champion_metrics == METRICS  # floats back as floats, 0.0 included
    assert state.serving_model_id == SERVING["arn"]
    assert state.serving_capacity == SERVING
    record = registry.get_iteration(LINEAGE, owner)
    assert record is not None and record.decision == "promoted"
    assert record.serving_model_id == SERVING["arn"]


def test_promote_under_serving_mode_none_records_no_serving_capacity(registry: Registry) -> None:
    owner = dispatch_one(registry)
    promote(registry, owner, serving=None)
    state = registry.get_state(LINEAGE)
    assert state is not None and state.serving_model_id is None and state.serving_capacity is None
    record = registry.get_iteration(LINEAGE, owner)
    assert record is not None and record.serving_model_id == state.champion_model


def test_a_rollback_makes_an_earlier_iteration_champion_again(registry: Registry) -> None:
    owner = dispatch_one(registry)
    registry.promote(
        LINEAGE,
        owner,
        model_arn="arn:aws:bedrock:us-east-1:123456789012:custom-model/it0",
        serving_capacity=SERVING,
        score=0.5,
        metrics=METRICS,
        eval_set_version="v",
        metric="token_f1",
        champion_iteration=0,
        decision=Decision.ROLLED_BACK,
    )
    state = registry.get_state(LINEAGE)
    assert state is not None and state.champion_iteration == 0 and state.champion_score == 0.5
    record = registry.get_iteration(LINEAGE, owner)
    assert record is not None and record.decision == "rolled_back"


def test_promote_is_refused_without_the_lock(registry: Registry) -> None:
    owner = dispatch_one(registry)
    registry.release_lock(LINEAGE, owner)
    with pytest.raises(LockNotHeldError):
        promote(registry, owner)
    state = registry.get_state(LINEAGE)
    assert state is not None and (state.champion_model, state.champion_iteration) == (BASE_MODEL, 0)
    record = registry.get_iteration(LINEAGE, owner)
    assert record is not None and record.decision == "running"


def test_promote_is_refused_for_another_iteration(registry: Registry) -> None:
    owner = dispatch_one(registry)
    with pytest.raises(LockNotHeldError):
        promote(registry, owner + 1)


def test_record_champion_score_needs_the_lock_and_the_same_champion(registry: Registry) -> None:
    owner = dispatch_one(registry)
    kwargs = {"score": 0.5, "metrics": METRICS, "eval_set_version": "v", "metric": "token_f1"}
    assert registry.record_champion_score(LINEAGE, owner, champion_iteration=3, **kwargs) is False
    assert registry.record_champion_score(LINEAGE, owner + 1, champion_iteration=0, **kwargs) is False
    assert registry.record_champion_score(LINEAGE, owner, champion_iteration=0, **kwargs) is True
    state = registry.get_state(LINEAGE)
    assert state is not None
    assert (state.champion_score, state.champion_eval_set_version, state.champion_metric) == (
        0.5,
        "v",
        "token_f1",
    )
    assert state.champion_metrics == METRICS


def test_the_plateau_state_is_counted_once_per_iteration_and_resume_clears_it(registry: Registry) -> None:
    dispatch_one(registry)
    assert registry.record_plateau(LINEAGE, 2, marginal_rounds=3, converged=True) is True
    assert registry.record_plateau(LINEAGE, 2, marginal_rounds=4, converged=True) is False  # a retry
    assert registry.record_plateau(LINEAGE, 1, marginal_rounds=9, converged=False) is False  # older
    state = registry.get_state(LINEAGE)
    assert state is not None
    assert (state.marginal_rounds, state.converged, state.plateau_iteration) == (3, True, 2)
    assert registry.resume(LINEAGE) is True
    state = registry.get_state(LINEAGE)
    assert state is not None and (state.marginal_rounds, state.converged) == (0, False)
    assert registry.record_plateau(LINEAGE, 3, marginal_rounds=1, converged=False) is True
    assert registry.resume("no-such-lineage") is False
    assert registry.record_plateau("no-such-lineage", 1, marginal_rounds=1, converged=False) is False


def test_update_iteration_round_trips_numbers_without_decimals(registry: Registry) -> None:
    owner = dispatch_one(registry)
    registry.update_iteration(
        LINEAGE,
        owner,
        {
            "training_loss": 0.125,
            "eval_score": 1.0,
            "records": 12,
            "hyperparameters": {"epochCount": "2"},
            "reason": None,  # skipped, not stored as null
        },
    )
    record = registry.get_iteration(LINEAGE, owner)
    assert record is not None
    assert record.training_loss == 0.125 and isinstance(record.training_loss, float)
    assert record.eval_score == 1.0 and isinstance(record.eval_score, float)
    assert record.records == 12 and isinstance(record.records, int)
    assert record.hyperparameters == {"epochCount": "2"}
    assert record.reason is None


def test_update_iteration_rejects_unknown_fields_and_missing_iterations(registry: Registry) -> None:
    owner = dispatch_one(registry)
    with pytest.raises(ValueError, match="not iteration fields: bogus"):
        registry.update_iteration(LINEAGE, owner, {"bogus": 1})
    with pytest.raises(IterationNotFoundError):
        registry.update_iteration(LINEAGE, 99, {"reason": "x"})
    assert registry.get_iteration(LINEAGE, 99) is None


def test_list_iterations_is_in_iteration_order(registry: Registry) -> None:
    for n in range(1, 4):
        registry.record_upload(
            LINEAGE, dataset(f"incoming/support-bot/{n}.jsonl", at=f"2026-01-01T00:00:0{n}.000Z")
        )
        state = registry.get_state(LINEAGE)
        head = registry.queue_head(LINEAGE)
        assert state is not None and head is not None
        assert registry.try_dispatch(LINEAGE, state.next_iteration, head, "t") is not None
        registry.release_lock(LINEAGE, n)
    records = registry.list_iterations(LINEAGE)
    assert [r.iteration for r in records] == [1, 2, 3]
    assert [r.dataset_key for r in records] == [f"incoming/support-bot/{n}.jsonl" for n in (1, 2, 3)]
    assert [h["iteration"] for h in (r.to_history() for r in records)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("plain", "stored"),
    [
        (0.1, Decimal("0.1")),
        (3, 3),
        ({"a": 1.5, "b": None, "c": float("nan")}, {"a": Decimal("1.5")}),
        ([1, 2.5], [1, Decimal("2.5")]),
        ("text", "text"),
    ],
)
def test_to_dynamo(plain: object, stored: object) -> None:
    assert to_dynamo(plain) == stored


@pytest.mark.parametrize(
    ("stored", "plain", "kind"),
    [(Decimal("2"), 2, int), (Decimal("2.0"), 2.0, float), (Decimal("0.25"), 0.25, float), ("x", "x", str)],
)
def test_from_dynamo(stored: object, plain: object, kind: type) -> None:
    value = from_dynamo(stored)
    assert value == plain and type(value) is kind


class _ConflictingDynamoDB:
    """Cancels every transaction as DynamoDB does under a conflict: no condition failed."""

    def __init__(self, code: str) -> None:
        self.code = code

    def transact_write_items(self, **_: object) -> None:
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [{"Code": self.code}, {"Code": "None"}, {"Code": "None"}],
            },
            "TransactWriteItems",
        )


@pytest.mark.parametrize(
    ("code", "lost_race"), [("ConditionalCheckFailed", True), ("TransactionConflict", False)]
)
def test_try_dispatch_reports_a_lost_race_but_raises_when_nobody_dispatched(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, code: str, lost_race: bool
) -> None:
    registry.record_upload(LINEAGE, dataset())
    head = registry.queue_head(LINEAGE)
    assert head is not None
    monkeypatch.setattr(Registry, "_db", property(lambda _self: _ConflictingDynamoDB(code)))

    if lost_race:
        assert registry.try_dispatch(LINEAGE, 1, head, "t") is None
    else:
        with pytest.raises(ClientError):
            registry.try_dispatch(LINEAGE, 1, head, "t")


def test_a_withdrawal_takes_the_upload_out_of_the_queue_once_and_not_after_it_started(
    registry: Registry,
) -> None:
    from iterft_runtime.logic.uploads import UploadStatus

    at = "2026-01-01T00:00:00.100Z"
    registry.record_upload(LINEAGE, dataset(version="v1"), sequencer="00A1", received_at=at)
    registry.record_upload(LINEAGE, dataset(key="incoming/support-bot/b.jsonl", version="v2"), received_at=at)
    first, second = registry.queued_uploads(LINEAGE)
    assert (first.dataset.version_id, first.sequencer, first.received_at) == ("v1", "00A1", at)

    closed = registry.close_queued(
        LINEAGE, first, UploadStatus.WITHDRAWN, reason="wrong export", by="arn:aws:iam::1:user/op", at="now"
    )
    assert closed
    assert not registry.close_queued(
        LINEAGE, first, UploadStatus.WITHDRAWN, reason="again", by=None, at="later"
    )
    [entry] = registry.uploads(LINEAGE, first.dataset.key)
    assert (entry.status, entry.reason, entry.by, entry.closed_at) == (
        "withdrawn",
        "wrong export",
        "arn:aws:iam::1:user/op",
        "now",
    )
    assert entry.sequencer == "00A1" and entry.iteration is None

    state = registry.get_state(LINEAGE)
    assert state is not None and registry.try_dispatch(LINEAGE, state.next_iteration, second, "now")
    assert not registry.close_queued(
        LINEAGE, second, UploadStatus.WITHDRAWN, reason="late", by=None, at="now"
    )
    [started] = registry.uploads(LINEAGE, second.dataset.key)
    assert (started.status, started.iteration, started.reason) == ("started", 1, None)
    assert registry.queued_uploads(LINEAGE) == []


def test_a_ledger_entry_written_before_statuses_reads_as_queued_or_started(
    registry: Registry, aws: Aws
) -> None:
    registry.record_upload(LINEAGE, dataset(version="v1"))
    dispatch_one(registry, dataset(key="incoming/support-bot/b.jsonl", version="v2"))
    table = aws.client("dynamodb")
    for item in table.scan(TableName=registry.table_name)["Items"]:
        if item["sk"]["S"].startswith(naming.UPLOAD_SK_PREFIX):
            table.update_item(
                TableName=registry.table_name,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="REMOVE #s, iteration",
                ExpressionAttributeNames={"#s": "status"},
            )
    statuses = {entry.dataset.version_id: entry.status for entry in registry.uploads(LINEAGE)}
    assert statuses == {"v1": "started", "v2": "queued"}  # a.jsonl was the head
