"""Bedrock's managed evaluation job on the embedded default (`evaluation.managed_job`).

The stand-in runs the job as Bedrock would (it invokes the models by the identifiers the job names,
scores each prompt and writes Bedrock's output layout; its scores are stand-ins, see
docs/embedded-default.md); the pipeline starts the job beside the shards, waits for it, and takes its
per-prompt scores into the yardstick as `bedrock_*` metrics, which the gate reads like any other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from iterft_runtime.dal.storage import split_uri
from iterft_runtime.logic.managed_evaluation import is_output_key

from iterft.history import lineage_history, lineage_status
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
TIMEOUT = 90


def _prompt_completion(name: str) -> bytes:
    """An example round in the prompt-completion format the lineages' Titan family trains on."""
    lines = []
    for line in (EXAMPLES / name).read_text().splitlines():
        messages = json.loads(line)["messages"]
        lines.append(
            json.dumps(
                {"prompt": messages[0]["content"][0]["text"], "completion": messages[1]["content"][0]["text"]}
            )
        )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> Iterator[LocalSession]:
    for lineage in ("managed", "managed-fail", "managed-stop"):
        itest_session.put_evaluation_set(lineage, EXAMPLES / "eval.jsonl")
    yield itest_session
    itest_session.standin.set_evaluation_job_polls_in_progress(0)


def _run(session: LocalSession, lineage: str, body: bytes) -> dict[str, Any]:
    count = len(lineage_history(session.deployment, lineage))
    session.upload(lineage, body, name=f"upload-{count + 1}.jsonl")
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    rows = lineage_history(session.deployment, lineage)
    assert len(rows) == count + 1
    return rows[-1]


def _job(session: LocalSession, job_arn: str) -> dict[str, Any]:
    return session.client("bedrock").get_evaluation_job(jobIdentifier=job_arn)


def _output_records(session: LocalSession, uri: str) -> list[dict[str, Any]]:
    bucket, prefix = split_uri(uri)
    s3 = session.client("s3")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return [
        json.loads(line)
        for key in keys
        if is_output_key(key)
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    ]


def _running_jobs(session: LocalSession, lineage: str) -> list[dict[str, Any]]:
    return [
        item
        for item in session.bedrock_inventory()
        if item["kind"] == "evaluation_job" and item["name"].startswith(f"iterft-{lineage}-")
    ]


