"""The chaos run's invariant checks (iterft/local/chaos_run.py) on hand-made inventories: what a lineage
left behind is told apart from what another lineage, whose name begins with this one's, still uses."""

from __future__ import annotations

from typing import Any

from iterft_runtime import naming

from iterft.local.chaos_run import left_behind

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
