"""The round's steps after validation: begin, collect metrics, decide, promote, clean up, finish.

Each handler gets the state document the workflow would pass it (docs/architecture.md). Bedrock
customization jobs are moto's; Converse and deployments are the FakeBedrock at the dal boundary.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from iterft_runtime import naming
from iterft_runtime.dal.registry import LockNotHeldError
from iterft_runtime.handlers import (
    begin,
    clean_up,
    collect_metrics,
    decide,
    finish,
    promote,
    retain_models,
    settings,
    swap_serving,
)
from iterft_runtime.logic.dispatch import execution_input
from iterft_runtime.logic.serving import LineageModel
from iterft_runtime.models.capacity import Capacity, CapacityKind, CapacityRole
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import DatasetRef
from runtime_support import (
    BASE_MODEL,
    BUCKET,
    LINEAGE,
    LINEAGE_CONFIG,
    STACK_NAME,
    Aws,
    FakeBedrock,
    install_fake_bedrock,
    valid_dataset,
)

DEPLOYMENTS = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/"
JOBS = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/"
CONFIG = LineageConfig.model_validate(LINEAGE_CONFIG)

pytest_plugins = ("runtime_fixtures", "step_contract_fixtures")


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


def evaluated(doc: dict[str, Any], candidate: float, champion: float) -> dict[str, Any]:
    n = doc["iteration"]
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
            "eval_set_version": "00112233aabbccdd",
            "records": 20,
            "candidate_score": candidate,
            "champion_score": champion,
            "champion_reused": False,
            "results_uri": f"s3://{BUCKET}/{naming.evaluation_results_key(LINEAGE, n)}",
            "metrics_uri": f"s3://{BUCKET}/{naming.evaluation_metrics_key(LINEAGE, n)}",
            "candidate_metrics": metrics(candidate),
            "champion_metrics": metrics(champion),
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


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBedrock:
    return install_fake_bedrock(monkeypatch, promote, clean_up, swap_serving, retain_models)


# -- begin ---------------------------------------------------------------------------------------


def test_begin_builds_on_the_starting_point_with_deterministic_names(aws: Aws) -> None:
    doc = validated(dispatched(aws))
    result = begin.handler(doc, None)

    fingerprint = naming.dataset_fingerprint(doc["dataset"]["key"], doc["dataset"]["version_id"])
    assert result == {
        "base_model": BASE_MODEL,
        "parent_iteration": 0,
        "job_name": naming.job_name(LINEAGE, 1, fingerprint),
        "custom_model_name": naming.custom_model_name(LINEAGE, 1, fingerprint),
        "output_uri": f"s3://{BUCKET}/{naming.job_output_prefix(LINEAGE, 1)}",
        "candidate_capacity_name": naming.evaluation_capacity_name(LINEAGE, 1, fingerprint, "candidate"),
        "champion_capacity_name": naming.evaluation_capacity_name(LINEAGE, 1, fingerprint, "champion"),
        "candidate_evaluation_job_name": naming.evaluation_job_name(LINEAGE, 1, fingerprint, "candidate"),
        "champion_evaluation_job_name": naming.evaluation_job_name(LINEAGE, 1, fingerprint, "champion"),
        "hyperparameters": {"epochCount": "2", "learningRate": "1e-05"},
    }
    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None
    assert (record.base_model, record.parent_iteration, record.job_name) == (
        BASE_MODEL,
        0,
        result["job_name"],
    )
    assert record.hyperparameters == result["hyperparameters"]
    assert begin.handler(doc, None) == result  # a retry derives the same round


def test_begin_builds_on_the_champion_after_a_promotion(aws: Aws, fake: FakeBedrock) -> None:
    first = with_capacity(fake, evaluated(begun(dispatched(aws, "one.jsonl")), candidate=0.7, champion=0.5))
    promote.handler(swapped(first), None)
    aws.registry.release_lock(LINEAGE, 1)

    second = begin.handler(validated(dispatched(aws, "two.jsonl")), None)
    assert second["base_model"] == first["training"]["output_model_arn"]
    assert second["parent_iteration"] == 1


def test_begin_refuses_an_iteration_that_does_not_hold_the_lock(aws: Aws) -> None:
    doc = validated(dispatched(aws))
    aws.registry.release_lock(LINEAGE, 1)
    with pytest.raises(LockNotHeldError):
        begin.handler(doc, None)


# -- collect metrics -----------------------------------------------------------------------------


def test_collect_metrics_reads_the_jobs_csvs(aws: Aws) -> None:
    doc = begun(dispatched(aws))
    job = create_job(aws, doc)
    job_id = job["jobArn"].rsplit("/", 1)[-1]
    prefix = naming.job_output_prefix(LINEAGE, 1)
    training = (
        "step_number,epoch_number,training_loss,perplexity\n1,1,2.0,7\n2,1,1.0,3\n3,2,0.6,2\n4,2,0.4,1.5\n"
    )
    validation = "step_number,epoch_number,validation_loss,perplexity\n2,1,1.2,3\n4,2,0.9,2.4\n"
    aws.upload(naming.job_training_metrics_key(prefix, job_id), training.encode())
    aws.upload(naming.job_validation_metrics_key(prefix, job_id), validation.encode())

    result = collect_metrics.handler(doc, None)

    assert result == {
        "job_arn": job["jobArn"],
        "output_model_arn": job["outputModelArn"],
        "training_loss": pytest.approx(0.5),
        "validation_loss": pytest.approx(0.9),
        "training_seconds": (job["endTime"] - job["creationTime"]).total_seconds(),
    }
    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None
    assert (record.job_arn, record.training_loss, record.validation_loss) == (job["jobArn"], 0.5, 0.9)
    assert record.training_seconds == result["training_seconds"]


def test_collect_metrics_tolerates_missing_csvs(aws: Aws) -> None:
    doc = begun(dispatched(aws))
    job = create_job(aws, doc)
    result = collect_metrics.handler(doc, None)
    assert result["output_model_arn"] == job["outputModelArn"]
    assert result["training_loss"] is None and result["validation_loss"] is None


# -- decide --------------------------------------------------------------------------------------


def to_decide(lineage: dict[str, Any], candidate: dict[str, Any], champion: dict[str, Any]) -> dict[str, Any]:
    """Decide's input: a round of iteration 2 whose evaluation measured these metrics."""
    return {
        "kind": "round",
        "lineage": lineage,
        "iteration": 2,
        "evaluation": {
            "metric": "token_f1",
            "eval_set_version": "00112233aabbccdd",
            "records": 20,
            "candidate_score": candidate["token_f1"]["overall"],
            "champion_score": champion["token_f1"]["overall"],
            "champion_reused": False,
            "results_uri": f"s3://{BUCKET}/results.jsonl",
            "metrics_uri": f"s3://{BUCKET}/metrics.json",
            "candidate_metrics": candidate,
            "champion_metrics": champion,
        },
    }


