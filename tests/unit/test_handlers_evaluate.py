"""Evaluate candidate: both models on the same fixed set; the champion's score reused only when valid."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from iterft_runtime import naming
from iterft_runtime.dal.clients import client
from iterft_runtime.handlers import evaluate
from iterft_runtime.logic.evaluation import EvaluationSetError
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import DatasetRef
from runtime_support import (
    BUCKET,
    LINEAGE,
    LINEAGE_CONFIG,
    Aws,
    FakeBedrock,
    install_fake_bedrock,
    jsonl,
)

CANDIDATE = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/support-bot-it0001-eval"
FOUNDATION = "amazon.nova-micro-v1:0"
EVAL_SET = [
    {"prompt": "capital of france?", "referenceResponse": "paris", "category": "geo"},
    {"prompt": "two plus two?", "referenceResponse": "four"},
    {"prompt": "color of the sky?", "referenceResponse": "blue sky"},
    {"prompt": "largest planet?", "referenceResponse": "jupiter"},
]
ANSWERS = {item["prompt"]: item["referenceResponse"] for item in EVAL_SET}

pytest_plugins = ("runtime_fixtures",)


def knows(fraction: int) -> Any:
    """A model that answers the first `fraction` prompts right and the rest wrong."""
    right = {item["prompt"] for item in EVAL_SET[:fraction]}
    return lambda prompt: ANSWERS[prompt] if prompt in right else "no idea"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBedrock:
    fake = install_fake_bedrock(monkeypatch, evaluate)
    fake.models[CANDIDATE] = knows(3)
    fake.models[FOUNDATION] = knows(1)
    return fake


def running_round(aws: Aws, iteration: int = 1, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """STATE with iteration `iteration` holding the lock, and the state document Evaluate receives."""
    lineage = LineageConfig.model_validate(config or LINEAGE_CONFIG)
    registry = aws.registry
    registry.ensure_state(lineage)
    dataset = DatasetRef(
        BUCKET, f"incoming/{LINEAGE}/{iteration}.jsonl", "v1", "e", 1, f"2026-03-0{iteration}"
    )
    registry.record_upload(lineage.name, dataset)
    state, head = registry.get_state(lineage.name), registry.queue_head(lineage.name)
    assert state is not None and head is not None and state.next_iteration == iteration
    assert registry.try_dispatch(lineage.name, iteration, head, "t") is not None
    return {
        "lineage": lineage.model_dump(mode="json"),
        "iteration": iteration,
        "dataset": dataset.to_dict(),
        "candidate_deployment": {"arn": CANDIDATE, "status": "Active"},
    }


def put_eval_set(aws: Aws, items: list[dict[str, Any]]) -> str:
    body = jsonl(items)
    aws.upload(naming.evaluation_set_key(LINEAGE), body)
    return hashlib.sha256(body).hexdigest()[:16]


def test_the_starting_point_is_scored_on_its_foundation_model(aws: Aws, fake: FakeBedrock) -> None:
    version = put_eval_set(aws, EVAL_SET)
    result = evaluate.handler(running_round(aws), None)

    results_key = naming.evaluation_results_key(LINEAGE, 1)
    candidate_metrics, champion_metrics = result.pop("candidate_metrics"), result.pop("champion_metrics")
    assert result == {
        "metric": "token_f1",
        "eval_set_version": version,
        "records": 4,
        "candidate_score": 0.75,
        "champion_score": 0.25,
        "champion_reused": False,
        "results_uri": f"s3://{BUCKET}/{results_key}",
    }
    # Every metric, overall and per category (only the first item has one).
    assert set(candidate_metrics) == set(champion_metrics) == {"exact_match", "rouge_l", "token_f1"}
    assert candidate_metrics["exact_match"] == {"overall": 0.75, "by_category": {"geo": 1.0}}
    assert champion_metrics["rouge_l"] == {"overall": 0.25, "by_category": {"geo": 1.0}}
    rows = [json.loads(line) for line in aws.read(results_key).decode().splitlines()]
    assert [(r["line"], r["category"], r["candidate_score"], r["champion_score"]) for r in rows] == [
        (1, "geo", 1.0, 1.0),
        (2, None, 1.0, 0.0),
        (3, None, 1.0, 0.0),
        (4, None, 0.0, 0.0),
    ]
    assert rows[3]["candidate_answer"] == "no idea" and rows[0]["reference"] == "paris"
    state = aws.registry.get_state(LINEAGE)
    assert state is not None
    assert (state.champion_score, state.champion_eval_set_version, state.champion_metric) == (
        0.25,
        version,
        "token_f1",
    )
    assert state.champion_metrics == champion_metrics


def test_the_champions_score_is_reused_on_an_unchanged_set(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    evaluate.handler(running_round(aws), None)
    aws.registry.release_lock(LINEAGE, 1)
    fake.calls.clear()

    result = evaluate.handler(running_round(aws, 2), None)

    assert result["champion_reused"] is True and result["champion_score"] == 0.25
    assert {model for model, _ in fake.calls} == {CANDIDATE}
    rows = [
        json.loads(line) for line in aws.read(naming.evaluation_results_key(LINEAGE, 2)).decode().splitlines()
    ]
    assert all("champion_answer" not in row for row in rows)


def test_a_changed_set_rescores_the_serving_champion(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    doc = running_round(aws)
    first = evaluate.handler(doc, None)
    aws.registry.promote(
        LINEAGE,
        1,
        model_arn="arn:aws:bedrock:us-east-1:123456789012:custom-model/it1",
        serving_model_id=CANDIDATE,
        score=0.75,
        metrics=first["candidate_metrics"],
        eval_set_version="whatever-before",
        metric="token_f1",
        replaced_serving_model_id=None,
    )
    aws.registry.release_lock(LINEAGE, 1)
    new_version = put_eval_set(aws, EVAL_SET[:2])
    next_candidate = CANDIDATE.replace("it0001", "it0002")
    fake.models[next_candidate] = knows(0)
    fake.calls.clear()

    result = evaluate.handler(
        {**running_round(aws, 2), "candidate_deployment": {"arn": next_candidate}}, None
    )

    assert result["champion_reused"] is False and result["eval_set_version"] == new_version
    assert (result["candidate_score"], result["champion_score"]) == (0.0, 1.0)
    assert {model for model, _ in fake.calls} == {next_candidate, CANDIDATE}
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and state.champion_eval_set_version == new_version
    assert state.champion_metrics == result["champion_metrics"]


def test_another_primary_metric_reuses_the_champions_metrics(aws: Aws, fake: FakeBedrock) -> None:
    """Every metric is measured every time, so a new primary metric is no new yardstick."""
    put_eval_set(aws, EVAL_SET)
    first = evaluate.handler(running_round(aws), None)
    aws.registry.release_lock(LINEAGE, 1)
    exact = {**LINEAGE_CONFIG, "evaluation": {"metric": "exact_match"}}
    result = evaluate.handler(running_round(aws, 2, exact), None)
    assert result["champion_reused"] is True and result["metric"] == "exact_match"
    assert result["champion_score"] == first["champion_metrics"]["exact_match"]["overall"]


def test_a_score_without_todays_metric_set_is_not_reused(aws: Aws, fake: FakeBedrock) -> None:
    version = put_eval_set(aws, EVAL_SET)
    doc = running_round(aws)
    # What a registry written before every metric was recorded holds: one score, no metrics.
    client("dynamodb").update_item(
        TableName=aws.registry.table_name,
        Key={"pk": {"S": naming.lineage_pk(LINEAGE)}, "sk": {"S": naming.STATE_SK}},
        UpdateExpression="SET champion_score = :s, champion_eval_set_version = :v, champion_metric = :m",
        ExpressionAttributeValues={":s": {"N": "0.9"}, ":v": {"S": version}, ":m": {"S": "token_f1"}},
    )
    result = evaluate.handler(doc, None)
    assert result["champion_reused"] is False and result["champion_score"] == 0.25


def test_the_configured_invoke_model_scores_the_starting_point(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    fake.models["us.amazon.nova-micro-v1:0"] = knows(2)
    config = {**LINEAGE_CONFIG, "evaluation_invoke_model": "us.amazon.nova-micro-v1:0"}
    assert evaluate.handler(running_round(aws, 1, config), None)["champion_score"] == 0.5


def test_a_missing_evaluation_set_names_its_key(aws: Aws, fake: FakeBedrock) -> None:
    with pytest.raises(evaluate.EvaluationSetMissingError, match=naming.evaluation_set_key(LINEAGE)):
        evaluate.handler(running_round(aws), None)
    assert fake.calls == []


def test_a_broken_evaluation_set_names_its_bad_lines(aws: Aws, fake: FakeBedrock) -> None:
    aws.upload(naming.evaluation_set_key(LINEAGE), jsonl(EVAL_SET[:1]) + b'{"prompt": "x"}\nnope\n')
    with pytest.raises(
        EvaluationSetError, match=r"2 bad line\(s\): line 2: referenceResponse .*; line 3: not"
    ):
        evaluate.handler(running_round(aws), None)
    assert fake.calls == []
