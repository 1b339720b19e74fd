"""The reconciler's plan: each repair kind, never touching what a running round uses, and cheap no-ops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from iterft_runtime import naming
from iterft_runtime.logic.dispatch import timestamp
from iterft_runtime.logic.reconcile import (
    GRACE,
    Context,
    ExecutionStatus,
    Inventory,
    ListedCapacity,
    ListedModel,
    ReconcileRequest,
    Repair,
    RepairKind,
    Snapshot,
    needs_inventory,
    plan,
    sweep_point,
)
from iterft_runtime.models.capacity import CapacityKind
from iterft_runtime.models.lineage import CostConfig, ModelRetention
from iterft_runtime.models.records import IterationRecord, LineageState

STACK = "iterft-test"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
LONG_AGO = timestamp(NOW - GRACE - timedelta(minutes=1))
JUST_NOW = timestamp(NOW - timedelta(seconds=30))
EXECUTION = "arn:aws:states:us-east-1:1:execution:machine:bot-it0002-abc"
CHAMPION = "arn:aws:bedrock:us-east-1:1:custom-model/champion"
SERVING = "arn:aws:bedrock:us-east-1:1:provisioned-model/serving"


def _record(iteration: int, decision: str, **fields: object) -> IterationRecord:
    key = f"incoming/bot/round-{iteration}.jsonl"
    return IterationRecord(
        iteration=iteration,
        decision=decision,
        dataset_bucket="data",
        dataset_key=key,
        dataset_version=f"v{iteration}",
        uploaded_at=LONG_AGO,
        started_at=LONG_AGO,
        **fields,  # type: ignore[arg-type]
    )


def _fingerprint(iteration: int) -> str:
    return naming.dataset_fingerprint(f"incoming/bot/round-{iteration}.jsonl", f"v{iteration}")


def _model(iteration: int) -> ListedModel:
    name = naming.custom_model_name("bot", iteration, _fingerprint(iteration))
    return ListedModel(name, f"arn:aws:bedrock:us-east-1:1:custom-model/{name}")


def _eval_capacity(iteration: int, model_arn: str | None = None) -> ListedCapacity:
    name = naming.evaluation_capacity_name("bot", iteration, _fingerprint(iteration), "candidate")
    return ListedCapacity(
        CapacityKind.DEPLOYMENT,
        name,
        f"arn:aws:bedrock:us-east-1:1:custom-model-deployment/{name}",
        model_arn,
    )


def _state(**fields: object) -> LineageState:
    values: dict[str, object] = {
        "champion_model": CHAMPION,
        "champion_model_arn": CHAMPION,
        "champion_iteration": 1,
        "serving_model_id": SERVING,
        "serving_capacity": {"arn": SERVING, "model_arn": CHAMPION},
        "next_iteration": 3,
    }
    return LineageState(lineage="bot", **{**values, **fields})  # type: ignore[arg-type]


def _context(**fields: object) -> Context:
    values: dict[str, object] = {
        "stack_name": STACK,
        "retention": ModelRetention(),
        "now": NOW,
        "pointer": SERVING,
    }
    return Context(**{**values, **fields})  # type: ignore[arg-type]


def _kinds(repairs: list[Repair]) -> list[RepairKind]:
    return [repair.kind for repair in repairs]


LOCKED = _state(lock_owner=2, lock_since=LONG_AGO)
PROMOTED_1 = _record(1, "promoted", output_model_arn=CHAMPION, ended_at=LONG_AGO)


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED", "SUCCEEDED"])
def test_a_lock_held_by_an_ended_execution_is_released(status: str) -> None:
    snapshot = Snapshot("bot", LOCKED, [PROMOTED_1, _record(2, "running", execution_arn=EXECUTION)])

    [repair] = plan(snapshot, _context(execution=ExecutionStatus(status, JUST_NOW)))

    assert repair.kind is RepairKind.RELEASE_LOCK
    assert (repair.iteration, repair.target, repair.execution_status) == (2, EXECUTION, status)
    assert status in repair.detail and "recorded failed" in repair.detail


def test_a_lock_whose_execution_runs_is_never_touched_however_old() -> None:
    snapshot = Snapshot("bot", LOCKED, [PROMOTED_1, _record(2, "running", execution_arn=EXECUTION)])
    leftover = _eval_capacity(2, _model(2).arn)

    repairs = plan(
        snapshot,
        _context(
            execution=ExecutionStatus("RUNNING"),
            inventory=Inventory(models=[_model(2)], capacities=[leftover]),
            pointer="something else",
        ),
    )

    assert repairs == []  # not the lock, not its model or capacity, not the pointer mid-round


def test_a_lock_whose_execution_never_started_is_dispatched_again_after_the_grace_period() -> None:
    fresh = Snapshot("bot", _state(lock_owner=2, lock_since=JUST_NOW), [PROMOTED_1, _record(2, "running")])
    stale = Snapshot("bot", LOCKED, [PROMOTED_1, _record(2, "running")])

    assert plan(fresh, _context()) == []
    assert _kinds(plan(stale, _context())) == [RepairKind.REDISPATCH]


def test_a_missing_execution_releases_the_lock_only_after_the_grace_period() -> None:
    records = [PROMOTED_1, _record(2, "running", execution_arn=EXECUTION)]
    missing = ExecutionStatus("NOT_FOUND")

    assert (
        plan(Snapshot("bot", _state(lock_owner=2, lock_since=JUST_NOW), records), _context(execution=missing))
        == []
    )
    assert _kinds(plan(Snapshot("bot", LOCKED, records), _context(execution=missing))) == [
        RepairKind.RELEASE_LOCK
    ]


def test_uploads_left_queued_on_an_idle_lineage_are_dispatched_again_after_the_grace_period() -> None:
    """The dispatch message a round's Finish sent was dead-lettered (its deliveries failed past the
    queue's receives): the lineage holds no lock, its uploads wait and nothing would start them until
    the next upload (chaos found it). Not while the last round ended or the oldest upload arrived
    within the grace period: a dispatch may be on its way."""
    ended = _record(2, "rejected", ended_at=LONG_AGO)
    stalled = Snapshot("bot", _state(), [PROMOTED_1, ended], queued=2, queued_since=LONG_AGO)

    [repair] = plan(stalled, _context())
    assert (repair.kind, repair.iteration, repair.target) == (RepairKind.REDISPATCH, None, "queue of bot")
    assert "2 upload(s) queued since" in repair.detail
    just_ended = Snapshot(
        "bot",
        _state(),
        [PROMOTED_1, _record(2, "rejected", ended_at=JUST_NOW)],
        queued=2,
        queued_since=LONG_AGO,
    )
    just_queued = Snapshot("bot", _state(), [PROMOTED_1, ended], queued=1, queued_since=JUST_NOW)
    first_upload = Snapshot("bot", _state(champion_iteration=0), [], queued=1, queued_since=LONG_AGO)
    assert plan(just_ended, _context()) == plan(just_queued, _context()) == []
    assert _kinds(plan(first_upload, _context())) == [RepairKind.REDISPATCH]


def test_uploads_that_wait_on_purpose_are_left_queued() -> None:
    """A lineage converged with gate.pause_when_converged, one over its monthly budget, a retired one,
    and one whose round runs (its lock is the lock rules' business) keep their queue."""
    records = [PROMOTED_1, _record(2, "rejected", ended_at=LONG_AGO)]
    month = NOW.strftime("%Y-%m")

    def queued(state: LineageState) -> Snapshot:
        return Snapshot("bot", state, records, queued=1, queued_since=LONG_AGO)

    assert plan(queued(_state(converged=True)), _context(pause_when_converged=True)) == []
    assert _kinds(plan(queued(_state(converged=True)), _context())) == [RepairKind.REDISPATCH]
    over = _state(spend_month=month, spend_usd=12.0)
    prices = {"training_usd_per_1k_tokens": 0.01, "evaluation_capacity_usd_per_hour": 1.0}
    assert plan(queued(over), _context(cost=CostConfig(**prices, monthly_budget_usd=10.0))) == []
    assert _kinds(plan(queued(over), _context(cost=CostConfig(**prices, monthly_budget_usd=20.0)))) == [
        RepairKind.REDISPATCH
    ]
    assert plan(queued(_state(retired_at=LONG_AGO)), _context()) == []
    running = [PROMOTED_1, _record(2, "running", execution_arn=EXECUTION)]
    locked = Snapshot("bot", LOCKED, running, queued=1, queued_since=LONG_AGO)
    assert plan(locked, _context(execution=ExecutionStatus("RUNNING"))) == []


def test_an_orphan_model_is_recorded_and_deleted_when_retention_would() -> None:
    failed = _record(2, "failed", ended_at=LONG_AGO)
    snapshot = Snapshot("bot", _state(), [PROMOTED_1, failed])
    orphan = _model(2)

    repairs = plan(snapshot, _context(inventory=Inventory(models=[orphan])))

    assert [(r.kind, r.iteration, r.target) for r in repairs] == [
        (RepairKind.RECORD_MODEL, 2, orphan.arn),
        (RepairKind.DELETE_MODEL, 2, orphan.arn),
    ]


def test_an_orphan_model_kept_for_inspection_is_only_recorded() -> None:
    snapshot = Snapshot("bot", _state(), [PROMOTED_1, _record(2, "failed", ended_at=JUST_NOW)])

    repairs = plan(
        snapshot,
        _context(inventory=Inventory(models=[_model(2)]), retention=ModelRetention(keep_rejected_days=3)),
    )

    assert _kinds(repairs) == [RepairKind.RECORD_MODEL]


def test_an_orphan_model_that_serves_or_is_the_champion_is_recorded_not_deleted() -> None:
    orphan = _model(2)
    snapshot = Snapshot("bot", _state(champion_model_arn=orphan.arn), [PROMOTED_1, _record(2, "failed")])

    assert _kinds(plan(snapshot, _context(inventory=Inventory(models=[orphan])))) == [RepairKind.RECORD_MODEL]

    served = Snapshot("bot", _state(), [PROMOTED_1, _record(2, "failed")])
    kept_capacity = ListedCapacity(CapacityKind.PROVISIONED, "elsewhere", "arn:pt/other", orphan.arn)
    repairs = plan(served, _context(inventory=Inventory(models=[orphan], capacities=[kept_capacity])))
    assert _kinds(repairs) == [RepairKind.RECORD_MODEL]


def test_models_and_capacity_of_other_stacks_or_unknown_uploads_are_left_alone() -> None:
    snapshot = Snapshot("bot", _state(), [PROMOTED_1, _record(2, "failed")])
    foreign = ListedModel(naming.custom_model_name("bot", 2, "deadbeef"), "arn:other/model")
    not_recorded = _model(7)  # an iteration this registry does not hold
    other_lineage = ListedModel(naming.custom_model_name("bot-two", 2, _fingerprint(2)), "arn:other/bot-two")
    other_serving = ListedCapacity(
        CapacityKind.PROVISIONED, naming.serving_capacity_name("bot", 1, "iterft-prod"), "arn:pt/prod", None
    )

    repairs = plan(
        snapshot,
        _context(
            inventory=Inventory(models=[foreign, not_recorded, other_lineage], capacities=[other_serving])
        ),
    )

    assert repairs == []


def test_capacity_nothing_serves_is_deleted_but_never_what_serves_or_a_running_round_uses() -> None:
    records = [
        PROMOTED_1,
        _record(2, "rejected", ended_at=LONG_AGO),
        _record(3, "running", execution_arn=EXECUTION),
    ]
    snapshot = Snapshot("bot", _state(lock_owner=3, lock_since=LONG_AGO), records)
    serving_name = naming.serving_capacity_name("bot", 1, STACK)
    serving = ListedCapacity(CapacityKind.PROVISIONED, serving_name, SERVING, CHAMPION)
    old_serving = ListedCapacity(
        CapacityKind.DEPLOYMENT, naming.serving_capacity_name("bot", 2, STACK), "arn:dep/old", CHAMPION
    )
    leftover, in_use = _eval_capacity(2), _eval_capacity(3)

    repairs = plan(
        snapshot,
        _context(
            execution=ExecutionStatus("RUNNING"),
            inventory=Inventory(capacities=[serving, old_serving, leftover, in_use]),
        ),
    )

    assert [(r.kind, r.target, r.capacity_kind) for r in repairs] == [
        (RepairKind.DELETE_CAPACITY, "arn:dep/old", CapacityKind.DEPLOYMENT),
        (RepairKind.DELETE_CAPACITY, leftover.arn, CapacityKind.DEPLOYMENT),
    ]


def test_a_model_whose_capacity_is_deleted_in_the_same_run_is_deleted_after_it() -> None:
    snapshot = Snapshot("bot", _state(), [PROMOTED_1, _record(2, "failed", ended_at=LONG_AGO)])
    orphan = _model(2)

    repairs = plan(
        snapshot, _context(inventory=Inventory(models=[orphan], capacities=[_eval_capacity(2, orphan.arn)]))
    )

    assert _kinds(repairs) == [RepairKind.DELETE_CAPACITY, RepairKind.RECORD_MODEL, RepairKind.DELETE_MODEL]


def test_a_pointer_that_disagrees_is_notified_once_and_never_guessed() -> None:
    snapshot = Snapshot("bot", _state(), [PROMOTED_1])

    [repair] = plan(snapshot, _context(pointer="arn:something/else"))

    assert repair.kind is RepairKind.POINTER_MISMATCH
    assert repair.target == SERVING and "arn:something/else" in repair.detail
    again = Snapshot("bot", _state(), [PROMOTED_1], repairs=[repair.to_dict()])
    assert plan(again, _context(pointer="arn:something/else")) == []
    assert plan(Snapshot("bot", _state(), [PROMOTED_1]), _context()) == []


def test_the_starting_point_is_not_checked_and_mode_none_expects_the_champion_model() -> None:
    starting = _state(
        champion_iteration=0, serving_model_id=None, serving_capacity=None, champion_model_arn=None
    )
    assert plan(Snapshot("bot", starting, []), _context(pointer="amazon.nova-micro-v1:0")) == []

    none_mode = _state(serving_model_id=None, serving_capacity=None)
    assert plan(Snapshot("bot", none_mode, [PROMOTED_1]), _context(pointer=CHAMPION)) == []
    assert _kinds(plan(Snapshot("bot", none_mode, [PROMOTED_1]), _context(pointer=SERVING))) == [
        RepairKind.POINTER_MISMATCH
    ]


def test_nothing_to_do_needs_no_bedrock_listing_and_plans_nothing() -> None:
    settled = Snapshot("bot", _state(), [PROMOTED_1, _record(2, "rejected")], swept_through=2)

    assert not needs_inventory(settled, None, NOW)
    assert plan(settled, _context()) == []


def test_bedrock_is_listed_once_an_iteration_ended_since_the_last_sweep() -> None:
    records = [PROMOTED_1, _record(2, "rejected"), _record(3, "running", execution_arn=EXECUTION)]
    locked = _state(lock_owner=3, lock_since=LONG_AGO)

    assert needs_inventory(Snapshot("bot", locked, records, swept_through=1), ExecutionStatus("RUNNING"), NOW)
    assert sweep_point(Snapshot("bot", locked, records), ExecutionStatus("RUNNING"), NOW) == 2
    assert not needs_inventory(
        Snapshot("bot", locked, records, swept_through=2), ExecutionStatus("RUNNING"), NOW
    )
    # The lock owner's execution ended: its iteration is settled too.
    assert sweep_point(Snapshot("bot", locked, records), ExecutionStatus("ABORTED"), NOW) == 3


def test_the_request_is_typed() -> None:
    assert ReconcileRequest.from_event({}) == ReconcileRequest(None, False)
    assert ReconcileRequest.from_event({"lineage": "bot", "dry_run": True}).full_sweep
    with pytest.raises(ValueError, match="dry_run"):
        ReconcileRequest.from_event({"lineage": "bot", "dry_run": "yes"})
    with pytest.raises(ValueError, match="lineage"):
        ReconcileRequest.from_event({"lineage": ""})


def test_a_repair_round_trips_through_its_record() -> None:
    repair = Repair(
        RepairKind.DELETE_CAPACITY, "bot", 2, "arn:x", "deleted", capacity_kind=CapacityKind.PROVISIONED
    )
    assert Repair.from_dict({**repair.to_dict(), "at": "t", "sk": "REPAIR#t#0000"}) == repair
