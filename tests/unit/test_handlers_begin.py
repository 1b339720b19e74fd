"""The round's first steps after validation: Begin iteration, Collect training metrics, Decide.

Each handler gets the state document the workflow would pass it (round_support builds it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from iterft_runtime import naming
from iterft_runtime.dal import storage
from iterft_runtime.dal.registry import LockNotHeldError
from iterft_runtime.handlers import begin, collect_metrics, decide, promote
from round_support import (
    begun,
    create_job,
    dispatched,
    evaluated,
    metrics,
    swapped,
    to_decide,
    validated,
    with_capacity,
)
from runtime_support import BASE_MODEL, BUCKET, LINEAGE, LINEAGE_CONFIG, Aws, FakeBedrock

pytest_plugins = ("runtime_fixtures", "step_contract_fixtures", "round_fixtures")


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
        "strategy": "fine_tuning",
        "customization_type": "FINE_TUNING",
        "customization_config": None,
        "training_data_config": {"S3Uri": doc["validation"]["training_data_uri"]},
    }
    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None
    assert (record.strategy, record.customization_type, record.customization_config) == (
        "fine_tuning",
        "FINE_TUNING",
        {},
    )
    assert (record.base_model, record.parent_iteration, record.job_name) == (
        BASE_MODEL,
        0,
        result["job_name"],
    )
    assert record.hyperparameters == result["hyperparameters"]
    assert record.dataset_source is None  # the upload did not say how it was built
    assert begin.handler(doc, None) == result  # a retry derives the same round


def test_begin_records_where_a_curated_dataset_came_from(aws: Aws) -> None:
    doc = validated(dispatched(aws))
    doc["validation"]["source"] = "curated 20261204T102747Z: 30 fine_tuning records from invocation logs"
    begin.handler(doc, None)
    record = aws.registry.get_iteration(LINEAGE, 1)
    assert record is not None and record.dataset_source == doc["validation"]["source"]
    assert record.to_history()["source"] == doc["validation"]["source"]


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


@pytest.mark.parametrize(("candidate", "promoted"), [(0.62, True), (0.6199, False)])
def test_decide_applies_the_lineages_minimum_improvement(aws: Aws, candidate: float, promoted: bool) -> None:
    # Both models' records swing alike (round_support.per_record): every interval has no width.
    result = decide.handler(to_decide(LINEAGE_CONFIG, metrics(candidate), metrics(0.6)), None)
    assert result["promote"] is promoted
    assert result["decision"] == ("promoted" if promoted else "rejected")
    assert result["improvement"] == pytest.approx(candidate - 0.6)
    assert "0.0200" in result["reason"]
    gain = round(candidate - 0.6, 6)
    assert result["gate"] == [
        {
            "rule": f"primary token_f1 {gain:+.4f} [{gain:+.4f}, {gain:+.4f}]: lower bound >= 0.0200",
            "passed": promoted,
        }
    ]
    assert result["deltas"] == {
        "token_f1": {"delta": gain, "ci_low": gain, "ci_high": gain},
        "exact_match": {"delta": 0.0, "ci_low": 0.0, "ci_high": 0.0},
        "rouge_l": {"delta": 0.0, "ci_low": 0.0, "ci_high": 0.0},
    }
    assert result["inconclusive"] is False and result["power"]["records"] == 20


def test_decide_applies_the_lineages_guards(aws: Aws) -> None:
    guarded = {**LINEAGE_CONFIG, "evaluation": {"metric": "token_f1", "guards": {"exact_match": 0.05}}}
    result = decide.handler(to_decide(guarded, metrics(0.9, others=0.4), metrics(0.6)), None)
    assert (result["promote"], result["decision"]) == (False, "rejected")
    assert [rule["passed"] for rule in result["gate"]] == [True, False]
    assert (
        "guard exact_match fell 0.1000 (95% CI -0.1000 to -0.1000), its whole interval beyond its tolerance "
        "0.0500" in result["reason"]
    )


def test_decide_pairs_the_records_and_says_when_a_gain_is_inconclusive(aws: Aws) -> None:
    """A gain of 0.15 on 20 records: six went from 0 to 1, three from 1 to 0, the rest unchanged. The
    interval reaches below the required 0.02. Under `point`, the same round promotes."""
    champion_records = {name: [0.0] * 6 + [1.0] * 14 for name in ("token_f1", "exact_match", "rouge_l")}
    candidate_records = {name: [1.0] * 6 + [0.0] * 3 + [1.0] * 11 for name in champion_records}
    scored = {"candidate_records": candidate_records, "champion_records": champion_records}
    doc = to_decide(LINEAGE_CONFIG, metrics(0.85, others=0.85), metrics(0.7, others=0.7), **scored)
    result = decide.handler(doc, None)
    interval = result["deltas"]["token_f1"]
    assert interval["delta"] == pytest.approx(0.15) and interval["ci_low"] < 0.02 < interval["ci_high"]
    assert (result["promote"], result["inconclusive"]) == (False, True)
    assert "inconclusive" in result["reason"] and result["records_to_resolve"] > 0
    assert f"about {result['records_to_resolve']:,} more evaluation records" in result["reason"]
    assert decide.handler(doc, None) == result  # seeded by the round: the same numbers every time
    # Spreads 0.4583 (champion, 14 of 20) and 0.3571 (candidate, 17 of 20): 1.96 x 0.5810 / sqrt(20) = 0.2546.
    assert result["power"]["detectable_improvement"] == pytest.approx(0.2546, abs=1e-4)
    assert result["power"]["too_small"] is True

    pointed = {**LINEAGE_CONFIG, "gate": {**LINEAGE_CONFIG["gate"], "decide_on": "point"}}
    point_doc = to_decide(pointed, metrics(0.85, others=0.85), metrics(0.7, others=0.7), **scored)
    point = decide.handler(point_doc, None)
    assert (point["promote"], point["inconclusive"]) == (True, False)
    assert point["deltas"] == result["deltas"]


def test_decide_names_the_category_that_fell_past_max_category_drop(aws: Aws) -> None:
    """Billing's 16 records all go from 0 to 1, account's 4 all from 1 to 0.5: +0.7 overall, with an
    interval clear of 0.02, but account falls 0.5 on every record."""
    champion = {name: [0.0] * 16 + [1.0] * 4 for name in ("token_f1", "exact_match", "rouge_l")}
    candidate = {name: [1.0] * 16 + [0.5] * 4 for name in champion}
    guarded = {**LINEAGE_CONFIG, "gate": {"min_improvement": 0.02, "max_category_drop": 0.1}}

    def decided(lineage: dict[str, Any]) -> dict[str, Any]:
        scores = {"candidate_records": candidate, "champion_records": champion}
        doc = to_decide(lineage, metrics(0.9, others=0.9), metrics(0.2, others=0.2), **scores,
                        categories=["billing"] * 16 + ["account"] * 4)  # fmt: skip
        return decide.handler(doc, None)

    result = decided(guarded)
    assert result["deltas"]["token_f1"]["ci_low"] >= 0.02 and result["promote"] is False
    assert "category 'account' fell 0.5000 on token_f1 (95% CI -0.5000 to -0.5000)" in result["reason"]
    assert [rule["passed"] for rule in result["gate"]] == [True, False, False]
    assert decided(LINEAGE_CONFIG)["promote"] is True  # no category guard: promoted


def test_decide_refuses_records_of_another_set_version(aws: Aws) -> None:
    doc = to_decide(LINEAGE_CONFIG, metrics(0.7), metrics(0.5))
    _, key = storage.split_uri(doc["evaluation"]["champion_scores_uri"])
    document = json.loads(aws.read(key))
    aws.upload(key, json.dumps({**document, "eval_set_version": "ffffffffffffffff"}).encode())
    with pytest.raises(ValueError, match="not the same yardstick"):
        decide.handler(doc, None)
