"""Shared by the round-step tests (test_handlers_begin, _promote, _finish): state documents as the
workflow would pass them, built by running the earlier steps (the FakeBedrock fixture `fake` is in
round_fixtures.py, a plugin).

Bedrock customization jobs are moto's; Converse and deployments are the FakeBedrock at the dal
boundary.
"""

from __future__ import annotations

import json
from typing import Any

from iterft_runtime import naming
from iterft_runtime.handlers import begin, decide, swap_serving
from iterft_runtime.logic.dispatch import execution_input
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import DatasetRef
from runtime_support import BUCKET, LINEAGE, LINEAGE_CONFIG, Aws, FakeBedrock, aws_client, valid_dataset

DEPLOYMENTS = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/"
JOBS = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/"
CONFIG = LineageConfig.model_validate(LINEAGE_CONFIG)


def dispatched(aws: Aws, name: str = "batch.jsonl") -> dict[str, Any]:
    """Record and dispatch an upload through the registry; the execution input it would start with."""
    key = f"incoming/{LINEAGE}/{name}"
    put = aws.upload(key, valid_dataset())
    dataset = DatasetRef(
        BUCKET, key, put["VersionId"], put["ETag"].strip('"'), 10, "2026-03-01T10:00:00.000Z"
    )
    registry = aws.registry
    registry.ensure_state(CONFIG)
    registry.record_upload(LINEAGE, dataset)
    state, head = registry.get_state(LINEAGE), registry.queue_head(LINEAGE)
    assert state is not None and head is not None
    record = registry.try_dispatch(LINEAGE, state.next_iteration, head, "2026-03-01T10:00:01.000Z")
    assert record is not None
    return json.loads(json.dumps(execution_input(CONFIG, record.iteration, dataset)))


def validated(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        **doc,
        "validation": {
            "valid": True,
            "records": 10,
            "size_bytes": 1234,
            "training_data_uri": f"s3://{BUCKET}/{naming.validated_key(LINEAGE, doc['iteration'])}",
            "report_uri": None,
            "hyperparameters": {"epochCount": "2", "learningRate": "1e-05"},
            "reason": "10 records, no problems",
            "problem_counts": {},
            "problems": [],
        },
    }


def begun(doc: dict[str, Any]) -> dict[str, Any]:
    doc = validated(doc)
    return {**doc, "round": begin.handler(doc, None)}


def create_job(aws: Aws, doc: dict[str, Any]) -> dict[str, Any]:
    """The customization job the workflow's fine-tune state would create (moto's, stays InProgress)."""
    bedrock = aws.client("bedrock")
    bedrock.create_model_customization_job(
        jobName=doc["round"]["job_name"],
        customModelName=doc["round"]["custom_model_name"],
        roleArn="arn:aws:iam::123456789012:role/iterft-bedrock",
        baseModelIdentifier=doc["round"]["base_model"],
        trainingDataConfig={"s3Uri": doc["validation"]["training_data_uri"]},
        outputDataConfig={"s3Uri": doc["round"]["output_uri"]},
        hyperParameters=doc["round"]["hyperparameters"],
    )
    return dict(bedrock.get_model_customization_job(jobIdentifier=doc["round"]["job_name"]))


def metrics(primary: float, others: float = 0.5) -> dict[str, Any]:
    """What Evaluate reports: every metric overall and per category; token_f1 is the primary."""
    return {
        "token_f1": {"overall": primary, "by_category": {"billing": primary}},
        "exact_match": {"overall": others, "by_category": {"billing": others}},
        "rouge_l": {"overall": others, "by_category": {"billing": others}},
    }


RECORDS = 20
SET_VERSION = "00112233aabbccdd"


def per_record(mean: float, swing: float = 0.1) -> list[float]:
    """RECORDS scores averaging `mean`: alternately `swing` above and below it (within 0..1)."""
    swing = min(swing, mean, 1 - mean)
    return [mean + (swing if index % 2 else -swing) for index in range(RECORDS)]


def record_scores(
    lineage: str,
    model_iteration: int,
    scores: dict[str, list[float]],
    categories: list[str | None] | None = None,
) -> str:
    """Write one model's record-scores document (what Aggregate evaluation writes); its URI."""
    key = naming.record_scores_key(lineage, model_iteration, SET_VERSION)
    document = {
        "eval_set_version": SET_VERSION,
        "lines": list(range(1, RECORDS + 1)),
        "categories": categories or ["billing"] * RECORDS,
        "scores": scores,
        "overall": {name: sum(values) / len(values) for name, values in scores.items()},
    }
    aws_client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(document).encode())
    return f"s3://{BUCKET}/{key}"


