"""Serving decisions: evaluation capacity, readiness, the in-place swap, release, retention, rollback."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from iterft_runtime import naming
from iterft_runtime.logic.serving import (
    LineageModel,
    NoEvaluationCapacityError,
    SwapAction,
    capacity_to_release,
    evaluation_capacity_kind,
    models_to_delete,
    plan_swap,
    readiness,
    rollback_refusal,
)
from iterft_runtime.models.capacity import Capacity, CapacityKind, CapacityRole, CapacityStatus, Readiness
from iterft_runtime.models.lineage import LineageConfig, ServingConfig
from iterft_runtime.models.records import IterationRecord, LineageState

M1, M2 = "arn:aws:bedrock:us-east-1:1:custom-model/m1", "arn:aws:bedrock:us-east-1:1:custom-model/m2"
DEPLOYMENT = Capacity(
    CapacityKind.DEPLOYMENT, "bot-serving-it0001", "arn:dep/serving", M1, CapacityRole.SERVING
)
THROUGHPUT = Capacity(
    CapacityKind.PROVISIONED, "bot-serving-it0001", "arn:pt/serving", M1, CapacityRole.SERVING, model_units=2
)
EVAL_DEPLOYMENT = Capacity(
    CapacityKind.DEPLOYMENT, "bot-it0002-x-eval", "arn:dep/eval", M2, CapacityRole.CANDIDATE
)
EVAL_THROUGHPUT = Capacity(
    CapacityKind.PROVISIONED, "bot-it0002-x-eval", "arn:pt/eval", M2, CapacityRole.CANDIDATE, model_units=1
)


CUSTOM_NOVA = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdef012345"


@pytest.mark.parametrize(
    ("base_model", "region", "kind"),
    [
        ("amazon.nova-micro-v1:0:128k", "us-east-1", CapacityKind.DEPLOYMENT),
        ("amazon.nova-lite-v1:0:300k", "us-east-1", CapacityKind.DEPLOYMENT),
        (CUSTOM_NOVA, "us-east-1", CapacityKind.DEPLOYMENT),  # a custom starting point: its base decides
        ("meta.llama3-3-70b-instruct-v1:0:128k", "us-west-2", CapacityKind.DEPLOYMENT),
        ("anthropic.claude-3-haiku-20240307-v1:0:200k", "us-west-2", CapacityKind.PROVISIONED),
        ("meta.llama3-1-8b-instruct-v1:0:128k", "us-west-2", CapacityKind.PROVISIONED),
        ("amazon.titan-text-express-v1:0:8k", "us-east-1", CapacityKind.PROVISIONED),
    ],
)
def test_evaluation_uses_on_demand_where_the_model_has_it_in_the_region(base_model, region, kind) -> None:
    lineage = LineageConfig(name="bot", base_model=base_model)
    assert evaluation_capacity_kind(lineage, region) is kind


def test_a_model_with_no_capacity_in_the_region_cannot_be_evaluated() -> None:
    lineage = LineageConfig(name="bot", base_model="amazon.titan-text-lite-v1:0:4k")
    with pytest.raises(NoEvaluationCapacityError, match="no evaluation capacity in us-east-1"):
        evaluation_capacity_kind(lineage, "us-east-1")


@pytest.mark.parametrize(
    ("capacity", "status", "expected"),
    [
        (EVAL_DEPLOYMENT, CapacityStatus("Creating", M2), Readiness.PENDING),
        (EVAL_DEPLOYMENT, CapacityStatus("Active", M2), Readiness.READY),
        (EVAL_DEPLOYMENT, CapacityStatus("Failed", M2, failure="no capacity"), Readiness.FAILED),
        # An in-place update: Active throughout, ready only once the new model serves.
        (
            replace(DEPLOYMENT, model_arn=M2),
            CapacityStatus("Active", M1, update_status="Updating"),
            Readiness.PENDING,
        ),
        (replace(DEPLOYMENT, model_arn=M2), CapacityStatus("Active", M2, "UpdateCompleted"), Readiness.READY),
        (replace(DEPLOYMENT, model_arn=M2), CapacityStatus("Active", M1, "UpdateFailed"), Readiness.FAILED),
        (EVAL_THROUGHPUT, CapacityStatus("Creating", M2), Readiness.PENDING),
        (EVAL_THROUGHPUT, CapacityStatus("InService", M2), Readiness.READY),
        (replace(THROUGHPUT, model_arn=M2), CapacityStatus("Updating", M1), Readiness.PENDING),
        (replace(THROUGHPUT, model_arn=M2), CapacityStatus("InService", M1), Readiness.PENDING),
        (replace(THROUGHPUT, model_arn=M2), CapacityStatus("InService", M2), Readiness.READY),
        (EVAL_THROUGHPUT, CapacityStatus("Failed", None), Readiness.FAILED),
    ],
)
def test_readiness(capacity: Capacity, status: CapacityStatus, expected: Readiness) -> None:
    verdict, reason = readiness(capacity, status)
    assert verdict is expected, reason
    assert capacity.name in reason


@pytest.mark.parametrize(
    ("serving", "current", "candidate", "action", "kind", "replaced"),
    [
        # First promotion: the serving capacity is created (deployments are never adopted) ...
        ({"mode": "on_demand"}, None, EVAL_DEPLOYMENT, SwapAction.CREATE, CapacityKind.DEPLOYMENT, None),
        (
            {"mode": "provisioned", "model_units": 2},
            None,
            EVAL_DEPLOYMENT,
            SwapAction.CREATE,
            CapacityKind.PROVISIONED,
            None,
        ),
        # ... unless the candidate's one-unit, no-commitment throughput is exactly what serving needs.
        ({"mode": "provisioned"}, None, EVAL_THROUGHPUT, SwapAction.ADOPT, CapacityKind.PROVISIONED, None),
        (
            {"mode": "provisioned", "model_units": 2},
            None,
            EVAL_THROUGHPUT,
            SwapAction.CREATE,
            CapacityKind.PROVISIONED,
            None,
        ),
        (
            {"mode": "provisioned", "commitment": "one_month"},
            None,
            EVAL_THROUGHPUT,
            SwapAction.CREATE,
            CapacityKind.PROVISIONED,
            None,
        ),
        # Later promotions update the serving capacity in place.
        (
            {"mode": "on_demand"},
            DEPLOYMENT,
            EVAL_DEPLOYMENT,
            SwapAction.UPDATE,
            CapacityKind.DEPLOYMENT,
            None,
        ),
        (
            {"mode": "provisioned", "model_units": 2},
            THROUGHPUT,
            EVAL_DEPLOYMENT,
            SwapAction.UPDATE,
            CapacityKind.PROVISIONED,
            None,
        ),
        # A changed serving mode creates the new kind and retires the old one once it serves.
        (
            {"mode": "provisioned"},
            DEPLOYMENT,
            EVAL_DEPLOYMENT,
            SwapAction.CREATE,
            CapacityKind.PROVISIONED,
            DEPLOYMENT,
        ),
        ({"mode": "none"}, DEPLOYMENT, EVAL_DEPLOYMENT, SwapAction.NONE, None, DEPLOYMENT),
        ({"mode": "none"}, None, EVAL_DEPLOYMENT, SwapAction.NONE, None, None),
    ],
)
def test_plan_swap(serving, current, candidate, action, kind, replaced) -> None:
    plan = plan_swap(ServingConfig.model_validate(serving), current, candidate, M2, "bot-serving-it0002")
    assert plan.action is action
    assert plan.replaced == replaced
    if kind is None:
        assert plan.target is None
        return
    assert plan.target is not None
    assert (plan.target.kind, plan.target.model_arn, plan.target.role) == (kind, M2, CapacityRole.SERVING)
    if action is SwapAction.UPDATE:
        assert (plan.target.arn, plan.target.name) == (current.arn, current.name)
    if action is SwapAction.CREATE:
        assert (plan.target.arn, plan.target.name) == ("", "bot-serving-it0002")
        config = ServingConfig.model_validate(serving)
        if kind is CapacityKind.PROVISIONED:
            assert plan.target.model_units == config.provisioned_model_units
            assert plan.target.commitment == config.provisioned_commitment.api_value


def test_a_round_releases_everything_it_created_except_what_serves() -> None:
    champion = replace(
        EVAL_DEPLOYMENT, name="bot-it0002-x-champion-eval", arn="arn:dep/champ", role=CapacityRole.CHAMPION
    )
    assert capacity_to_release([EVAL_DEPLOYMENT, champion], None) == [EVAL_DEPLOYMENT, champion]
    assert capacity_to_release([EVAL_THROUGHPUT], replace(EVAL_THROUGHPUT, role=CapacityRole.SERVING)) == []
    assert capacity_to_release([replace(EVAL_DEPLOYMENT, arn="")], None) == []  # never created


@pytest.mark.parametrize(
    ("keep", "protected", "deleted"),
    [
        (3, [], [2, 1]),
        (1, [], [4, 3, 2, 1]),
        (1, ["m1"], [4, 3, 2]),
        (2, ["m1", "m3", None], [2]),
        (10, [], []),
    ],
)
def test_retention_keeps_the_newest_promoted_models(
    keep: int, protected: list[str | None], deleted: list[int]
) -> None:
    models = [LineageModel(n, f"m{n}") for n in (1, 2, 3, 4, 5)]
    assert [model.iteration for model in models_to_delete(models, keep, protected)] == deleted


NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _round(n: int, decision: str, days_ago: float | None = 0) -> LineageModel:
    ended = None if days_ago is None else NOW - timedelta(days=days_ago)
    return LineageModel(n, f"m{n}", decision, ended)


def test_rejected_rounds_never_push_a_promoted_model_out() -> None:
    # The demo: promoted, promoted, rejected, rejected; keep_models 2 keeps both rollback targets.
    models = [_round(1, "promoted"), _round(2, "promoted"), _round(3, "rejected"), _round(4, "rejected")]
    doomed = models_to_delete(models, 2, ["m2"], now=NOW)
    assert [model.iteration for model in doomed] == [4, 3]
    assert [model.iteration for model in models_to_delete(models, 1, ["m2"], now=NOW)] == [4, 3, 1]
    # #1 is beyond keep_models 1 but is the champion after a rollback: never deleted.
    assert [model.iteration for model in models_to_delete(models, 1, ["m1"], now=NOW)] == [4, 3]


def test_never_served_candidates_are_kept_for_inspection_for_the_configured_days() -> None:
    models = [
        _round(1, "promoted"),
        _round(2, "rejected", days_ago=8),
        _round(3, "failed", days_ago=7),
        _round(4, "rejected", days_ago=6.9),
        _round(5, "rejected", days_ago=None),  # the round applying retention: it just ended
        _round(6, "running", days_ago=None),  # in flight
    ]
    assert [model.iteration for model in models_to_delete(models, 3, [], keep_rejected_days=7, now=NOW)] == [
        3,
        2,
    ]
    assert [model.iteration for model in models_to_delete(models, 3, [], now=NOW)] == [5, 4, 3, 2]
    # What something still uses is never deleted, whatever its round's outcome.
    assert [model.iteration for model in models_to_delete(models, 3, ["m3", "m5"], now=NOW)] == [4, 2]


def test_rollback_refusals() -> None:
    state = LineageState("bot", M2, champion_iteration=2)
    promoted = IterationRecord(iteration=1, decision="promoted", output_model_arn=M1)
    assert rollback_refusal(promoted, state, 1) is None
    assert "already the champion" in str(rollback_refusal(replace(promoted, iteration=2), state, 2))
    assert "never promoted (rejected)" in str(
        rollback_refusal(replace(promoted, decision="rejected"), state, 1)
    )
    deleted = replace(promoted, model_deleted_at="2026-11-01T00:00:00.000Z")
    assert "deleted by retention" in str(rollback_refusal(deleted, state, 1))
    assert "has no iteration 7" in str(rollback_refusal(None, state, 7))
    assert "no state" in str(rollback_refusal(promoted, None, 1))


def test_serving_capacity_names_differ_per_stack_and_fit_bedrocks_names() -> None:
    dev, prod = (
        naming.serving_capacity_name("support-bot", 1, stack) for stack in ("iterft-dev", "iterft-prod")
    )
    assert dev != prod and dev.startswith("support-bot-serving-it0001-")
    assert dev == naming.serving_capacity_name(
        "support-bot", 1, "iterft-dev"
    )  # deterministic: Clean up finds it
    longest = naming.serving_capacity_name("a" * 24, 9999, "iterft-" + "x" * 100)
    # Provisioned throughput and custom model deployment names: at most 63 characters of these.
    assert len(longest) <= 63 and re.fullmatch(r"([0-9a-zA-Z][_-]?)+", longest)
