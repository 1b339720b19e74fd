"""A Nova lineage served on demand, gated on Bedrock's judge metrics (issue 18, point 5).

Bedrock's evaluation jobs cannot invoke a custom model deployment, so the round gives a judged job the
answers its shards already collected, as precomputed inference: one job per model (the candidate's, the
starting point's), each with its own dataset of `modelResponses`. The stand-in's evaluator grades them
(docs/embedded-default.md); the pipeline reads the scores into the yardstick as `bedrock_correctness`,
`bedrock_helpfulness` and `bedrock_custom_grounded`, and the gate promotes on the first and guards the last.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from iterft_runtime.dal.storage import split_uri
from iterft_runtime.logic.managed_evaluation import is_output_key

from iterft.history import lineage_history, lineage_status
from iterft.local.session import LocalSession
from iterft.local.standin_evaluation import judged_builtin

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
LINEAGE = "judged-nova"
TIMEOUT = 90


def _run(session: LocalSession, name: str) -> dict[str, Any]:
    count = len(lineage_history(session.deployment, LINEAGE))
    session.upload(LINEAGE, (EXAMPLES / name).read_bytes(), name=f"upload-{count + 1}.jsonl")
    session.wait_until_idle(LINEAGE, timeout=TIMEOUT)
    rows = lineage_history(session.deployment, LINEAGE)
    assert len(rows) == count + 1
    return rows[-1]


def _objects(session: LocalSession, uri: str) -> dict[str, list[dict[str, Any]]]:
    bucket, prefix = split_uri(uri)
    s3 = session.client("s3")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return {
        key: [json.loads(line) for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()]
        for key in keys
    }


def test_a_nova_lineage_served_on_demand_is_gated_on_a_judge_metric(itest_session: LocalSession) -> None:
    session = itest_session
    session.put_evaluation_set(LINEAGE, EXAMPLES / "eval.jsonl")
    row = _run(session, "round-1-billing.jsonl")

    assert row["decision"] == "promoted", row["reason"]
    assert row["metric"] == "bedrock_correctness"
    judged = {"bedrock_correctness", "bedrock_helpfulness", "bedrock_custom_grounded"}
    assert (
        set(row["metrics"]) == set(row["champion_metrics"]) == {"exact_match", "rouge_l", "token_f1"} | judged
    )
    assert [verdict["rule"].split()[:2] for verdict in row["gate"]] == [
        ["primary", "bedrock_correctness"],
        ["guard", "bedrock_custom_grounded"],
    ]
    assert row["eval_score"] == row["metrics"]["bedrock_correctness"]["overall"]
    assert (
        row["metrics"]["bedrock_correctness"]["overall"]
        > row["champion_metrics"]["bedrock_correctness"]["overall"]
    )

    # Evaluated on an on-demand deployment, which no evaluation job can invoke: the jobs read precomputed
    # inference, one source each, the candidate's and the starting point's answers.
    [status] = lineage_status(session.deployment, LINEAGE)
    assert ":custom-model-deployment/" in status["serving_model_id"]
    bedrock = session.client("bedrock")
    jobs = {
        job["jobName"]: job
        for job in (bedrock.get_evaluation_job(jobIdentifier=arn) for arn in row["evaluation_job_arns"])
    }
    assert len(jobs) == 2
    for name, job in jobs.items():
        assert job["status"] == "Completed"
        assert job["inferenceConfig"]["models"] == [
            {"precomputedInferenceSource": {"inferenceSourceIdentifier": name}}
        ]
        automated = job["evaluationConfig"]["automated"]
        assert automated["evaluatorModelConfig"]["bedrockEvaluatorModels"] == [
            {"modelIdentifier": "amazon.nova-pro-v1:0"}
        ]
        assert [
            m["customMetricDefinition"]["name"] for m in automated["customMetricConfig"]["customMetrics"]
        ] == ["grounded"]

    # The per-record results: every judged score is the evaluator's grade of that very answer.
    bucket, key = split_uri(row["results_uri"])
    results = [
        json.loads(line)
        for line in session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    ]
    assert len(results) == 22
    for result in results:
        for side in ("candidate", "champion"):
            record = {"prompt": result["prompt"], "referenceResponse": result["reference"]}
            graded = judged_builtin("Builtin.Correctness", record, result[f"{side}_answer"])
            assert result[f"{side}_metrics"]["bedrock_correctness"] == graded
            assert 0.0 <= result[f"{side}_metrics"]["bedrock_custom_grounded"] <= 1.0
        assert result["candidate_score"] == result["candidate_metrics"]["bedrock_correctness"]
    # The starting point knows nothing ("I don't know." is no help); the candidate learned billing.
    assert {result["champion_metrics"]["bedrock_helpfulness"] for result in results} == {0.0}
    assert 1.0 in {
        r["candidate_metrics"]["bedrock_correctness"] for r in results if r["category"] == "billing"
    }

    # Each job's dataset is the set with that model's answers; its output grades exactly those.
    assert row["managed_results_uri"].endswith("/managed-evaluation/output/")
    outputs = _objects(session, row["managed_results_uri"].removesuffix("output/"))
    datasets = {k: v for k, v in outputs.items() if k.endswith("-answers.jsonl")}
    assert sorted(key.rsplit("/", 1)[1] for key in datasets) == [
        "candidate-answers.jsonl",
        "champion-answers.jsonl",
    ]
    candidate_name = next(name for name in jobs if not name.endswith("-champion-eval"))
    [candidate_dataset] = [v for k, v in datasets.items() if k.endswith("candidate-answers.jsonl")]
    assert [record["modelResponses"] for record in candidate_dataset] == [
        [{"response": result["candidate_answer"], "modelIdentifier": candidate_name}] for result in results
    ]
    graded = [
        line
        for key, lines in outputs.items()
        if is_output_key(key) and f"/{candidate_name}/" in key and "/models/" in key
        for line in lines
    ]
    assert [line["inputRecord"]["modelResponses"][0]["response"] for line in graded] == [
        result["candidate_answer"] for result in results
    ]

    # Nothing left but the serving deployment; no job running.
    assert [
        item["arn"] for item in session.bedrock_inventory() if item["name"].startswith(f"{LINEAGE}-")
    ] == [status["serving_model_id"]]
    assert [item for item in session.bedrock_inventory() if item["kind"] == "evaluation_job"] == []

    # Same set, same judge: the champion's judged scores are reused, only the candidate's job runs.
    second = _run(session, "round-2-storage-and-account.jsonl")
    assert second["decision"] in ("promoted", "rejected"), second["reason"]
    [second_job] = second["evaluation_job_arns"]
    assert bedrock.get_evaluation_job(jobIdentifier=second_job)["jobName"].endswith("-eval")
    assert "-champion-eval" not in bedrock.get_evaluation_job(jobIdentifier=second_job)["jobName"]
    assert second["champion_metrics"]["bedrock_correctness"] == row["metrics"]["bedrock_correctness"]
