"""Serving on the embedded default: the three modes, in-place promotion, the pointer, retention, and
what exists in Bedrock after every way a round can end.

The rule checked after each round: the provisioned throughputs and custom model deployments of the
lineage that exist are exactly its serving one (none under mode none or before a first promotion),
and the registry, the serving pointer and that capacity agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iterft.control import rollback_lineage
from iterft.history import lineage_history, lineage_status
from iterft.local.session import LocalSession
from iterft.target import TargetError

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
ROUND_1, ROUND_2 = "round-1-billing.jsonl", "round-2-storage-and-account.jsonl"
FOUNDATION_INVOKE = "amazon.nova-micro-v1:0"
TIMEOUT = 90


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    for lineage in itest_session.config.lineages:
        itest_session.put_evaluation_set(lineage.name, EXAMPLES / "eval.jsonl")
    return itest_session


def _run(session: LocalSession, lineage: str, file: str | bytes, name: str | None = None) -> dict[str, Any]:
    """Upload one dataset, wait for its round to end; its history row."""
    body = file if isinstance(file, bytes) else (EXAMPLES / file).read_bytes()
    count = len(lineage_history(session.deployment, lineage))
    session.upload(lineage, body, name=name or f"upload-{count + 1}.jsonl")
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    rows = lineage_history(session.deployment, lineage)
    assert len(rows) == count + 1
    return rows[-1]


def _capacity_of(session: LocalSession, lineage: str) -> list[dict[str, Any]]:
    return [item for item in session.bedrock_inventory() if item["name"].startswith(f"{lineage}-")]


def _status(session: LocalSession, lineage: str) -> dict[str, Any]:
    [status] = lineage_status(session.deployment, lineage)
    return status


def assert_only_serving_capacity_left(session: LocalSession, lineage: str) -> dict[str, Any]:
    """Nothing but the lineage's serving capacity exists, and registry, pointer and Bedrock agree."""
    status = _status(session, lineage)
    assert status["running_iteration"] is None
    left = _capacity_of(session, lineage)
    serving = status["serving_capacity"]
    if serving is None:
        assert left == [], left
        assert status["serving_model_id"] is None
    else:
        [only] = left
        assert only["arn"] == serving["arn"] == status["serving_model_id"] == status["serving_pointer"]
        assert only["model_arn"] == status["champion_model"]
        assert only["status"] in ("Active", "InService")
    return status


# -- the three serving modes -------------------------------------------------------------------------


def test_on_demand_promotions_update_one_serving_deployment_in_place(session: LocalSession) -> None:
    assert _status(session, "serve-od")["serving_pointer"] == FOUNDATION_INVOKE  # the starting point
    first = _run(session, "serve-od", ROUND_1)
    assert first["decision"] == "promoted", first["reason"]
    assert first["serving_action"] == "create"  # the first promotion creates the serving deployment
    after_first = assert_only_serving_capacity_left(session, "serve-od")

    second = _run(session, "serve-od", ROUND_2)
    assert second["decision"] == "promoted", second["reason"]
    assert second["serving_action"] == "update"
    after_second = assert_only_serving_capacity_left(session, "serve-od")
    assert after_second["serving_model_id"] == after_first["serving_model_id"]  # same deployment
    assert after_second["champion_model"] == second["output_model_arn"]
    # The deployment now answers with the second model (the stand-in serves what it learned).
    answer = session.client("bedrock-runtime").converse(
        modelId=after_second["serving_pointer"],
        messages=[{"role": "user", "content": [{"text": "How do I reset my password?"}]}],
    )
    assert answer["output"]["message"]["content"][0]["text"]


def test_a_provisioned_promotion_updates_the_same_provisioned_model(session: LocalSession) -> None:
    first = _run(session, "serve-pt", ROUND_1)
    assert first["decision"] == "promoted", first["reason"]
    assert first["serving_action"] == "create"
    after_first = assert_only_serving_capacity_left(session, "serve-pt")
    [throughput] = _capacity_of(session, "serve-pt")
    assert throughput["kind"] == "provisioned" and throughput["model_units"] == 2

    second = _run(session, "serve-pt", ROUND_2)
    assert second["decision"] == "promoted", second["reason"]
    assert second["serving_action"] == "update"
    after_second = assert_only_serving_capacity_left(session, "serve-pt")
    assert after_second["serving_model_id"] == after_first["serving_model_id"] == throughput["arn"]
    [updated] = _capacity_of(session, "serve-pt")
    assert updated["model_arn"] == second["output_model_arn"] != throughput["model_arn"]
    # Evaluation never bought capacity with a commitment or kept a deployment.
    assert all(item["kind"] == "deployment" for row in (first, second) for item in row["evaluation_capacity"])


