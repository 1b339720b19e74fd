"""Reading the state document: registry fields at Finish, readable failure causes, records."""

from __future__ import annotations

import json

import pytest
from iterft_runtime.logic.rounds import (
    gate_improvement,
    readable_cause,
    record_fields,
    review_record,
)
from iterft_runtime.models.records import DatasetRef, IterationRecord, LineageState, delta_value

LINEAGE = {"name": "bot", "base_model": "amazon.nova-micro-v1:0:128k", "gate": {"min_improvement": 0.03}}
DATASET = {
    "bucket": "data",
    "key": "incoming/bot/a.jsonl",
    "version_id": "v1",
    "etag": "e",
    "size": 9,
    "uploaded_at": "2026-01-01T00:00:00.000Z",
}


def test_record_fields_of_a_full_round() -> None:
    doc = {
        "lineage": LINEAGE,
        "iteration": 2,
        "dataset": DATASET,
        "validation": {
            "valid": True,
            "records": 40,
            "size_bytes": 9,
            "report_uri": None,
            "hyperparameters": {"a": "1"},
        },
        "round": {"base_model": "m0", "parent_iteration": 1, "job_name": "j", "hyperparameters": {"a": "2"}},
        "training": {
            "job_arn": "ja",
            "output_model_arn": "om",
            "training_loss": 0.3,
            "validation_loss": None,
        },
        "capacity": {"evaluation": [{"kind": "deployment", "name": "n", "arn": "dep"}]},
        "swap": {"action": "update", "targets": []},
        "promoted": {"serving_model_id": "serving"},
        "evaluation": {
            "metric": "token_f1",
            "eval_set_version": "ver",
            "candidate_score": 0.8,
            "champion_score": 0.7,
            "results_uri": "s3://r",
            "metrics_uri": "s3://m",
        },
        "outcome": {"decision": "promoted", "reason": "better"},
    }
    assert record_fields(doc, "2026-01-02T00:00:00.000Z") == {
        "decision": "promoted",
        "reason": "better",
        "ended_at": "2026-01-02T00:00:00.000Z",
        "min_improvement": 0.03,
        "records": 40,
        "size_bytes": 9,
        "hyperparameters": {"a": "2"},
        "base_model": "m0",
        "parent_iteration": 1,
        "job_name": "j",
        "job_arn": "ja",
        "output_model_arn": "om",
        "training_loss": 0.3,
        "metric": "token_f1",
        "eval_set_version": "ver",
        "eval_score": 0.8,
        "champion_score": 0.7,
        "results_uri": "s3://r",
        "metrics_uri": "s3://m",
        "evaluation_capacity": [{"kind": "deployment", "name": "n", "arn": "dep"}],
        "serving_action": "update",
        "serving_model_id": "serving",
    }


def test_record_fields_of_an_invalid_upload() -> None:
    doc = {
        "lineage": LINEAGE,
        "validation": {
            "valid": False,
            "records": 3,
            "report_uri": "s3://rep",
            "hyperparameters": {"a": "1"},
            "source": "curated 20261204T120000Z: 3 fine_tuning records from invocation logs",
        },
        "outcome": {"decision": "invalid_data", "reason": "bad"},
    }
    assert record_fields(doc, "t") == {
        "decision": "invalid_data",
        "reason": "bad",
        "ended_at": "t",
        "min_improvement": 0.03,
        "records": 3,
        "report_uri": "s3://rep",
        "hyperparameters": {"a": "1"},
        # a curated dataset Validate refused still says how it was built (Begin records it otherwise)
        "dataset_source": "curated 20261204T120000Z: 3 fine_tuning records from invocation logs",
    }


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, "unknown failure"),
        ({"Error": "States.Timeout"}, "States.Timeout"),
        ({"Error": "States.TaskFailed", "Cause": "quota\n exceeded"}, "States.TaskFailed: quota exceeded"),
        (
            {
                "Error": "ValueError",
                "Cause": json.dumps({"errorType": "ValueError", "errorMessage": "bad x"}),
            },
            "ValueError: bad x",
        ),
        (
            {
                "Error": "Lambda.Unknown",
                "Cause": json.dumps({"errorType": "KeyError", "errorMessage": "'round'"}),
            },
            "Lambda.Unknown: KeyError: 'round'",
        ),
        (
            {
                "Error": "States.TaskFailed",
                "Cause": json.dumps({"Status": "Failed", "FailureMessage": "bad data"}),
            },
            "States.TaskFailed: bad data",
        ),
        ({"Error": "X", "Cause": json.dumps({"other": 1})}, 'X: {"other": 1}'),
    ],
)
def test_readable_cause(error: dict[str, str] | None, expected: str) -> None:
    assert readable_cause(error) == expected


def test_a_huge_cause_is_cut() -> None:
    cause = readable_cause({"Error": "E", "Cause": "x" * 5000})
    assert len(cause) == 1000 and cause.endswith("...")