@pytest.mark.parametrize(("candidate", "promoted"), [(0.62, True), (0.6199, False)])
def test_decide_applies_the_lineages_minimum_improvement(candidate: float, promoted: bool) -> None:
    result = decide.handler(to_decide(LINEAGE_CONFIG, metrics(candidate), metrics(0.6)), None)
    assert result["promote"] is promoted
    assert result["decision"] == ("promoted" if promoted else "rejected")
    assert result["improvement"] == pytest.approx(candidate - 0.6)
    assert "0.0200" in result["reason"]
    assert result["gate"] == [
        {"rule": f"primary token_f1 {candidate - 0.6:+.4f} >= 0.0200", "passed": promoted}
    ]
    assert result["deltas"] == pytest.approx(
        {"token_f1": candidate - 0.6, "exact_match": 0.0, "rouge_l": 0.0}
    )


def test_decide_applies_the_lineages_guards() -> None:
    guarded = {**LINEAGE_CONFIG, "evaluation": {"metric": "token_f1", "guards": {"exact_match": 0.05}}}
    result = decide.handler(to_decide(guarded, metrics(0.9, others=0.4), metrics(0.6)), None)
    assert (result["promote"], result["decision"]) == (False, "rejected")
    assert [rule["passed"] for rule in result["gate"]] == [True, False]
    assert "guard exact_match fell 0.1000, more than its tolerance 0.0500" in result["reason"]


# -- promote -------------------------------------------------------------------------------------


