"""The chaos run's invariant checks (iterft/local/chaos_run.py) on hand-made inventories: what a lineage
left behind is told apart from what another lineage, whose name begins with this one's, still uses."""

from __future__ import annotations

from typing import Any

from iterft_runtime import naming

from iterft.local.chaos_run import left_behind, overtaken

STACK = "iterft-bench"
FINGERPRINT = "0123abcd"


def _status(serving_arn: str | None = None) -> dict[str, Any]:
    return {"serving_capacity": {"arn": serving_arn} if serving_arn else None}


def _capacity(name: str, arn: str) -> dict[str, Any]:
    return {"kind": "deployment", "name": name, "arn": arn, "status": "Active"}


def test_another_lineages_serving_capacity_is_not_left_behind_by_a_lineage_its_name_begins_with() -> None:
    """`chaos-od-b`'s serving deployment starts with `chaos-od-`: it is chaos-od-b's, which it serves."""
    other = naming.serving_capacity_name("chaos-od-b", 1, STACK)
    inventory = [_capacity(other, "arn:other")]

    assert left_behind("chaos-od", STACK, [], _status(), inventory, []) == []
    assert left_behind("chaos-od-b", STACK, [], _status("arn:other"), inventory, []) == []


def test_a_lineages_own_capacity_that_serves_nothing_is_left_behind() -> None:
    evaluation = naming.evaluation_capacity_name("chaos-od", 3, FINGERPRINT, "champion")
    old_serving = naming.serving_capacity_name("chaos-od", 1, STACK)
    inventory = [_capacity(evaluation, "arn:eval"), _capacity(old_serving, "arn:old")]

    assert left_behind("chaos-od", STACK, [], _status("arn:serving"), inventory, []) == [
        f"chaos-od: deployment {evaluation} (Active) left behind",
        f"chaos-od: deployment {old_serving} (Active) left behind",
    ]
    assert left_behind("chaos-od-b", STACK, [], _status(), inventory, []) == []


def test_a_custom_model_no_iteration_records_is_its_own_lineages_alone() -> None:
    model = {"modelName": naming.custom_model_name("chaos-od-b", 2, FINGERPRINT), "modelArn": "arn:model"}
    row = {"output_model_arn": "arn:model", "model_deleted_at": None}

    assert left_behind("chaos-od", STACK, [], _status(), [], [model]) == []
    assert left_behind("chaos-od-b", STACK, [row], _status(), [], [model]) == []
    assert left_behind("chaos-od-b", STACK, [], _status(), [], [model]) == [
        f"chaos-od-b: custom model {model['modelName']} that no iteration records"
    ]


def _upload(key: str, iteration: int, recorded_at: str) -> dict[str, Any]:
    return {"key": key, "iteration": iteration, "recorded_at": recorded_at, "status": "started"}


def _round(iteration: int, started_at: str) -> dict[str, Any]:
    return {"iteration": iteration, "started_at": started_at}


def test_an_upload_recorded_after_a_later_one_started_may_run_after_it() -> None:
    """round-1's event failed in the trigger and came back: it was queued (10:00:05) after round-2's
    round had started (10:00:03) on an idle lineage. Nothing in the queue was passed over."""
    started = [
        _upload("round-1", 2, "2026-03-01T10:00:05.000Z"),
        _upload("round-2", 1, "2026-03-01T10:00:02.000Z"),
    ]
    rounds = {1: _round(1, "2026-03-01T10:00:03.000Z"), 2: _round(2, "2026-03-01T10:00:09.000Z")}

    assert overtaken("chaos-pt", started, rounds) == []


def test_an_upload_queued_before_a_later_one_started_must_run_first() -> None:
    started = [
        _upload("round-1", 2, "2026-03-01T10:00:01.000Z"),
        _upload("round-2", 1, "2026-03-01T10:00:02.000Z"),
    ]
    rounds = {1: _round(1, "2026-03-01T10:00:03.000Z"), 2: _round(2, "2026-03-01T10:00:09.000Z")}

    assert overtaken("chaos-pt", started, rounds) == [
        "chaos-pt: round-2 started (#1, 2026-03-01T10:00:03.000Z) before round-1 (#2), "
        "queued since 2026-03-01T10:00:01.000Z"
    ]
