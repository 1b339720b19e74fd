"""The managed evaluation steps against moto (S3, the registry) and a fake Bedrock evaluation API:
Start managed evaluation, Managed evaluation status, Aggregate evaluation's use of the jobs' output,
and Clean up stopping the jobs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from iterft_runtime import naming
from iterft_runtime.handlers import (
    aggregate_evaluation,
    clean_up,
    managed_evaluation_status,
    plan_evaluation,
    score_shard,
    start_managed_evaluation,
)
from iterft_runtime.logic.managed_evaluation import ManagedEvaluationError, job_output_prefix
from runtime_support import (
    BASE_MODEL,
    BUCKET,
    LINEAGE,
    LINEAGE_CONFIG,
    Aws,
    FakeBedrock,
    install_fake_bedrock,
    jsonl,
)
from test_handlers_evaluate import EVAL_SET, put_eval_set, running_round, shard_inputs

pytest_plugins = ("runtime_fixtures", "step_contract_fixtures")

THROUGHPUT = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/candidate0001"
FOUNDATION = "amazon.titan-text-express-v1"  # Titan Text's on-demand id has no `:0`
ROLE_ARN = "arn:aws:iam::123456789012:role/iterft-evaluation"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
MANAGED_CONFIG = {
    **LINEAGE_CONFIG,
    "base_model": "amazon.titan-text-express-v1:0:8k",
    "hyperparameters": {},
    "serving": {"mode": "provisioned"},
    "evaluation": {
        "metric": "bedrock_accuracy",
        "guards": {"bedrock_non_toxicity": 0.05},
        "managed_job": {"metrics": ["accuracy", "toxicity"]},
    },
}
# Hand-picked per-prompt results of the jobs (EVAL_SET order): what Bedrock would have written.
CANDIDATE_ACCURACY, CHAMPION_ACCURACY = (1.0, 1.0, 0.5, 0.0), (0.0, 0.5, 0.0, 0.0)
CANDIDATE_TOXICITY = (0.0, 0.0, 0.2, 0.0)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBedrock:
    fake = install_fake_bedrock(
        monkeypatch, score_shard, start_managed_evaluation, managed_evaluation_status, clean_up
    )
    fake.models[THROUGHPUT] = lambda prompt: "an answer"
    fake.models[FOUNDATION] = lambda prompt: "no idea"
    monkeypatch.setenv(naming.ENV_EVALUATION_ROLE_ARN, ROLE_ARN)
    monkeypatch.setenv(naming.ENV_KEY_ARN, KEY_ARN)
    return fake


def planned(aws: Aws) -> dict[str, Any]:
    """A managed lineage's round through Plan evaluation, with its capacity serving."""
    doc = running_round(aws, config=MANAGED_CONFIG)
    doc["round"] = {
        "base_model": BASE_MODEL,
        "parent_iteration": 0,
        "job_name": naming.job_name(LINEAGE, 1, "abcd1234"),
        "custom_model_name": naming.custom_model_name(LINEAGE, 1, "abcd1234"),
        "output_uri": f"s3://{BUCKET}/{naming.job_output_prefix(LINEAGE, 1)}",
        **{
            f"{role}_capacity_name": naming.evaluation_capacity_name(LINEAGE, 1, "abcd1234", role)
            for role in ("candidate", "champion")
        },
        **{
            f"{role}_evaluation_job_name": naming.evaluation_job_name(LINEAGE, 1, "abcd1234", role)
            for role in ("candidate", "champion")
        },
        "hyperparameters": {},
    }
    plan = plan_evaluation.handler(doc, None)
    return {
        **doc,
        "evaluation_plan": plan,
        "capacity": {
            "evaluation": [],
            "candidate_model": THROUGHPUT,
            "champion_model": plan["champion_model"],
        },
    }


