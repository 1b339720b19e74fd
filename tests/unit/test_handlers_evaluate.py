"""Plan evaluation, Score shard and Aggregate evaluation, run as the workflow chains them: both models on
the same fixed set; the champion's score reused only when valid."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from iterft_runtime import naming
from iterft_runtime.dal.bedrock import BedrockThrottled
from iterft_runtime.dal.clients import client
from iterft_runtime.dal.evaluation_sets import EvaluationSetMissingError
from iterft_runtime.handlers import aggregate_evaluation, plan_evaluation, score_shard
from iterft_runtime.logic import evaluation as evaluation_logic
from iterft_runtime.logic import judge as judge_logic
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

pytest_plugins = ("runtime_fixtures", "step_contract_fixtures")


def knows(fraction: int) -> Any:
    """A model that answers the first `fraction` prompts right and the rest wrong."""
    right = {item["prompt"] for item in EVAL_SET[:fraction]}
    return lambda prompt: ANSWERS[prompt] if prompt in right else "no idea"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBedrock:
    fake = install_fake_bedrock(monkeypatch, score_shard)
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
        "kind": "round",
        "lineage": lineage.model_dump(mode="json"),
        "iteration": iteration,
        "dataset": dataset.to_dict(),
        "capacity": {"evaluation": [], "candidate_model": CANDIDATE, "champion_model": None},
    }


def shard_inputs(doc: dict[str, Any], plan: dict[str, Any]) -> list[dict[str, Any]]:
    """What the Score shards Map's ItemSelector hands each iteration."""
    return [
        {
            "lineage": doc["lineage"],
            "iteration": doc["iteration"],
            "candidate_model": doc["capacity"]["candidate_model"],
            "champion_model": plan["champion_model"],
            "eval_set_object": plan["eval_set_object"],
            "shard": shard,
        }
        for shard in plan["shards"]
    ]


def evaluate(doc: dict[str, Any]) -> dict[str, Any]:
    """The three evaluation states in order, shards in reverse to show their order does not matter."""
    plan = plan_evaluation.handler(doc, None)
    for shard in reversed(shard_inputs(doc, plan)):
        score_shard.handler(shard, None)
    return aggregate_evaluation.handler({**doc, "evaluation_plan": plan}, None)


def put_eval_set(aws: Aws, items: list[dict[str, Any]]) -> str:
    body = jsonl(items)
    aws.upload(naming.evaluation_set_key(LINEAGE), body)
    return hashlib.sha256(body).hexdigest()[:16]


def test_the_starting_point_is_scored_on_its_foundation_model(aws: Aws, fake: FakeBedrock) -> None:
    version = put_eval_set(aws, EVAL_SET)
    result = evaluate(running_round(aws))

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
        "metrics_uri": f"s3://{BUCKET}/{naming.evaluation_metrics_key(LINEAGE, 1)}",
        "candidate_scores_uri": f"s3://{BUCKET}/{naming.record_scores_key(LINEAGE, 1, version)}",
        "champion_scores_uri": f"s3://{BUCKET}/{naming.record_scores_key(LINEAGE, 0, version)}",
    }
    # Each model's per-record scores, keyed by its iteration (0: the starting point) and the set version.
    candidate_records = json.loads(aws.read(naming.record_scores_key(LINEAGE, 1, version)))
    champion_records = json.loads(aws.read(naming.record_scores_key(LINEAGE, 0, version)))
    assert candidate_records["lines"] == champion_records["lines"] == [1, 2, 3, 4]
    assert candidate_records["categories"] == ["geo", None, None, None]
    assert candidate_records["scores"]["token_f1"] == [1.0, 1.0, 1.0, 0.0]
    assert champion_records["scores"]["token_f1"] == [1.0, 0.0, 0.0, 0.0]
    assert champion_records["overall"]["token_f1"] == 0.25 and champion_records["eval_set_version"] == version
    # Every metric, overall and per category (only the first item has one).
    assert set(candidate_metrics) == set(champion_metrics) == {"exact_match", "rouge_l", "token_f1"}
    assert candidate_metrics["exact_match"] == {"overall": 0.75, "by_category": {"geo": 1.0}, "categories": 1}
    assert champion_metrics["rouge_l"] == {"overall": 0.25, "by_category": {"geo": 1.0}, "categories": 1}
    document = json.loads(aws.read(naming.evaluation_metrics_key(LINEAGE, 1)))
    assert document["candidate"]["exact_match"] == {"overall": 0.75, "by_category": {"geo": 1.0}}
    assert document["champion"]["rouge_l"] == {"overall": 0.25, "by_category": {"geo": 1.0}}
    assert (document["metric"], document["eval_set_version"], document["champion_reused"]) == (
        "token_f1",
        version,
        False,
    )
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