def evaluated(
    doc: dict[str, Any],
    candidate: float,
    champion: float,
    *,
    candidate_records: dict[str, list[float]] | None = None,
    champion_records: dict[str, list[float]] | None = None,
) -> dict[str, Any]:
    """The round evaluated: its summary, and both models' per-record scores in S3. By default the two
    models' records swing alike around their means (every paired difference is the mean's: an interval of
    no width), the other metrics 0.5 each."""
    n = doc["iteration"]
    name = doc["lineage"]["name"]
    candidate_records = candidate_records or {
        "token_f1": per_record(candidate), "exact_match": per_record(0.5), "rouge_l": per_record(0.5)
    }  # fmt: skip
    champion_records = champion_records or {
        "token_f1": per_record(champion), "exact_match": per_record(0.5), "rouge_l": per_record(0.5)
    }  # fmt: skip
    return {
        **doc,
        "training": {
            "job_arn": f"{JOBS}{doc['round']['job_name']}",
            "output_model_arn": f"arn:aws:bedrock:us-east-1:123456789012:custom-model/{LINEAGE}-it{n}",
            "training_loss": 0.5,
            "validation_loss": 0.6,
        },
        "capacity": {
            "evaluation": [
                {
                    "kind": "deployment",
                    "name": doc["round"]["candidate_capacity_name"],
                    "arn": f"{DEPLOYMENTS}{doc['round']['candidate_capacity_name']}",
                    "model_arn": f"arn:aws:bedrock:us-east-1:123456789012:custom-model/{LINEAGE}-it{n}",
                    "role": "candidate",
                    "created_at": "2026-03-01T10:30:00.000Z",
                }
            ],
            "candidate_model": f"{DEPLOYMENTS}{doc['round']['candidate_capacity_name']}",
            "champion_model": None,
        },
        "evaluation": {
            "metric": "token_f1",
            "eval_set_version": SET_VERSION,
            "records": RECORDS,
            "candidate_score": candidate,
            "champion_score": champion,
            "champion_reused": False,
            "results_uri": f"s3://{BUCKET}/{naming.evaluation_results_key(LINEAGE, n)}",
            "metrics_uri": f"s3://{BUCKET}/{naming.evaluation_metrics_key(LINEAGE, n)}",
            "candidate_metrics": metrics(candidate),
            "champion_metrics": metrics(champion),
            "candidate_scores_uri": record_scores(name, n, candidate_records),
            "champion_scores_uri": record_scores(name, n - 1, champion_records),
        },
    }


def with_capacity(fake: FakeBedrock, doc: dict[str, Any]) -> dict[str, Any]:
    """The round's evaluation capacity exists (what Provision evaluation capacity created)."""
    for item in doc["capacity"]["evaluation"]:
        fake.capacity[item["arn"]] = item["model_arn"]
    return doc


def swapped(doc: dict[str, Any]) -> dict[str, Any]:
    """Through Prepare promotion and Swap serving model, as the workflow runs them before Promote."""
    evaluation = doc["evaluation"]
    doc = {
        **doc,
        "promotion": {
            "model_arn": doc["training"]["output_model_arn"],
            "score": evaluation["candidate_score"],
            "metrics": evaluation["candidate_metrics"],
            "eval_set_version": evaluation["eval_set_version"],
            "metric": evaluation["metric"],
            "decision": "promoted",
        },
    }
    return {**doc, "swap": swap_serving.handler(doc, None)}


def to_decide(
    lineage: dict[str, Any],
    candidate: dict[str, Any],
    champion: dict[str, Any],
    *,
    candidate_records: dict[str, list[float]] | None = None,
    champion_records: dict[str, list[float]] | None = None,
    categories: list[str | None] | None = None,
) -> dict[str, Any]:
    """Decide's input: a round of iteration 2 whose evaluation measured these metrics, both models'
    per-record scores written to S3 (by default swinging alike around each overall score)."""
    candidate_records = candidate_records or {name: per_record(m["overall"]) for name, m in candidate.items()}
    champion_records = champion_records or {name: per_record(m["overall"]) for name, m in champion.items()}
    return {
        "kind": "round",
        "lineage": lineage,
        "iteration": 2,
        "evaluation": {
            "metric": "token_f1",
            "eval_set_version": SET_VERSION,
            "records": RECORDS,
            "candidate_score": candidate["token_f1"]["overall"],
            "champion_score": champion["token_f1"]["overall"],
            "champion_reused": False,
            "results_uri": f"s3://{BUCKET}/results.jsonl",
            "metrics_uri": f"s3://{BUCKET}/metrics.json",
            "candidate_metrics": candidate,
            "champion_metrics": champion,
            "candidate_scores_uri": record_scores(lineage["name"], 2, candidate_records, categories),
            "champion_scores_uri": record_scores(lineage["name"], 1, champion_records, categories),
        },
    }


def pointer(aws: Aws) -> str:
    name = naming.serving_parameter_name("iterft-test", LINEAGE)
    return str(aws.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])


LAMBDA_ERROR = {
    "Error": "EvaluationSetMissingError",
    "Cause": json.dumps(
        {"errorMessage": "no evaluation set at s3://b/k", "errorType": "EvaluationSetMissingError"}
    ),
}


def decided_round(aws: Aws, name: str, candidate: float, champion: float) -> dict[str, Any]:
    """A round through Decide (and Promote when it passed), ready for Finish."""
    doc = evaluated(begun(dispatched(aws, name)), candidate=candidate, champion=champion)
    doc["decision"] = decide.handler(doc, None)
    doc["outcome"] = {"decision": doc["decision"]["decision"], "reason": doc["decision"]["reason"]}
    return doc


def published_metrics(output: str) -> list[dict[str, Any]]:
    """The embedded-metric-format documents a handler wrote to stdout (what CloudWatch turns into metrics)."""
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


PRICES = {"training_usd_per_1k_tokens": 0.008, "evaluation_capacity_usd_per_hour": 2.0}


def priced(doc: dict[str, Any], tokens: int = 10_000) -> dict[str, Any]:
    """The round of a lineage with prices set, whose dataset was estimated at `tokens`."""
    doc = {**doc, "lineage": {**doc["lineage"], "cost": PRICES}}
    if "validation" in doc:
        doc["validation"] = {**doc["validation"], "estimated_tokens": tokens}
    return doc