def pointer(aws: Aws) -> str:
    name = naming.serving_parameter_name("iterft-test", LINEAGE)
    return str(aws.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])


def test_promote_creates_then_updates_the_serving_deployment_in_place(aws: Aws, fake: FakeBedrock) -> None:
    first = swapped(with_capacity(fake, evaluated(begun(dispatched(aws, "one.jsonl")), 0.7, 0.5)))
    assert first["swap"]["action"] == "create"  # the first promotion creates the serving deployment
    serving = first["swap"]["targets"][0]["arn"]
    assert serving == fake.arn_of(
        CapacityKind.DEPLOYMENT, naming.serving_capacity_name(LINEAGE, 1, STACK_NAME)
    )
    assert promote.handler(first, None) == {
        "champion_model_arn": first["training"]["output_model_arn"],
        "serving_model_id": serving,
        "released": [first["round"]["candidate_capacity_name"]],
    }
    assert pointer(aws) == serving and list(fake.capacity) == [serving]
    aws.registry.release_lock(LINEAGE, 1)

    second = swapped(with_capacity(fake, evaluated(begun(dispatched(aws, "two.jsonl")), 0.8, 0.7)))
    assert second["swap"]["action"] == "update"
    assert fake.capacity[serving] == second["training"]["output_model_arn"]  # swapped in place
    result = promote.handler(second, None)

    evaluation_arns = [first["capacity"]["candidate_model"], second["capacity"]["candidate_model"]]
    assert result["serving_model_id"] == serving and fake.deleted == evaluation_arns
    assert list(fake.capacity) == [serving] and pointer(aws) == serving
    state = aws.registry.get_state(LINEAGE)
    assert state is not None
    assert (state.champion_iteration, state.champion_model, state.serving_model_id, state.champion_score) == (
        2,
        second["training"]["output_model_arn"],
        serving,
        0.8,
    )
    record = aws.registry.get_iteration(LINEAGE, 2)
    assert record is not None and record.decision == "promoted" and record.serving_model_id == serving

    assert promote.handler(second, None)["serving_model_id"] == serving  # a retry after the commit
    assert fake.deleted == evaluation_arns and list(fake.capacity) == [serving]


def test_promote_without_the_lock_changes_nothing(aws: Aws, fake: FakeBedrock) -> None:
    doc = swapped(with_capacity(fake, evaluated(begun(dispatched(aws)), candidate=0.9, champion=0.1)))
    aws.registry.release_lock(LINEAGE, 1)
    with pytest.raises(LockNotHeldError):
        promote.handler(doc, None)
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and (state.champion_model, state.champion_iteration) == (BASE_MODEL, 0)
    assert fake.deleted == []


# -- clean up ------------------------------------------------------------------------------------

LAMBDA_ERROR = {
    "Error": "EvaluationSetMissingError",
    "Cause": json.dumps(
        {"errorMessage": "no evaluation set at s3://b/k", "errorType": "EvaluationSetMissingError"}
    ),
}


def test_clean_up_stops_the_job_and_deletes_the_candidate_deployment(aws: Aws, fake: FakeBedrock) -> None:
    doc = with_capacity(fake, evaluated(begun(dispatched(aws)), candidate=0.5, champion=0.5))
    create_job(aws, doc)

    outcome = clean_up.handler({**doc, "error": LAMBDA_ERROR}, None)

    assert outcome == {
        "decision": "failed",
        "reason": "EvaluationSetMissingError: no evaluation set at s3://b/k",
    }
    job = aws.client("bedrock").get_model_customization_job(jobIdentifier=doc["round"]["job_name"])
    assert job["status"] == "Stopped"
    assert fake.deleted == [doc["capacity"]["candidate_model"]]
    assert clean_up.handler({**doc, "error": LAMBDA_ERROR}, None) == outcome  # retry: nothing left to do


def test_clean_up_finds_the_deployment_by_name_when_its_arn_was_never_seen(
    aws: Aws,
    fake: FakeBedrock,
) -> None:
    doc = begun(dispatched(aws))
    arn = fake.create_capacity(
        Capacity(
            CapacityKind.DEPLOYMENT, doc["round"]["candidate_capacity_name"], "", "m", CapacityRole.CANDIDATE
        ),
        {},
    )
    outcome = clean_up.handler({**doc, "error": {"Error": "States.Timeout", "Cause": "took too long"}}, None)
    assert outcome == {"decision": "failed", "reason": "States.Timeout: took too long"}
    assert fake.deleted == [arn]