def test_many_categories_stay_in_s3_and_the_result_lists_the_weakest_few(aws: Aws, fake: FakeBedrock) -> None:
    """Each of 40 records its own category: the result and the registry stay the same size as with a few
    categories (a state is at most 256 KiB, a registry item 400 KB), the metrics document holds them all."""
    items = [
        {**item, "category": f"topic-{index:02d}-{item['prompt']}"}
        for index, item in enumerate(EVAL_SET * 10)
    ]
    put_eval_set(aws, items)

    result = evaluate(running_round(aws))

    for summary in (result["candidate_metrics"], result["champion_metrics"]):
        assert all(metric["categories"] == 40 for metric in summary.values())
        assert all(
            len(metric["by_category"]) == evaluation_logic.SUMMARY_CATEGORIES for metric in summary.values()
        )
    # The candidate misses "largest planet?" (every 4th record): those categories are its weakest.
    assert set(result["candidate_metrics"]["token_f1"]["by_category"]) == {
        f"topic-{index:02d}-largest planet?" for index in range(3, 40, 4)
    }
    assert len(json.dumps(result)) < 6000
    document = json.loads(aws.read(naming.evaluation_metrics_key(LINEAGE, 1)))
    assert len(document["candidate"]["token_f1"]["by_category"]) == 40
    assert len(document["champion"]["exact_match"]["by_category"]) == 40
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and state.champion_metrics == result["champion_metrics"]


