"""Finish iteration: the record, the plateau rule, the lock, the notification, the metrics and the cost.

Each handler gets the state document the workflow would pass it (round_support builds it).
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from iterft_runtime import naming
from iterft_runtime.handlers import decide, finish, promote, settings
from round_support import (
    begun,
    decided_round,
    dispatched,
    evaluated,
    metrics,
    per_record,
    priced,
    published_metrics,
    swapped,
    validated,
    with_capacity,
)
from runtime_support import BASE_MODEL, BUCKET, LINEAGE, Aws, FakeBedrock

pytest_plugins = ("runtime_fixtures", "step_contract_fixtures", "round_fixtures")


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
    # Both models' records swing alike (round_support.per_record): every paired difference is the mean's.
    assert history["deltas"] == {
        "token_f1": {"delta": 0.11, "ci_low": 0.11, "ci_high": 0.11},
        "exact_match": {"delta": 0.0, "ci_low": 0.0, "ci_high": 0.0},
        "rouge_l": {"delta": 0.0, "ci_low": 0.0, "ci_high": 0.0},
    }
    assert history["gate"] == [
        {"rule": "primary token_f1 +0.1100 [+0.1100, +0.1100]: lower bound >= 0.0200", "passed": True}
    ]
    assert history["inconclusive"] is False and history["power"]["records"] == 20
    assert history["converged"] is False


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

    [document] = published_metrics(capsys.readouterr().out)
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
    [document] = published_metrics(capsys.readouterr().out)
    assert [metric["Name"] for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == [
        "RoundsInvalidData"
    ]
    assert document[naming.METRIC_LINEAGE_DIMENSION] == LINEAGE


def test_each_round_publishes_under_its_own_lineage_even_with_metrics_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With POWERTOOLS_METRICS_DISABLED (the demo's setting), Powertools never flushes, so never clears:
    the next round of another lineage must not find the previous round's dimension (a warning, then an
    overwrite) nor its metrics."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for lineage in ("support-bot", "support-distilled"):
                finish._publish_metrics(lineage, {}, "invalid_data")
                finish.metrics.flush_metrics()
        assert finish.metrics.provider.dimension_set[naming.METRIC_LINEAGE_DIMENSION] == "support-distilled"
        assert list(finish.metrics.provider.metric_set) == ["RoundsInvalidData"]
        assert len(finish.metrics.provider.metric_set["RoundsInvalidData"]["Value"]) == 1
    finally:
        finish.metrics.clear_metrics()


# -- cost ----------------------------------------------------------------------------------------


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


def provisioned_for_an_hour(doc: dict[str, Any]) -> dict[str, Any]:
    """The round evaluated on one model unit of provisioned throughput created an hour before Finish."""
    capacity = {
        "kind": "provisioned",
        "name": f"bot-it{doc['iteration']:04d}-eval",
        "arn": doc["capacity"]["candidate_model"],
        "model_arn": doc["training"]["output_model_arn"],
        "role": "candidate",
        "model_units": 1,
        "created_at": "2026-11-25T09:30:00.000Z",
    }
    return {**doc, "capacity": {**doc["capacity"], "evaluation": [capacity]}}


def test_finish_records_the_cost_per_point_and_a_dearer_gain_counts_as_marginal(
    aws: Aws, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$2.16 a round (as above). +0.20 is 20 points: $0.108 a point, over a limit of $0.05: marginal. A
    round that did not improve has no price per point (it bought none)."""
    monkeypatch.setattr(settings, "now", lambda: "2026-11-25T10:30:00.000Z")
    limited = {"min_improvement": 0.02, "max_cost_per_point_usd": 0.05, "plateau_rounds": 2}
    converged = []
    for n, (candidate, champion) in enumerate([(0.7, 0.5), (0.5, 0.5), (0.9, 0.7)], start=1):
        doc = priced(evaluated(begun(dispatched(aws, f"{n}.jsonl")), candidate=candidate, champion=champion))
        doc = provisioned_for_an_hour({**doc, "lineage": {**doc["lineage"], "gate": limited}})
        doc["decision"] = decide.handler(doc, None)
        doc["outcome"] = {"decision": doc["decision"]["decision"], "reason": doc["decision"]["reason"]}
        finish.handler(doc, None)
        record = aws.registry.get_iteration(LINEAGE, n)
        assert record is not None
        converged.append((record.decision, record.cost_per_point_usd, record.converged))
    assert converged == [
        ("promoted", pytest.approx(0.108), False),  # a gain, dearer than the limit: marginal (1)
        ("rejected", None, True),  # no gain, shown: marginal (2), converged
        ("promoted", pytest.approx(0.108), True),  # dearer again: still marginal
    ]
    first = aws.registry.get_iteration(LINEAGE, 1)
    assert first is not None and first.reason is not None
    assert (
        "cost of progress: $0.1080 per point of improvement, more than gate.max_cost_per_point_usd $0.05"
        in (first.reason)
    )
    assert first.to_history()["cost_per_point_usd"] == pytest.approx(0.108)


def test_finish_counts_a_round_as_marginal_only_when_its_interval_shows_the_change_small(
    aws: Aws, fake: FakeBedrock
) -> None:
    """A mean change of 0 on records that moved both ways (interval about +-0.2) is not shown small: the
    count restarts; the same mean with every record unchanged is marginal."""
    gate = {"min_improvement": 0.02, "plateau_rounds": 2}
    churned = {"token_f1": [1.0, 0.0] * 10, "exact_match": per_record(0.5), "rouge_l": per_record(0.5)}
    steady = {"token_f1": [0.0, 1.0] * 10, "exact_match": per_record(0.5), "rouge_l": per_record(0.5)}
    counts = []
    for n, candidate_records in enumerate([steady, churned, steady, steady], start=1):
        doc = evaluated(
            begun(dispatched(aws, f"{n}.jsonl")),
            candidate=0.5,
            champion=0.5,
            candidate_records=candidate_records,
            champion_records=steady,
        )
        doc = {**doc, "lineage": {**doc["lineage"], "gate": gate}}
        doc["decision"] = decide.handler(doc, None)
        doc["outcome"] = {"decision": doc["decision"]["decision"], "reason": doc["decision"]["reason"]}
        finish.handler(doc, None)
        state = aws.registry.get_state(LINEAGE)
        assert state is not None
        counts.append((state.marginal_rounds, state.converged))
    assert counts == [(1, False), (0, False), (1, False), (2, True)]
    churn = aws.registry.get_iteration(LINEAGE, 2)
    assert churn is not None and churn.deltas["token_f1"]["ci_high"] > 0.02 and churn.regression is None


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
