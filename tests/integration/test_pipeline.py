"""The synthesized workflow, executed end to end on the embedded default.

Every upload goes through the deployed trigger chain (S3 -> EventBridge -> SQS -> trigger
Lambda -> Step Functions); the assertions read the registry, S3, the Bedrock stand-in and
the notifications, as an operator would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from iterft_runtime import naming

from iterft.history import lineage_history, lineage_status
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
FOUNDATION = "amazon.nova-micro-v1:0:128k"
TIMEOUT = 60


def _history(session: LocalSession, lineage: str) -> list[dict]:
    return lineage_history(session.deployment, lineage)


def _run(
    session: LocalSession, lineage: str, *files: str | bytes, metadata: dict | None = None
) -> list[dict]:
    for file in files:
        body = file if isinstance(file, bytes) else (EXAMPLES / file).read_bytes()
        name = "inline.jsonl" if isinstance(file, bytes) else file
        session.upload(lineage, body, name=name, metadata=metadata)
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    return _history(session, lineage)


def _jobs_of(session: LocalSession, lineage: str) -> list[dict]:
    jobs = session.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"]
    return [job for job in jobs if job["jobName"].startswith(f"iterft-{lineage}-")]


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    for lineage in itest_session.config.lineages:
        itest_session.put_evaluation_set(lineage.name, EXAMPLES / "eval.jsonl")
    return itest_session


def test_a_better_candidate_is_promoted_and_becomes_the_champion(session: LocalSession) -> None:
    [row] = _run(session, "promote", "round-1-billing.jsonl")

    assert row["decision"] == "promoted", row["reason"]
    assert row["base_model"] == FOUNDATION
    assert row["eval_score"] >= row["champion_score"] + row["min_improvement"]
    assert row["training_loss"] > 0 and row["validation_loss"] > 0
    assert row["job_arn"] and row["output_model_arn"] and row["eval_set_version"]
    assert row["records"] == 16
    assert row["size_bytes"] == (EXAMPLES / "round-1-billing.jsonl").stat().st_size
    [status] = lineage_status(session.deployment, "promote")
    assert status["champion_model"] == row["output_model_arn"]
    assert status["champion_score"] == row["eval_score"]
    assert status["serving_model_id"] is not None
    assert status["running_iteration"] is None


def test_a_worse_candidate_is_rejected_and_the_next_round_builds_on_the_champion(
    session: LocalSession,
) -> None:
    rows = _run(
        session,
        "reject",
        "round-1-billing.jsonl",
        "round-2-storage-and-account.jsonl",
        "round-3-legacy-helpdesk-export.jsonl",
        "round-4-more-phrasings.jsonl",
    )

    assert [row["decision"] for row in rows[:3]] == ["promoted", "promoted", "rejected"], rows
    worse = rows[2]
    assert worse["eval_score"] < worse["champion_score"]
    assert "below" in worse["reason"] or "worse" in worse["reason"], worse["reason"]
    # Round 4 starts from round 2's model: the rejected candidate never became the champion.
    assert rows[3]["base_model"] == rows[1]["output_model_arn"]
    assert rows[3]["champion_score"] == rows[1]["eval_score"]
    # Evaluation deployments of rejected candidates are deleted; only the champion serves.
    deployments = session.client("bedrock").list_custom_model_deployments()["modelDeploymentSummaries"]
    serving = {
        d["customModelDeploymentArn"] for d in deployments if "reject-" in d["customModelDeploymentName"]
    }
    [status] = lineage_status(session.deployment, "reject")
    assert serving == {status["serving_model_id"]}


def test_an_invalid_dataset_is_quarantined_with_a_report_and_starts_no_job(session: LocalSession) -> None:
    bad = (EXAMPLES / "round-1-billing.jsonl").read_bytes() + b'{"not": "a conversation"}\n{broken\n'
    [row] = _run(session, "invalid", bad)

    assert row["decision"] == "invalid_data"
    assert (
        row["report_uri"]
        == f"s3://{session.deployment.bucket_name}/{naming.validation_report_key('invalid', 1)}"
    )
    assert "missing_key" in row["reason"] and "invalid_json" in row["reason"]
    assert _jobs_of(session, "invalid") == []
    report_key = naming.validation_report_key("invalid", 1)
    report = json.loads(
        session.client("s3").get_object(Bucket=session.deployment.bucket_name, Key=report_key)["Body"].read()
    )
    assert report["valid"] is False
    assert {(p["line"], p["code"]) for p in report["problems"]} >= {(17, "missing_key"), (18, "invalid_json")}
    quarantined = naming.quarantine_key("invalid", 1, "incoming/invalid/inline.jsonl")
    session.client("s3").head_object(Bucket=session.deployment.bucket_name, Key=quarantined)
    assert any("invalid" in n["subject"] for n in session.notifications())


def test_a_failed_training_job_leaves_the_champion_and_releases_the_lock(session: LocalSession) -> None:
    session.standin.fail_next_job("iterft-failing-", "Internal error: the training instance was lost")
    [row] = _run(session, "failing", "round-1-billing.jsonl")

    assert row["decision"] == "failed"
    assert "training instance was lost" in row["reason"]
    [status] = lineage_status(session.deployment, "failing")
    assert status["champion_model"] == FOUNDATION and status["champion_iteration"] == 0
    assert status["running_iteration"] is None
    [notice] = [n for n in session.notifications() if "failing" in n["subject"]]
    assert "failed" in notice["subject"] and "training instance was lost" in notice["message"]
    # The lineage is usable again: the next upload runs and is promoted.
    rows = _run(session, "failing", "round-1-billing.jsonl")
    assert rows[1]["decision"] == "promoted" and rows[1]["base_model"] == FOUNDATION


def test_a_round_without_an_evaluation_set_fails_before_anything_is_trained(session: LocalSession) -> None:
    s3 = session.client("s3")
    s3.delete_object(Bucket=session.stack.data_bucket, Key=naming.evaluation_set_key("no-yardstick"))
    [row] = _run(session, "no-yardstick", "round-1-billing.jsonl")

    assert row["decision"] == "failed"
    assert f"no evaluation set at s3://{session.stack.data_bucket}/" in row["reason"], row["reason"]
    assert _jobs_of(session, "no-yardstick") == []  # nothing trained, nothing paid for
    assert [item for item in session.bedrock_inventory() if item["name"].startswith("no-yardstick-")] == []
    [notice] = [n for n in session.notifications() if "no-yardstick" in n["subject"]]
    assert "failed" in notice["subject"] and "no evaluation set" in notice["message"]
    # With its set in place, the lineage's next upload runs.
    session.put_evaluation_set("no-yardstick", EXAMPLES / "eval.jsonl")
    rows = _run(session, "no-yardstick", "round-1-billing.jsonl")
    assert rows[1]["decision"] == "promoted", rows[1]["reason"]


def test_the_same_s3_event_delivered_twice_yields_one_iteration(session: LocalSession) -> None:
    session.upload("duplicate", (EXAMPLES / "round-1-billing.jsonl").read_bytes(), name="once.jsonl")
    session.redeliver_last_event("duplicate")
    session.redeliver_last_event("duplicate")
    session.wait_until_idle("duplicate", timeout=TIMEOUT)

    rows = _history(session, "duplicate")
    assert len(rows) == 1 and rows[0]["decision"] == "promoted"
    assert len(_jobs_of(session, "duplicate")) == 1


def test_two_uploads_at_once_run_in_order_the_second_on_the_first_outcome(session: LocalSession) -> None:
    rows = _run(session, "queued", "round-1-billing.jsonl", "round-2-storage-and-account.jsonl")

    assert [row["iteration"] for row in rows] == [1, 2]
    assert [row["dataset"].split("/")[-1].split("?")[0] for row in rows] == [
        "round-1-billing.jsonl",
        "round-2-storage-and-account.jsonl",
    ]
    assert rows[0]["decision"] == "promoted"
    assert rows[1]["base_model"] == rows[0]["output_model_arn"]
    assert rows[1]["champion_score"] == rows[0]["eval_score"]
    assert rows[0]["ended_at"] <= rows[1]["started_at"]


def test_an_out_of_range_hyperparameter_override_rejects_the_round_before_any_job(
    session: LocalSession,
) -> None:
    [row] = _run(session, "overrides", "round-1-billing.jsonl", metadata={"hp-epochCount": "9"})

    assert row["decision"] == "rejected"
    assert "epochCount=9" in row["reason"]
    assert _jobs_of(session, "overrides") == []

    rows = _run(session, "overrides", "round-2-storage-and-account.jsonl", metadata={"hp-epochcount": "3"})
    assert rows[1]["decision"] == "promoted"
    assert rows[1]["hyperparameters"]["epochCount"] == "3"


def test_a_deployment_that_never_becomes_active_fails_the_round_and_is_deleted(session: LocalSession) -> None:
    session.standin.set_deployment_polls_creating(10_000)
    try:
        [row] = _run(session, "stuck", "round-1-billing.jsonl")
    finally:
        session.standin.set_deployment_polls_creating(1)

    assert row["decision"] == "failed"
    assert "CapacityTimeout" in row["reason"] and "is Creating" in row["reason"], row["reason"]
    deployments = session.client("bedrock").list_custom_model_deployments()["modelDeploymentSummaries"]
    assert [d for d in deployments if d["customModelDeploymentName"].startswith("stuck-")] == []
    [status] = lineage_status(session.deployment, "stuck")
    assert status["running_iteration"] is None and status["champion_model"] == FOUNDATION