def test_mode_none_keeps_no_capacity_and_points_at_the_champion_model(session: LocalSession) -> None:
    first = _run(session, "serve-none", ROUND_1)
    assert first["decision"] == "promoted", first["reason"]
    assert first["serving_action"] == "none"
    status = assert_only_serving_capacity_left(session, "serve-none")
    assert status["serving_pointer"] == first["output_model_arn"] == status["champion_model"]

    # A changed evaluation set needs the champion's answers again: with nothing serving it, the round
    # deploys the champion for evaluation too, and deletes both deployments afterwards.
    changed = (EXAMPLES / "eval.jsonl").read_bytes() + (
        b'{"prompt": "Can I pay by bank transfer?", "referenceResponse": "Yes, under Billing.", '
        b'"category": "billing"}\n'
    )
    session.client("s3").put_object(
        Bucket=session.deployment.bucket_name, Key="evaluation-sets/serve-none/eval.jsonl", Body=changed
    )
    second = _run(session, "serve-none", ROUND_2)
    assert second["decision"] == "promoted", second["reason"]
    roles = sorted(item["role"] for item in second["evaluation_capacity"])
    assert roles == ["candidate", "champion"]
    assert_only_serving_capacity_left(session, "serve-none")


# -- nothing left behind, whichever way the round ends ------------------------------------------------


def _promoted_once(session: LocalSession, lineage: str) -> dict[str, Any]:
    row = _run(session, lineage, ROUND_1)
    assert row["decision"] == "promoted", row["reason"]
    return assert_only_serving_capacity_left(session, lineage)


def _unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    for key in ("champion_model", "champion_iteration", "serving_model_id", "serving_pointer"):
        assert after[key] == before[key], key


def test_a_rejected_candidate_leaves_only_the_serving_throughput(session: LocalSession) -> None:
    before = _promoted_once(session, "gone-reject")
    row = _run(session, "gone-reject", ROUND_1)  # the same data again: no improvement
    assert row["decision"] == "rejected", row["reason"]
    _unchanged(before, assert_only_serving_capacity_left(session, "gone-reject"))


def test_invalid_data_creates_nothing(session: LocalSession) -> None:
    before = _promoted_once(session, "gone-invalid")
    row = _run(session, "gone-invalid", b'{"broken\n')
    assert row["decision"] == "invalid_data"
    _unchanged(before, assert_only_serving_capacity_left(session, "gone-invalid"))


def test_a_failed_training_job_leaves_only_the_serving_deployment(session: LocalSession) -> None:
    before = _promoted_once(session, "gone-train")
    session.standin.fail_next_job("iterft-gone-train-", "Internal error: the training instance was lost")
    row = _run(session, "gone-train", ROUND_2)
    assert row["decision"] == "failed" and "training instance was lost" in row["reason"]
    _unchanged(before, assert_only_serving_capacity_left(session, "gone-train"))


def test_a_failed_evaluation_deletes_the_evaluation_capacity(session: LocalSession) -> None:
    before = _promoted_once(session, "gone-eval")
    session.standin.throttle_next("Converse", 1, error="ValidationException")
    row = _run(session, "gone-eval", ROUND_2)
    assert row["decision"] == "failed" and "ValidationException" in row["reason"], row["reason"]
    _unchanged(before, assert_only_serving_capacity_left(session, "gone-eval"))


def test_evaluation_capacity_that_fails_is_deleted(session: LocalSession) -> None:
    before = _promoted_once(session, "gone-deploy")
    session.standin.fail_next_capacity("gone-deploy-it0002", "Insufficient capacity for the model")
    row = _run(session, "gone-deploy", ROUND_2)
    assert row["decision"] == "failed" and "Insufficient capacity" in row["reason"], row["reason"]
    _unchanged(before, assert_only_serving_capacity_left(session, "gone-deploy"))


def test_serving_capacity_that_fails_on_the_first_promotion_is_deleted(session: LocalSession) -> None:
    session.standin.fail_next_capacity("gone-serve-serving", "Model units unavailable in this region")
    row = _run(session, "gone-serve", ROUND_1)
    assert row["decision"] == "failed" and "Model units unavailable" in row["reason"], row["reason"]
    status = assert_only_serving_capacity_left(session, "gone-serve")
    assert status["champion_iteration"] == 0 and status["serving_pointer"] == FOUNDATION_INVOKE