def test_iteration_records_round_trip_and_ignore_registry_keys() -> None:
    record = IterationRecord(
        iteration=3, decision="rejected", eval_score=0.5, hyperparameters={"epochCount": "2"}
    )
    item = {"pk": "LINEAGE#bot", "sk": "ITER#000003", **record.to_dict()}
    assert IterationRecord.from_dict(item) == record
    assert "reason" not in record.to_dict()


def test_history_has_the_public_keys() -> None:
    history = IterationRecord(iteration=1).to_history()
    assert {
        "iteration",
        "decision",
        "parent_iteration",
        "base_model",
        "output_model_arn",
        "dataset",
        "source",
        "job_arn",
        "hyperparameters",
        "strategy",
        "customization_type",
        "customization_config",
        "records",
        "size_bytes",
        "report_uri",
        "leakage",
        "results_uri",
        "metrics_uri",
        "regression",
        "evaluation_job_arns",
        "managed_results_uri",
        "training_loss",
        "validation_loss",
        "training_seconds",
        "eval_score",
        "champion_score",
        "min_improvement",
        "eval_set_version",
        "metric",
        "metrics",
        "champion_metrics",
        "deltas",
        "gate",
        "inconclusive",
        "records_to_resolve",
        "power",
        "cost_per_point_usd",
        "converged",
        "approval",
        "evaluation_capacity",
        "serving_action",
        "serving_model_id",
        "rollback_of",
        "requested_by",
        "model_deleted_at",
        "reason",
        "cost",
        "started_at",
        "ended_at",
    } == set(history)
    assert history["strategy"] == "fine_tuning"  # a round from before strategies was fine-tuning


def test_history_deltas_carry_an_interval_whichever_shape_they_were_recorded_in() -> None:
    """Rounds recorded before intervals hold a bare number per metric: shown with null bounds."""
    old = IterationRecord(iteration=1, deltas={"token_f1": 0.05}).to_history()
    new = IterationRecord(
        iteration=2, deltas={"token_f1": {"delta": 0.05, "ci_low": -0.01, "ci_high": 0.11}}
    ).to_history()
    assert old["deltas"] == {"token_f1": {"delta": 0.05, "ci_low": None, "ci_high": None}}
    assert new["deltas"] == {"token_f1": {"delta": 0.05, "ci_low": -0.01, "ci_high": 0.11}}
    assert [delta_value(row["deltas"]["token_f1"]) for row in (old, new)] == [0.05, 0.05]
    assert delta_value(0.05) == 0.05 and delta_value(None) is None


def test_dataset_uri_carries_the_version() -> None:
    assert DatasetRef("b", "k/x.jsonl", "a+b/c", "e", 1, "t").s3_uri == "s3://b/k/x.jsonl?versionId=a%2Bb%2Fc"
    assert DatasetRef("b", "k/x.jsonl", None, "e", 1, "t").s3_uri == "s3://b/k/x.jsonl"
    assert DatasetRef("b", "k", None, "etag1", 1, "t").identity == "etag-etag1"


def test_a_record_without_a_dataset_cannot_be_dispatched() -> None:
    with pytest.raises(ValueError, match="no dataset reference"):
        IterationRecord(iteration=4).dataset_ref()


def test_lineage_state_ignores_registry_keys() -> None:
    state = LineageState.from_dict("bot", {"pk": "x", "sk": "STATE", "champion_model": "m", "lock_owner": 2})
    assert (state.champion_model, state.lock_owner, state.next_iteration) == ("m", 2, 1)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({}, None),
        (
            {"approved": True, "reviewer": "ana", "reason": "ok"},
            {"status": "approved", "reviewer": "ana", "reason": "ok"},
        ),
        (
            {"approved": False, "reviewer": "bo", "reason": "no"},
            {"status": "rejected", "reviewer": "bo", "reason": "no"},
        ),
        ({"approved": "yes"}, {"status": "rejected", "reviewer": None, "reason": None}),  # only true approves
        ({"Error": "States.Timeout", "Cause": "..."}, {"status": "timed_out"}),
    ],
)
def test_review_record(answer: dict, expected: dict | None) -> None:
    assert review_record(answer) == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"decision": {"improvement": 0.01}, "outcome": {"decision": "promoted"}}, 0.01),
        ({"decision": {"improvement": -0.2}, "outcome": {"decision": "rejected"}}, -0.2),
        ({"decision": {"improvement": 0.3}, "outcome": {"decision": "failed"}}, None),  # failed after Decide
        ({"outcome": {"decision": "rejected"}}, None),  # rejected overrides: the gate never ran
        ({"outcome": {"decision": "invalid_data"}}, None),
    ],
)
def test_only_rounds_the_gate_decided_count_for_the_plateau(doc: dict, expected: float | None) -> None:
    assert gate_improvement(doc) == expected