def test_a_lineage_is_gated_on_the_managed_jobs_scores(session: LocalSession) -> None:
    row = _run(session, "managed", _prompt_completion("round-1-billing.jsonl"))

    assert row["decision"] == "promoted", row["reason"]
    assert row["metric"] == "bedrock_accuracy"
    managed = {"bedrock_accuracy", "bedrock_robustness", "bedrock_non_toxicity"}
    assert (
        set(row["metrics"])
        == set(row["champion_metrics"])
        == {"exact_match", "rouge_l", "token_f1"} | managed
    )
    assert [verdict["rule"].split()[:2] for verdict in row["gate"]] == [
        ["primary", "bedrock_accuracy"],
        ["guard", "bedrock_non_toxicity"],
        ["guard", "token_f1"],
    ]
    # An automated job evaluates one model: the candidate's, and the starting point's (its foundation model).
    jobs = {job["jobName"]: job for job in (_job(session, arn) for arn in row["evaluation_job_arns"])}
    assert {name.rsplit("-it0001-", 1)[1].split("-", 1)[1] for name in jobs} == {"eval", "champion-eval"}
    for name, job in jobs.items():
        assert job["status"] == "Completed"
        [model] = [m["bedrockModel"]["modelIdentifier"] for m in job["inferenceConfig"]["models"]]
        champion = name.endswith("-champion-eval")
        # The starting point by its on-demand id: Titan Text's has no `:0` (docs/capabilities.md).
        assert model == "amazon.titan-text-express-v1" if champion else ":provisioned-model/" in model
        # The recorded metrics are the job's own per-prompt scores, summarized: recompute them from its files.
        records = _output_records(session, f"{row['managed_results_uri']}{name}/")
        accuracy = [
            score["result"]
            for record in records
            for score in record["automatedEvaluationResult"]["scores"]
            if score["metricName"] in ("Accuracy", "Builtin.Accuracy")
        ]
        assert len(records) == len(accuracy) == 22
        side = "champion_metrics" if champion else "metrics"
        assert row[side]["bedrock_accuracy"]["overall"] == pytest.approx(sum(accuracy) / len(accuracy))
    assert (
        row["metrics"]["bedrock_accuracy"]["overall"] > row["champion_metrics"]["bedrock_accuracy"]["overall"]
    )
    assert row["metrics"]["bedrock_accuracy"]["by_category"]["billing"] > 0.5

    # The per-record results carry the job's scores beside the pipeline's own.
    bucket, key = split_uri(row["results_uri"])
    results = [
        json.loads(line)
        for line in session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    ]
    assert all(managed <= set(result["candidate_metrics"]) for result in results)
    assert [result["candidate_score"] for result in results] == [
        result["candidate_metrics"]["bedrock_accuracy"] for result in results
    ]

    # Nothing left but the serving throughput; no job running.
    [status] = lineage_status(session.deployment, "managed")
    assert status["champion_iteration"] == 1
    assert [item["arn"] for item in session.bedrock_inventory() if item["name"].startswith("managed-")] == [
        status["serving_model_id"]
    ]
    assert _running_jobs(session, "managed") == []

    # The champion's job scores are reused on the same set: the next round runs the candidate's job only.
    second = _run(session, "managed", _prompt_completion("round-2-storage-and-account.jsonl"))
    assert second["decision"] in ("promoted", "rejected"), second["reason"]
    [second_job] = [_job(session, arn) for arn in second["evaluation_job_arns"]]
    assert "-it0002-" in second_job["jobName"] and not second_job["jobName"].endswith("-champion-eval")
    assert second["champion_metrics"]["bedrock_accuracy"] == row["metrics"]["bedrock_accuracy"]


def test_a_failed_evaluation_job_fails_the_round_and_leaves_nothing(session: LocalSession) -> None:
    session.standin.fail_next_evaluation_job(
        "iterft-managed-fail-", "Model invocation failed: internal error"
    )
    row = _run(session, "managed-fail", _prompt_completion("round-1-billing.jsonl"))

    assert row["decision"] == "failed"
    assert "EvaluationJobFailed" in row["reason"] or "ended Failed" in row["reason"], row["reason"]
    assert "Model invocation failed: internal error" in row["reason"]
    [status] = lineage_status(session.deployment, "managed-fail")
    assert status["champion_iteration"] == 0 and status["running_iteration"] is None
    assert [item for item in session.bedrock_inventory() if item["name"].startswith("managed-fail-")] == []


def test_a_round_that_fails_while_its_job_runs_stops_the_job(session: LocalSession) -> None:
    session.standin.set_evaluation_job_polls_in_progress(10_000)
    session.standin.throttle_next("Converse", 1, error="ValidationException")
    try:
        row = _run(session, "managed-stop", _prompt_completion("round-1-billing.jsonl"))
    finally:
        session.standin.set_evaluation_job_polls_in_progress(0)

    assert row["decision"] == "failed" and "ValidationException" in row["reason"], row["reason"]
    # Both jobs (candidate and starting point) stopped by Clean up: no longer in progress (Stopping until
    # Bedrock has wound them down).
    assert {job["status"] for job in _running_jobs(session, "managed-stop")} <= {"Stopping"}
    jobs = session.client("bedrock").list_evaluation_jobs(nameContains="iterft-managed-stop-")["jobSummaries"]
    assert len(jobs) == 2 and {job["status"] for job in jobs} <= {"Stopping", "Stopped"}
    assert [item for item in session.bedrock_inventory() if item["name"].startswith("managed-stop-")] == []