def test_clean_up_before_the_round_began_only_reports(aws: Aws, fake: FakeBedrock) -> None:
    doc = dispatched(aws)
    outcome = clean_up.handler({**doc, "error": {"Error": "Lambda.Unknown", "Cause": None}}, None)
    assert outcome == {"decision": "failed", "reason": "Lambda.Unknown"}
    assert fake.deleted == []


def test_clean_up_after_a_committed_promotion_keeps_the_new_champion(aws: Aws, fake: FakeBedrock) -> None:
    doc = swapped(with_capacity(fake, evaluated(begun(dispatched(aws)), candidate=0.9, champion=0.1)))
    promote.handler(doc, None)
    # As if Promote had failed after its commit, before publishing the pointer.
    name = naming.serving_parameter_name("iterft-test", LINEAGE)
    aws.client("ssm").put_parameter(Name=name, Value="stale", Type="String", Overwrite=True)

    outcome = clean_up.handler({**doc, "error": {"Error": "Lambda.ServiceException", "Cause": "boom"}}, None)

    assert outcome["decision"] == "promoted"
    assert outcome["reason"] == "promoted; a later step failed: Lambda.ServiceException: boom"
    serving = doc["swap"]["targets"][0]["arn"]
    assert list(fake.capacity) == [serving]  # the serving deployment stays
    assert pointer(aws) == serving


