"""Promoting a candidate (Swap serving model, Promote), cleaning up a failed round, Apply retention.

Each handler gets the state document the workflow would pass it (round_support builds it).
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from iterft_runtime import naming
from iterft_runtime.dal.registry import LockNotHeldError
from iterft_runtime.handlers import (
    begin_rollback,
    capacity_status,
    clean_up,
    promote,
    provision_capacity,
    release_capacity,
    retain_models,
    settings,
)
from iterft_runtime.logic.dispatch import rollback_input
from iterft_runtime.logic.serving import LineageModel
from iterft_runtime.models.capacity import Capacity, CapacityKind, CapacityRole
from round_support import (
    CONFIG,
    LAMBDA_ERROR,
    begun,
    create_job,
    dispatched,
    evaluated,
    pointer,
    swapped,
    with_capacity,
)
from runtime_support import (
    BASE_MODEL,
    LINEAGE,
    LINEAGE_CONFIG,
    STACK_NAME,
    Aws,
    FakeBedrock,
    install_fake_bedrock,
)

pytest_plugins = ("runtime_fixtures", "step_contract_fixtures", "round_fixtures")


# -- promote -------------------------------------------------------------------------------------


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


# -- retention -----------------------------------------------------------------------------------


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


# -- evaluation capacity -------------------------------------------------------------------------


def test_evaluation_capacity_is_provisioned_checked_and_released(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = install_fake_bedrock(monkeypatch, provision_capacity, capacity_status, release_capacity)
    doc = evaluated(begun(dispatched(aws)), 0.7, 0.5)
    doc["evaluation_plan"] = {
        "eval_set_version": "00112233aabbccdd",
        "eval_set_object": {"version_id": "v1", "etag": "e"},
        "records": 20,
        "champion_model": BASE_MODEL,
        "champion_to_deploy": None,
        "shard_records": 20,
        "shard_count": 1,
        "shard_list_key": "shards.json",
        "shards": None,
    }
    capacity = provision_capacity.handler(doc, None)
    (candidate,) = capacity["evaluation"]
    assert (candidate["role"], candidate["model_arn"]) == ("candidate", doc["training"]["output_model_arn"])
    assert (capacity["candidate_model"], capacity["champion_model"]) == (candidate["arn"], BASE_MODEL)
    ready = {"ready": True, "failed": False, "reason": "every capacity serves its model"}
    assert capacity_status.handler({"capacities": capacity["evaluation"]}, None) == ready
    assert capacity_status.handler({"capacities": []}, None) == ready

    assert release_capacity.handler({**doc, "capacity": capacity}, None) == {"released": [candidate["name"]]}
    assert fake.deleted == [candidate["arn"]]
    assert capacity_status.handler({"capacities": capacity["evaluation"]}, None)["failed"] is True


# -- rollback ------------------------------------------------------------------------------------


def test_begin_rollback_hands_on_the_earlier_promotion(aws: Aws, fake: FakeBedrock) -> None:
    for n, name, score in ((1, "one.jsonl", 0.7), (2, "two.jsonl", 0.8)):
        doc = swapped(with_capacity(fake, evaluated(begun(dispatched(aws, name)), score, 0.5)))
        aws.registry.update_iteration(LINEAGE, n, {"output_model_arn": doc["training"]["output_model_arn"]})
        promote.handler(doc, None)
        assert aws.registry.release_lock(LINEAGE, n)
    registry = aws.registry
    assert registry.begin_rollback(LINEAGE, 3, to_iteration=1, requested_by="ana", reason="r", started_at="t")
    doc = json.loads(json.dumps(rollback_input(CONFIG, 3, 1, "ana", "worse answers")))

    result = begin_rollback.handler(doc, None)

    first = registry.get_iteration(LINEAGE, 1)
    assert first is not None
    assert result == {
        **doc,
        "promotion": {
            "model_arn": first.output_model_arn,
            "score": first.eval_score,
            "metrics": first.metrics,
            "eval_set_version": first.eval_set_version,
            "metric": first.metric,
            "decision": "rolled_back",
            "champion_iteration": 1,
        },
        "decision": {
            "promote": True,
            "decision": "rolled_back",
            "reason": "rolled back to #1 by ana: worse answers",
        },
    }
    with pytest.raises(begin_rollback.RollbackRefusedError):
        begin_rollback.handler(json.loads(json.dumps(rollback_input(CONFIG, 3, 2, "ana", "r"))), None)