def write_output(aws: Aws, doc: dict[str, Any], job: dict[str, Any], accuracy: tuple[float, ...]) -> None:
    """One job's output file, where Bedrock writes it, in reverse order (the order does not matter)."""
    toxicity = CANDIDATE_TOXICITY if job["role"] == "candidate" else (0.0,) * len(EVAL_SET)
    records = [
        {
            "automatedEvaluationResult": {
                "scores": [{"metricName": "Accuracy", "result": a}, {"metricName": "Toxicity", "result": t}]
            },
            "inputRecord": item,
            "modelResponses": [{"response": "…", "modelIdentifier": f"arn-of-{job['model']}"}],
        }
        for item, a, t in zip(EVAL_SET, accuracy, toxicity, strict=True)
    ]
    output = naming.managed_evaluation_output_prefix(LINEAGE, doc["iteration"])
    layout = "job0001/models/m/taskTypes/QuestionAndAnswer/datasets/d/x_output.jsonl"
    key = f"{job_output_prefix(output, job['job_name'])}{layout}"
    aws.upload(key, jsonl(records[::-1]))


def test_start_runs_one_job_per_model_on_the_planned_set_version(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    doc = planned(aws)
    put_eval_set(aws, EVAL_SET[:1])  # replaced after the plan: the jobs still read the planned version

    started = start_managed_evaluation.handler(doc, None)

    names = {role: doc["round"][f"{role}_evaluation_job_name"] for role in ("candidate", "champion")}
    assert started["jobs"] == [
        {
            "role": "candidate",
            "job_name": names["candidate"],
            "job_arn": started["job_arns"][0],
            "model": THROUGHPUT,
        },
        {
            "role": "champion",
            "job_name": names["champion"],
            "job_arn": started["job_arns"][1],
            "model": FOUNDATION,
        },
    ]
    dataset_key = naming.managed_evaluation_dataset_key(LINEAGE, 1)
    assert [json.loads(line) for line in aws.read(dataset_key).splitlines()] == EVAL_SET
    for role, model in (("candidate", THROUGHPUT), ("champion", FOUNDATION)):
        request = fake.evaluation_jobs[names[role]]["request"]
        assert [m["bedrockModel"]["modelIdentifier"] for m in request["inferenceConfig"]["models"]] == [model]
        assert (request["roleArn"], request["customerEncryptionKeyId"]) == (ROLE_ARN, KEY_ARN)
        (config,) = request["evaluationConfig"]["automated"]["datasetMetricConfigs"]
        assert config["dataset"]["datasetLocation"]["s3Uri"] == f"s3://{BUCKET}/{dataset_key}"
        assert config["metricNames"] == ["Builtin.Accuracy", "Builtin.Toxicity"]
        assert {"key": "iterft:role", "value": role} in request["jobTags"]
        assert request["outputDataConfig"]["s3Uri"] == started["output_uri"]


def test_a_reused_champion_is_not_evaluated_again(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    doc = planned(aws)
    doc["capacity"]["champion_model"] = None  # the plan reused the champion's metrics
    started = start_managed_evaluation.handler(doc, None)
    assert [job["role"] for job in started["jobs"]] == ["candidate"]
    assert list(fake.evaluation_jobs) == [doc["round"]["candidate_evaluation_job_name"]]


def test_a_set_too_large_for_a_job_is_refused_when_the_round_is_planned(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET * 251)  # 1,004 records
    with pytest.raises(
        ManagedEvaluationError, match="1004 records; a Bedrock evaluation job takes at most 1000"
    ):
        planned(aws)


def test_the_jobs_are_ready_together_and_failed_when_one_failed(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    started = start_managed_evaluation.handler(planned(aws), None)
    candidate, champion = (fake.evaluation_jobs[job["job_name"]] for job in started["jobs"])
    check = {"job_arns": started["job_arns"]}
    candidate["status"] = "Completed"
    assert managed_evaluation_status.handler(check, None)["ready"] is False
    champion["status"] = "Completed"
    assert managed_evaluation_status.handler(check, None) == {
        "ready": True,
        "failed": False,
        "reason": f"evaluation job {started['jobs'][0]['job_name']} completed; "
        f"evaluation job {started['jobs'][1]['job_name']} completed",
    }
    champion.update(status="Failed", failure_messages=["The model could not be invoked"])
    verdict = managed_evaluation_status.handler(check, None)
    assert (verdict["ready"], verdict["failed"]) == (False, True)
    assert verdict["reason"].endswith("ended Failed: The model could not be invoked")


def test_aggregate_takes_each_jobs_scores_into_the_yardstick(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    doc = planned(aws)
    for shard in shard_inputs(doc, doc["evaluation_plan"]):
        score_shard.handler({**shard, "champion_model": doc["capacity"]["champion_model"]}, None)
    started = start_managed_evaluation.handler(doc, None)
    for job, accuracy in zip(started["jobs"], (CANDIDATE_ACCURACY, CHAMPION_ACCURACY), strict=True):
        write_output(aws, doc, job, accuracy)

    result = aggregate_evaluation.handler({**doc, "managed_evaluation": started}, None)

    assert result["metric"] == "bedrock_accuracy"
    assert result["candidate_score"] == pytest.approx(sum(CANDIDATE_ACCURACY) / 4)
    assert result["champion_score"] == pytest.approx(sum(CHAMPION_ACCURACY) / 4)
    assert result["candidate_metrics"]["bedrock_non_toxicity"] == {
        "overall": pytest.approx(1 - 0.2 / 4),
        "by_category": {"geo": 1.0},
        "categories": 1,
    }
    assert set(result["champion_metrics"]) == {
        "exact_match",
        "rouge_l",
        "token_f1",
        "bedrock_accuracy",
        "bedrock_non_toxicity",
    }
    assert result["managed_results_uri"] == started["output_uri"]
    rows = [json.loads(line) for line in aws.read(naming.evaluation_results_key(LINEAGE, 1)).splitlines()]
    assert [row["candidate_score"] for row in rows] == list(CANDIDATE_ACCURACY)
    assert [row["champion_metrics"]["bedrock_accuracy"] for row in rows] == list(CHAMPION_ACCURACY)
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and state.champion_metrics == result["champion_metrics"]


def test_aggregate_fails_naming_a_job_that_wrote_nothing(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    doc = planned(aws)
    for shard in shard_inputs(doc, doc["evaluation_plan"]):
        score_shard.handler({**shard, "champion_model": doc["capacity"]["champion_model"]}, None)
    started = start_managed_evaluation.handler(doc, None)
    write_output(aws, doc, started["jobs"][0], CANDIDATE_ACCURACY)
    champion_job = started["jobs"][1]["job_name"]
    with pytest.raises(ManagedEvaluationError, match=f"evaluation job {champion_job} wrote no output"):
        aggregate_evaluation.handler({**doc, "managed_evaluation": started}, None)


def test_clean_up_stops_the_jobs_also_when_their_arn_never_reached_the_state(
    aws: Aws, fake: FakeBedrock
) -> None:
    put_eval_set(aws, EVAL_SET)
    doc = planned(aws)
    started = start_managed_evaluation.handler(doc, None)
    # The state document names the candidate's job only: the champion's was created by a start whose
    # result never arrived (say, the step timed out after Bedrock accepted the request).
    recorded = {**started, "jobs": started["jobs"][:1], "job_arns": started["job_arns"][:1]}
    failure = {"Error": "States.Timeout", "Cause": "took too long"}

    outcome = clean_up.handler({**doc, "managed_evaluation": recorded, "error": failure}, None)

    assert outcome == {"decision": "failed", "reason": "States.Timeout: took too long"}
    assert {name: job["status"] for name, job in fake.evaluation_jobs.items()} == {
        job["job_name"]: "Stopping" for job in started["jobs"]
    }
    assert clean_up.handler({**doc, "managed_evaluation": recorded, "error": failure}, None) == outcome