def test_clean_up_reports_what_it_could_not_undo(
    aws: Aws,
    fake: FakeBedrock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc = with_capacity(fake, evaluated(begun(dispatched(aws)), candidate=0.5, champion=0.5))

    def refuse(kind: CapacityKind, identifier: str) -> bool:
        raise RuntimeError("AccessDenied")

    monkeypatch.setattr(fake, "delete_capacity", refuse)
    outcome = clean_up.handler({**doc, "error": {"Error": "X", "Cause": "y"}}, None)
    assert outcome["decision"] == "failed"
    name = doc["round"]["candidate_capacity_name"]
    assert outcome["reason"].startswith(
        f"X: y; clean-up incomplete: could not delete deployment {name}: AccessDenied"
    )


# -- finish --------------------------------------------------------------------------------------


def test_finish_records_everything_releases_the_lock_and_notifies(aws: Aws, fake: FakeBedrock) -> None:
    doc = with_capacity(fake, evaluated(begun(dispatched(aws)), candidate=0.72, champion=0.61))
    doc["decision"] = decide.handler(doc, None)
    doc["outcome"] = {"decision": doc["decision"]["decision"], "reason": doc["decision"]["reason"]}
    doc = swapped(doc)
    doc["promoted"] = promote.handler(doc, None)

    assert finish.handler(doc, None) == {}

    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None
    history = record.to_history()
    assert {
        k: history[k] for k in ("iteration", "decision", "base_model", "parent_iteration", "records")
    } == {
        "iteration": 1,
        "decision": "promoted",
        "base_model": BASE_MODEL,
        "parent_iteration": 0,
        "records": 10,
    }
    assert (history["eval_score"], history["champion_score"], history["min_improvement"]) == (
        0.72,
        0.61,
        0.02,
    )
    assert (history["training_loss"], history["validation_loss"]) == (0.5, 0.6)
    assert history["eval_set_version"] == "00112233aabbccdd"
    assert history["output_model_arn"] == doc["training"]["output_model_arn"]
    assert history["job_arn"] == doc["training"]["job_arn"]
    assert history["ended_at"] and history["started_at"] == "2026-03-01T10:00:01.000Z"
    assert record.evaluation_capacity == doc["capacity"]["evaluation"]
    assert (history["serving_action"], history["serving_model_id"]) == (
        "create",
        doc["swap"]["targets"][0]["arn"],
    )
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and state.lock_owner is None
    [notification] = aws.notifications()
    assert notification["Subject"].startswith(f"iterft {LINEAGE} #1 promoted")
    assert "0.7200" in notification["Message"] and "0.6100" in notification["Message"]
    assert history["metrics"] == metrics(0.72) and history["champion_metrics"] == metrics(0.61)
    assert history["deltas"] == pytest.approx({"token_f1": 0.11, "exact_match": 0.0, "rouge_l": 0.0})
    assert history["gate"] == [{"rule": "primary token_f1 +0.1100 >= 0.0200", "passed": True}]
    assert history["converged"] is False


def decided_round(aws: Aws, name: str, candidate: float, champion: float) -> dict[str, Any]:
    """A round through Decide (and Promote when it passed), ready for Finish."""
    doc = evaluated(begun(dispatched(aws, name)), candidate=candidate, champion=champion)
    doc["decision"] = decide.handler(doc, None)
    doc["outcome"] = {"decision": doc["decision"]["decision"], "reason": doc["decision"]["reason"]}
    return doc


def test_finish_marks_the_lineage_converged_after_k_marginal_rounds(aws: Aws, fake: FakeBedrock) -> None:
    """K = 3 (the default), threshold = min_improvement 0.02; invalid rounds and regressions do not
    count either way."""
    rounds = [
        ("big.jsonl", 0.70, 0.50),  # +0.20: resets
        ("small-promoted.jsonl", 0.71, 0.70),  # +0.01 marginal (1)
        ("worse.jsonl", 0.60, 0.70),  # rejected, -0.10: a regression, not counted
        (None, 0, 0),  # invalid data: not counted
        ("slightly-worse.jsonl", 0.69, 0.70),  # rejected, -0.01: marginal (2)
        ("tie.jsonl", 0.70, 0.70),  # marginal (3): converged
    ]
    converged = []
    for n, (name, candidate, champion) in enumerate(rounds, start=1):
        if name is None:
            doc = validated(dispatched(aws, "bad.jsonl"))
            doc["outcome"] = {"decision": "invalid_data", "reason": "bad file"}
        else:
            doc = decided_round(aws, name, candidate, champion)
        finish.handler(doc, None)
        finish.handler(doc, None)  # a retried Finish counts once
        record = aws.registry.get_iteration(LINEAGE, n)
        assert record is not None
        converged.append(record.converged)
    assert converged == [False, False, False, None, False, True]
    regression = aws.registry.get_iteration(LINEAGE, 3)
    assert regression is not None and regression.regression is True
    assert (
        regression.reason and "regression: the candidate fell 0.1000 below the champion" in regression.reason
    )
    assert [aws.registry.get_iteration(LINEAGE, n).to_history()["regression"] for n in (1, 2, 5, 6)] == [
        False
    ] * 4
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and (state.converged, state.marginal_rounds) == (True, 3)
    last = aws.notifications()[-1]
    assert "converged" in last["Subject"]
    assert "stayed within ±0.0200 for 3 decided round(s) in a row" in last["Message"]
    assert "until `iterft resume support-bot`" in last["Message"]
    assert (
        "Score history (token_f1): #1 0.7000, #2 0.7100, #3 0.6000, #5 0.6900, #6 0.7000" in last["Message"]
    )


def test_finish_of_invalid_data_lists_the_problems(aws: Aws) -> None:
    doc = validated(dispatched(aws))
    doc["validation"].update(
        valid=False,
        training_data_uri=None,
        report_uri=f"s3://{BUCKET}/{naming.validation_report_key(LINEAGE, 1)}",
        reason="batch.jsonl: invalid: 10 records, 2 errors",
        problem_counts={"invalid_json": 2},
        problems=[
            {
                "line": 3,
                "code": "invalid_json",
                "severity": "error",
                "message": "invalid JSON: Expecting value",
            }
        ],
    )
    doc["outcome"] = {"decision": "invalid_data", "reason": doc["validation"]["reason"]}

    finish.handler(doc, None)

    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None
    assert (record.decision, record.reason, record.report_uri) == (
        "invalid_data",
        doc["validation"]["reason"],
        doc["validation"]["report_uri"],
    )
    [notification] = aws.notifications()
    assert notification["Subject"] == f"iterft {LINEAGE} #1 invalid data: batch.jsonl"
    assert "invalid_json 2" in notification["Message"]
    assert "line 3 [invalid_json] invalid JSON: Expecting value" in notification["Message"]


def test_a_retried_finish_does_not_release_the_next_rounds_lock(aws: Aws) -> None:
    doc = validated(dispatched(aws, "one.jsonl"))
    doc["outcome"] = {"decision": "failed", "reason": "States.TaskFailed: job failed"}
    finish.handler(doc, None)
    dispatched(aws, "two.jsonl")  # round 2 takes the lock

    finish.handler(doc, None)

    state = aws.registry.get_state(LINEAGE)
    assert state is not None and state.lock_owner == 2
    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None and (record.decision, record.reason) == (
        "failed",
        "States.TaskFailed: job failed",
    )
    subjects = [n["Subject"] for n in aws.notifications()]
    assert subjects == [f"iterft {LINEAGE} #1 failed"] * 2


def test_clean_up_keeps_the_champion_serving_when_an_in_place_update_was_under_way(
    aws: Aws, fake: FakeBedrock
) -> None:
    first = swapped(with_capacity(fake, evaluated(begun(dispatched(aws, "one.jsonl")), 0.7, 0.5)))
    promote.handler(first, None)
    assert aws.registry.release_lock(LINEAGE, 1)
    serving = first["swap"]["targets"][0]["arn"]
    second = swapped(with_capacity(fake, evaluated(begun(dispatched(aws, "two.jsonl")), 0.8, 0.7)))
    assert fake.capacity[serving] == second["training"]["output_model_arn"]  # the update was asked for

    outcome = clean_up.handler({**second, "error": {"Error": "CapacityTimeout", "Cause": "slow"}}, None)

    assert outcome["decision"] == "failed"
    assert fake.capacity == {serving: first["training"]["output_model_arn"]}  # the champion serves again
    assert fake.deleted[-1] == second["capacity"]["candidate_model"]


def _published_metrics(output: str) -> list[dict[str, Any]]:
    """The embedded-metric-format documents a handler wrote to stdout (what CloudWatch turns into metrics)."""
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def test_finish_publishes_the_rounds_outcome_duration_and_scores_per_lineage(
    aws: Aws, fake: FakeBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = with_capacity(fake, evaluated(begun(dispatched(aws)), candidate=0.72, champion=0.61))
    doc["decision"] = decide.handler(doc, None)
    doc["outcome"] = {"decision": doc["decision"]["decision"], "reason": doc["decision"]["reason"]}
    doc = swapped(doc)
    doc["promoted"] = promote.handler(doc, None)
    doc["training"]["training_seconds"] = 1800.0
    capsys.readouterr()
    finish.handler(doc, None)

    [document] = _published_metrics(capsys.readouterr().out)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == naming.METRICS_NAMESPACE
    assert [sorted(dimensions) for dimensions in directive["Dimensions"]] == [["lineage", "service"]]
    assert (document["service"], document[naming.METRIC_LINEAGE_DIMENSION]) == (
        naming.POWERTOOLS_SERVICE,
        LINEAGE,
    )
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert units == {
        "RoundsPromoted": "Count",
        naming.METRIC_TRAINING_DURATION: "Seconds",
        naming.METRIC_CANDIDATE_SCORE: "None",
        naming.METRIC_CHAMPION_SCORE: "None",
        naming.METRIC_IMPROVEMENT: "None",
    }
    # One value each (EMF lists the values of a metric).
    assert document["RoundsPromoted"] == [1.0] and document[naming.METRIC_TRAINING_DURATION] == [1800.0]
    assert (document[naming.METRIC_CANDIDATE_SCORE], document[naming.METRIC_CHAMPION_SCORE]) == (
        [0.72],
        [0.61],
    )
    assert document[naming.METRIC_IMPROVEMENT] == [pytest.approx(0.11)]


def test_a_round_that_never_trained_publishes_only_its_outcome(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = dispatched(aws)
    doc["outcome"] = {"decision": "invalid_data", "reason": "3 records"}
    capsys.readouterr()
    finish.handler(doc, None)
    [document] = _published_metrics(capsys.readouterr().out)
    assert [metric["Name"] for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == [
        "RoundsInvalidData"
    ]
    assert document[naming.METRIC_LINEAGE_DIMENSION] == LINEAGE


def test_retention_deletes_rejected_candidates_at_once_and_keeps_the_newest_promoted(
    aws: Aws, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    deleted: list[str] = []
    monkeypatch.setattr(fake, "delete_custom_model", lambda arn: deleted.append(arn) or True)
    keep_one = {**LINEAGE_CONFIG, "retention": {"keep_models": 1}}
    arns, results = {}, {}
    for n, decision in ((1, "promoted"), (2, "rejected"), (3, "rejected"), (4, "promoted")):
        doc = evaluated(begun(dispatched(aws, f"{n}.jsonl")), 0.5, 0.5)
        arns[n] = doc["training"]["output_model_arn"]
        aws.registry.update_iteration(LINEAGE, n, {"output_model_arn": arns[n]})
        if decision == "promoted":
            promote.handler(swapped(with_capacity(fake, doc)), None)
        doc["outcome"] = {"decision": decision, "reason": "test"}
        results[n] = retain_models.handler({**doc, "lineage": keep_one}, None)
        aws.registry.update_iteration(LINEAGE, n, {"decision": decision})  # what Finish records
        aws.registry.release_lock(LINEAGE, n)
    # Each rejected candidate goes as its round ends; #1 stays a rollback target until #4 replaces it.
    assert [results[n]["deleted_iterations"] for n in (1, 2, 3, 4)] == [[], [2], [3], [1]]
    assert deleted == [arns[2], arns[3], arns[1]]
    assert {n for n in (1, 2, 3, 4) if aws.registry.get_iteration(LINEAGE, n).model_deleted_at} == {1, 2, 3}


def test_retention_keeps_a_rejected_candidate_for_the_configured_days(
    aws: Aws, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    deleted: list[str] = []
    monkeypatch.setattr(fake, "delete_custom_model", lambda arn: deleted.append(arn) or True)
    inspect = {**LINEAGE_CONFIG, "retention": {"keep_models": 1, "keep_rejected_days": 7}}
    arns = []
    for n, ended in ((1, "2026-03-01T12:00:00.000Z"), (2, "2026-03-08T12:00:00.000Z")):
        monkeypatch.setattr(settings, "now", lambda at=ended: at)
        doc = evaluated(begun(dispatched(aws, f"{n}.jsonl")), 0.5, 0.6)
        arns.append(doc["training"]["output_model_arn"])
        aws.registry.update_iteration(LINEAGE, n, {"output_model_arn": arns[-1]})
        doc["outcome"] = {"decision": "rejected", "reason": "test"}
        result = retain_models.handler({**doc, "lineage": inspect}, None)
        aws.registry.update_iteration(LINEAGE, n, {"decision": "rejected", "ended_at": settings.now()})
        aws.registry.release_lock(LINEAGE, n)
        # #1 is kept for inspection at its own end, and deleted by the round that ends 7 days later.
        assert result["deleted_iterations"] == ([] if n == 1 else [1])
    assert deleted == arns[:1]


def test_retention_lists_a_few_of_many_models_it_could_not_delete(
    aws: Aws, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Models Bedrock keeps refusing are tried again every round: `$.retention` stays bounded anyway."""
    doc = dispatched(aws)
    many = [LineageModel(n, f"arn:aws:bedrock:us-east-1:123456789012:custom-model/m{n}") for n in range(25)]
    monkeypatch.setattr(retain_models, "models_to_delete", lambda *_, **__: many)

    def refuse(arn: str) -> None:
        raise ClientError({"Error": {"Code": "ConflictException", "Message": f"{arn} is in use"}}, "Delete")

    monkeypatch.setattr(fake, "delete_custom_model", refuse)

    result = retain_models.handler(doc, None)

    assert result["deleted_iterations"] == [] and result["deleted_count"] == 0
    assert len(result["skipped"]) == retain_models.MAX_LISTED and result["skipped_count"] == 25
    assert result["skipped"][0].startswith("#0: ")


# -- cost ----------------------------------------------------------------------------------------

PRICES = {"training_usd_per_1k_tokens": 0.008, "evaluation_capacity_usd_per_hour": 2.0}


def priced(doc: dict[str, Any], tokens: int = 10_000) -> dict[str, Any]:
    """The round of a lineage with prices set, whose dataset was estimated at `tokens`."""
    doc = {**doc, "lineage": {**doc["lineage"], "cost": PRICES}}
    if "validation" in doc:
        doc["validation"] = {**doc["validation"], "estimated_tokens": tokens}
    return doc


def test_finish_records_the_cost_and_counts_it_once_in_the_months_spend(
    aws: Aws, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "now", lambda: "2026-11-25T10:30:00.000Z")
    doc = priced(evaluated(begun(dispatched(aws, "one.jsonl")), candidate=0.5, champion=0.6))
    doc["capacity"] = {
        **doc["capacity"],
        "evaluation": [
            {
                "kind": "provisioned",
                "name": "bot-it0001-eval",
                "arn": doc["capacity"]["candidate_model"],
                "model_arn": doc["training"]["output_model_arn"],
                "role": "candidate",
                "model_units": 1,
                "created_at": "2026-11-25T09:30:00.000Z",
            }
        ],
    }
    doc["decision"] = decide.handler(doc, None)
    doc["outcome"] = {"decision": doc["decision"]["decision"], "reason": doc["decision"]["reason"]}

    finish.handler(doc, None)
    finish.handler(doc, None)  # a retried Finish records the same cost and counts it once

    # 10,000 tokens x 2 epochs = 20 x $0.008 = $0.16; 09:30 -> 10:30 = 1 h x $2 = $2; $2.16 in all.
    expected = {
        "training_tokens": 10_000,
        "epochs": 2,
        "training_usd": 0.16,
        "capacity_hours": 1.0,
        "capacity_usd": 2.0,
        "total_usd": 2.16,
    }
    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None and record.to_history()["cost"] == pytest.approx(expected)
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and (state.spend_month, state.spend_usd) == ("2026-11", pytest.approx(2.16))
    notification = aws.notifications()[0]
    assert (
        "Estimated cost: $2.16 (training 10,000 tokens x 2 epoch(s): $0.1600; "
        "evaluation capacity 1.00 h: $2.00)" in notification["Message"]
    )

    # Invalid data costs nothing; the month's spend is unchanged.
    invalid = priced(validated(dispatched(aws, "two.jsonl")))
    invalid["validation"]["valid"] = False
    invalid["outcome"] = {"decision": "invalid_data", "reason": "bad file"}
    finish.handler(invalid, None)
    record = aws.registry.get_iteration(LINEAGE, 2)
    assert record is not None and record.cost["total_usd"] == 0
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and state.spend_usd == pytest.approx(2.16)

    # A round that failed after training, finishing in December, starts December's count.
    monkeypatch.setattr(settings, "now", lambda: "2026-12-01T00:10:00.000Z")
    failed = priced(begun(dispatched(aws, "three.jsonl")))
    failed["outcome"] = {"decision": "failed", "reason": "States.TaskFailed: job failed"}
    finish.handler(failed, None)
    record = aws.registry.get_iteration(LINEAGE, 3)
    assert record is not None and record.cost["training_usd"] == pytest.approx(0.16)
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and (state.spend_month, state.spend_usd) == ("2026-12", pytest.approx(0.16))


def test_finish_without_prices_records_quantities_and_counts_no_spend(aws: Aws, fake: FakeBedrock) -> None:
    doc = begun(dispatched(aws))
    doc["validation"]["estimated_tokens"] = 1_234
    doc["outcome"] = {"decision": "failed", "reason": "States.TaskFailed: job failed"}
    finish.handler(doc, None)
    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None and record.to_history()["cost"] == {
        "training_tokens": 1_234,
        "epochs": 2,
        "training_usd": None,
        "capacity_hours": 0.0,
        "capacity_usd": 0.0,
        "total_usd": None,
    }
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and state.lock_owner is None and state.spend_month is None
    assert "Estimated cost: no total (set the lineage's cost prices)" in aws.notifications()[0]["Message"]


def test_finish_with_an_unreadable_capacity_records_no_cost_but_still_finishes(aws: Aws) -> None:
    doc = priced(begun(dispatched(aws)))
    doc["capacity"] = {"evaluation": [{"kind": "provisioned", "role": "candidate"}]}  # no created_at
    doc["outcome"] = {"decision": "failed", "reason": "States.TaskFailed: job failed"}
    finish.handler(doc, None)
    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None and record.decision == "failed" and record.to_history()["cost"] == {}
    state = aws.registry.get_state(LINEAGE)
    assert state is not None and state.lock_owner is None and state.spend_month is None