def test_a_capacity_quota_refusal_fails_the_round_and_leaves_nothing(session: LocalSession) -> None:
    session.standin.throttle_next(
        "CreateProvisionedModelThroughput", 1, error="ServiceQuotaExceededException"
    )
    row = _run(session, "gone-quota", ROUND_1)
    assert row["decision"] == "failed" and "ServiceQuotaExceededException" in row["reason"], row["reason"]
    status = assert_only_serving_capacity_left(session, "gone-quota")
    assert status["champion_iteration"] == 0


def test_an_approval_timeout_leaves_nothing(session: LocalSession) -> None:
    row = _run(session, "gone-timeout", ROUND_1)
    assert row["decision"] == "rejected" and row["approval"]["status"] == "timed_out"
    assert_only_serving_capacity_left(session, "gone-timeout")


# -- retention ----------------------------------------------------------------------------------------


def _custom_models(session: LocalSession) -> set[str]:
    return {
        model["modelArn"]
        for page in session.client("bedrock").get_paginator("list_custom_models").paginate()
        for model in page["modelSummaries"]
    }


def test_retention_deletes_rejected_candidates_and_keeps_the_newest_promoted(session: LocalSession) -> None:
    first = _run(session, "keep-one", ROUND_1)
    second = _run(session, "keep-one", ROUND_1)
    third = _run(session, "keep-one", ROUND_1)
    assert [row["decision"] for row in (first, second, third)] == ["promoted", "rejected", "rejected"]

    # Rejected candidates go as their round ends; they never push the promoted model out.
    models = _custom_models(session)
    assert first["output_model_arn"] in models  # the champion, and it serves
    assert second["output_model_arn"] not in models
    assert third["output_model_arn"] not in models
    rows = lineage_history(session.deployment, "keep-one")
    assert [row.get("model_deleted_at") is not None for row in rows] == [False, True, True]
    assert [row["rollback"] for row in rows] == ["champion", None, None]

    # A second promotion: keep_models 1 keeps the newest promoted model (the champion) only.
    fourth = _run(session, "keep-one", ROUND_2)
    assert fourth["decision"] == "promoted", fourth["reason"]
    assert first["output_model_arn"] not in _custom_models(session)
    rows = lineage_history(session.deployment, "keep-one")
    assert [row.get("model_deleted_at") is not None for row in rows] == [True, True, True, False]
    assert [row["rollback"] for row in rows] == ["deleted", None, None, "champion"]
    assert_only_serving_capacity_left(session, "keep-one")


# -- rollback -----------------------------------------------------------------------------------------


def test_rollback_serves_an_earlier_model_again_through_the_same_swap(session: LocalSession) -> None:
    first = _run(session, "rollback", ROUND_1)
    second = _run(session, "rollback", ROUND_2)
    assert [first["decision"], second["decision"]] == ["promoted", "promoted"]
    serving = _status(session, "rollback")["serving_model_id"]

    iteration = rollback_lineage(session.deployment, "rollback", 1, "a regression in production")
    session.wait_until_idle("rollback", timeout=TIMEOUT)

    row = lineage_history(session.deployment, "rollback")[-1]
    assert row["iteration"] == iteration == 3
    assert row["decision"] == "rolled_back", row["reason"]
    assert (row["rollback_of"], row["serving_action"]) == (1, "update")
    assert row["requested_by"] and "a regression in production" in row["reason"]
    status = assert_only_serving_capacity_left(session, "rollback")
    assert status["serving_model_id"] == serving  # the same deployment, updated in place
    assert (status["champion_iteration"], status["champion_model"]) == (1, first["output_model_arn"])
    assert status["champion_score"] == first["eval_score"]
    assert any("#3 rolled_back" in n["subject"] for n in session.notifications())


def test_a_rollback_that_cannot_be_done_is_refused_before_anything_changes(session: LocalSession) -> None:
    rows = lineage_history(session.deployment, "rollback")
    for to, expected in (
        (1, "already the champion"),
        (3, "never promoted"),
        (99, "has no iteration 99"),
    ):
        with pytest.raises(TargetError, match=expected):
            rollback_lineage(session.deployment, "rollback", to, "why not")
    assert lineage_history(session.deployment, "rollback") == rows