def test_the_champions_score_is_reused_on_an_unchanged_set(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    evaluate(running_round(aws))
    aws.registry.release_lock(LINEAGE, 1)
    fake.calls.clear()

    result = evaluate(running_round(aws, 2))

    assert result["champion_reused"] is True and result["champion_score"] == 0.25
    assert {model for model, _ in fake.calls} == {CANDIDATE}
    rows = [
        json.loads(line) for line in aws.read(naming.evaluation_results_key(LINEAGE, 2)).decode().splitlines()
    ]
    assert all("champion_answer" not in row for row in rows)


def test_a_champion_whose_per_record_scores_are_gone_answers_again(aws: Aws, fake: FakeBedrock) -> None:
    """Its recorded metrics alone cannot be paired: the gate needs its score on every record."""
    version = put_eval_set(aws, EVAL_SET)
    evaluate(running_round(aws))
    aws.registry.release_lock(LINEAGE, 1)
    aws.client("s3").delete_object(Bucket=BUCKET, Key=naming.record_scores_key(LINEAGE, 0, version))
    fake.calls.clear()

    result = evaluate(running_round(aws, 2))

    assert result["champion_reused"] is False and result["champion_score"] == 0.25
    assert FOUNDATION in {model for model, _ in fake.calls}
    assert result["champion_scores_uri"].endswith(naming.record_scores_key(LINEAGE, 0, version))


def test_a_reused_champions_per_record_scores_must_be_the_ones_it_was_recorded_with(
    aws: Aws, fake: FakeBedrock
) -> None:
    """Scores that do not average to the recorded metrics (another yardstick wrote them) are not reused."""
    version = put_eval_set(aws, EVAL_SET)
    evaluate(running_round(aws))
    aws.registry.release_lock(LINEAGE, 1)
    key = naming.record_scores_key(LINEAGE, 0, version)
    document = json.loads(aws.read(key))
    document["scores"]["token_f1"] = [1.0, 1.0, 0.0, 0.0]
    document["overall"]["token_f1"] = 0.5
    aws.upload(key, json.dumps(document).encode())
    fake.calls.clear()

    result = evaluate(running_round(aws, 2))

    assert result["champion_reused"] is False
    assert json.loads(aws.read(key))["scores"]["token_f1"] == [1.0, 0.0, 0.0, 0.0]


def test_a_changed_set_rescores_the_serving_champion(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    doc = running_round(aws)
    first = evaluate(doc)
    aws.registry.promote(
        LINEAGE,
        1,
        model_arn="arn:aws:bedrock:us-east-1:123456789012:custom-model/it1",
        serving_capacity={
            "kind": "deployment",
            "name": "bot-it0001-eval",
            "arn": CANDIDATE,
            "model_arn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/it1",
            "role": "serving",
        },
        score=0.75,
        metrics=first["candidate_metrics"],
        eval_set_version="whatever-before",
        metric="token_f1",
    )
    aws.registry.release_lock(LINEAGE, 1)
    new_version = put_eval_set(aws, EVAL_SET[:2])
    next_candidate = CANDIDATE.replace("it0001", "it0002")
    fake.models[next_candidate] = knows(0)
    fake.calls.clear()

    result = evaluate(
        {
            **running_round(aws, 2),
            "capacity": {"evaluation": [], "candidate_model": next_candidate, "champion_model": None},
        }
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
    first = evaluate(running_round(aws))
    aws.registry.release_lock(LINEAGE, 1)
    exact = {**LINEAGE_CONFIG, "evaluation": {"metric": "exact_match"}}
    result = evaluate(running_round(aws, 2, exact))
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
    result = evaluate(doc)
    assert result["champion_reused"] is False and result["champion_score"] == 0.25


def test_the_configured_invoke_model_scores_the_starting_point(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    fake.models["us.amazon.nova-micro-v1:0"] = knows(2)
    config = {**LINEAGE_CONFIG, "evaluation_invoke_model": "us.amazon.nova-micro-v1:0"}
    assert evaluate(running_round(aws, 1, config))["champion_score"] == 0.5


def test_a_missing_evaluation_set_names_its_key(aws: Aws, fake: FakeBedrock) -> None:
    with pytest.raises(EvaluationSetMissingError, match=naming.evaluation_set_key(LINEAGE)):
        evaluate(running_round(aws))
    assert fake.calls == []


def test_a_broken_evaluation_set_names_its_bad_lines(aws: Aws, fake: FakeBedrock) -> None:
    aws.upload(naming.evaluation_set_key(LINEAGE), jsonl(EVAL_SET[:1]) + b'{"prompt": "x"}\nnope\n')
    with pytest.raises(
        EvaluationSetError, match=r"2 bad line\(s\): line 2: referenceResponse .*; line 3: not"
    ):
        evaluate(running_round(aws))
    assert fake.calls == []


def test_shards_cover_the_set_in_order_and_aggregate_like_one_pass(
    aws: Aws, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluation_logic, "SHARD_RECORDS", 3)
    put_eval_set(aws, EVAL_SET)
    doc = running_round(aws)
    body = aws.read(naming.evaluation_set_key(LINEAGE))
    plan = plan_evaluation.handler(doc, None)
    first, second = plan["shards"]
    assert (first["index"], first["start"], first["end"], first["first_line"]) == (0, 0, 3, 1)
    assert (second["index"], second["start"], second["end"], second["first_line"]) == (1, 3, 4, 4)
    assert (first["byte_start"], second["byte_end"]) == (0, len(body))
    assert first["byte_end"] == second["byte_start"] == len(jsonl(EVAL_SET[:3]))
    assert plan["champion_model"] == FOUNDATION and plan["records"] == 4
    outputs = [score_shard.handler(shard, None) for shard in shard_inputs(doc, plan)]
    assert [output["records"] for output in outputs] == [3, 1]
    result = aggregate_evaluation.handler({**doc, "evaluation_plan": plan}, None)
    assert (result["candidate_score"], result["champion_score"], result["records"]) == (0.75, 0.25, 4)
    rows = [json.loads(line) for line in aws.read(naming.evaluation_results_key(LINEAGE, 1)).splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 3, 4]
    assert json.loads(aws.read(plan["shard_list_key"])) == plan["shards"]
    assert plan["shard_count"] == 2 and plan["shard_list_key"] == naming.evaluation_shard_list_key(LINEAGE, 1)


def test_past_the_inline_limit_the_shards_are_listed_only_in_s3_and_aggregate_alike(
    aws: Aws, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Distributed Map's path: items from the S3 shard list, the plan carrying none inline."""
    monkeypatch.setattr(evaluation_logic, "SHARD_RECORDS", 1)
    put_eval_set(aws, EVAL_SET)
    doc = running_round(aws)
    inline_plan = plan_evaluation.handler(doc, None)
    monkeypatch.setattr(evaluation_logic, "INLINE_MAX_SHARDS", 3)
    plan = plan_evaluation.handler(doc, None)
    assert plan["shards"] is None and plan["shard_count"] == 4
    listed = json.loads(aws.read(plan["shard_list_key"]))
    assert listed == inline_plan["shards"]
    for shard in reversed(shard_inputs(doc, {**plan, "shards": listed})):
        score_shard.handler(shard, None)
    result = aggregate_evaluation.handler({**doc, "evaluation_plan": plan}, None)
    assert (result["candidate_score"], result["champion_score"], result["records"]) == (0.75, 0.25, 4)


def test_a_reusable_champion_is_not_asked_to_answer(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    evaluate(running_round(aws))
    aws.registry.release_lock(LINEAGE, 1)
    assert plan_evaluation.handler(running_round(aws, 2), None)["champion_model"] is None


def test_throttling_surfaces_as_the_error_the_map_retries(
    aws: Aws, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_eval_set(aws, EVAL_SET)
    doc = running_round(aws)
    (shard,) = shard_inputs(doc, plan_evaluation.handler(doc, None))

    def throttled(model_id: str, prompt: str, max_tokens: int) -> str:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Converse")

    monkeypatch.setattr(fake, "converse", throttled)
    with pytest.raises(BedrockThrottled, match="slow down"):
        score_shard.handler(shard, None)
    shard_key = naming.evaluation_shard_key(LINEAGE, 1, 0)
    assert client("s3").list_objects_v2(Bucket=BUCKET, Prefix=shard_key)["KeyCount"] == 0


def test_a_set_changed_after_planning_is_still_scored_on_the_planned_version(
    aws: Aws, fake: FakeBedrock
) -> None:
    """The plan pins the object version: every shard reads the same yardstick, whatever was uploaded since."""
    planned = put_eval_set(aws, EVAL_SET)
    doc = running_round(aws)
    plan = plan_evaluation.handler(doc, None)
    put_eval_set(aws, [{"prompt": "something else?", "referenceResponse": "entirely"}] * 9)
    for shard in shard_inputs(doc, plan):
        score_shard.handler(shard, None)
    result = aggregate_evaluation.handler({**doc, "evaluation_plan": plan}, None)
    assert (result["eval_set_version"], result["records"]) == (planned, 4)
    assert {prompt for _, prompt in fake.calls} == {item["prompt"] for item in EVAL_SET}


def test_without_versioning_a_set_changed_after_planning_fails_the_shard(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    doc = running_round(aws)
    (shard,) = shard_inputs(doc, plan_evaluation.handler(doc, None))
    put_eval_set(aws, EVAL_SET[:2])
    unversioned = {**shard, "eval_set_object": {**shard["eval_set_object"], "version_id": None}}
    with pytest.raises(score_shard.EvaluationSetChangedError, match="changed: its ETag is no longer"):
        score_shard.handler(unversioned, None)
    assert fake.calls == []


def test_a_shard_whose_bytes_do_not_hold_its_records_fails(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    doc = running_round(aws)
    (shard,) = shard_inputs(doc, plan_evaluation.handler(doc, None))
    cut = {**shard, "shard": {**shard["shard"], "byte_end": shard["shard"]["byte_end"] - 5}}
    with pytest.raises(EvaluationSetError, match="should hold shard 0's 4 records from line 1"):
        score_shard.handler(cut, None)
    assert fake.calls == []


def test_missing_shard_answers_fail_the_aggregation(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    doc = running_round(aws)
    plan = plan_evaluation.handler(doc, None)
    score_shard.handler(shard_inputs(doc, plan)[0], None)
    with pytest.raises(ValueError, match="4 of 5 evaluation records"):
        aggregate_evaluation.handler({**doc, "evaluation_plan": {**plan, "records": 5}}, None)


JUDGE = "amazon.nova-pro-v1:0"
JUDGED_CONFIG = {
    **LINEAGE_CONFIG,
    "evaluation": {"metric": "judge", "guards": {"token_f1": 0.1}, "judge": {"model": JUDGE, "rubric": "R"}},
}


def grades_by_word_overlap(prompt: str) -> str:
    """A test judge: 5 when the answer section holds the reference's words, else 1."""
    reference, answer = judge_logic.section(prompt, "reference"), judge_logic.section(prompt, "answer")
    assert reference is not None and answer is not None and judge_logic.section(prompt, "rubric") == "R"
    return "Grade: 5" if set(reference.split()) <= set(answer.split()) else "The answer is wrong.\nGrade: 1"


def test_a_judge_grades_every_answer_and_is_the_judge_metric(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    fake.models[JUDGE] = grades_by_word_overlap
    result = evaluate(running_round(aws, config=JUDGED_CONFIG))

    assert result["metric"] == "judge"
    assert (result["candidate_score"], result["champion_score"]) == (0.75, 0.25)
    assert result["candidate_metrics"]["judge"]["overall"] == 0.75
    assert set(result["champion_metrics"]) == {"exact_match", "judge", "rouge_l", "token_f1"}
    judged = [prompt for model, prompt in fake.calls if model == JUDGE]
    assert len(judged) == 2 * len(EVAL_SET)  # the candidate's answers and the champion's
    rows = [json.loads(line) for line in aws.read(naming.evaluation_results_key(LINEAGE, 1)).splitlines()]
    assert [row["candidate_metrics"]["judge"] for row in rows] == [1.0, 1.0, 1.0, 0.0]
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and state.champion_metrics is not None and "judge" in state.champion_metrics


def test_the_champion_scored_without_a_judge_is_scored_again_with_one(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    evaluate(running_round(aws))
    aws.registry.release_lock(LINEAGE, 1)
    fake.models[JUDGE] = grades_by_word_overlap
    assert plan_evaluation.handler(running_round(aws, 2, JUDGED_CONFIG), None)["champion_model"] == FOUNDATION


def test_a_judge_reply_without_a_grade_fails_the_shard_naming_it(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    fake.models[JUDGE] = lambda prompt: "I would rather not say."
    doc = running_round(aws, config=JUDGED_CONFIG)
    (shard,) = shard_inputs(doc, plan_evaluation.handler(doc, None))
    with pytest.raises(judge_logic.JudgeReplyError, match="rather not say"):
        score_shard.handler(shard, None)


def test_the_champions_judge_grades_are_reused_only_from_the_same_judge(aws: Aws, fake: FakeBedrock) -> None:
    put_eval_set(aws, EVAL_SET)
    fake.models[JUDGE] = grades_by_word_overlap
    evaluate(running_round(aws, config=JUDGED_CONFIG))
    aws.registry.release_lock(LINEAGE, 1)
    doc = running_round(aws, 2, JUDGED_CONFIG)
    assert plan_evaluation.handler(doc, None)["champion_model"] is None
    new_rubric = {**JUDGED_CONFIG, "evaluation": {**JUDGED_CONFIG["evaluation"], "judge": {"model": JUDGE}}}
    assert plan_evaluation.handler({**doc, "lineage": new_rubric}, None)["champion_model"] == FOUNDATION
