"""dal/gaps.py against moto: which rounds' documents it reads and whose answers it lists, from the
registry's records and the evaluation documents in S3 as Aggregate evaluation writes them."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from iterft_runtime import naming
from iterft_runtime.dal.gaps import lineage_gaps
from iterft_runtime.dal.registry import to_dynamo
from iterft_runtime.dal.storage import ObjectNotFoundError
from iterft_runtime.logic.gaps import GapAnalysisError, GapOptions
from iterft_runtime.models.gaps import AnswerSource
from runtime_support import LINEAGE, Aws

pytest_plugins = ("runtime_fixtures",)


def _row(line: int, category: str, candidate: float, champion: float | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "line": line,
        "category": category,
        "prompt": f"q{line}",
        "reference": f"r{line}",
        "candidate_answer": f"candidate says {line}",
        "candidate_score": candidate,
        "candidate_metrics": {"token_f1": candidate},
    }
    if champion is not None:
        row |= {
            "champion_answer": f"champion says {line}",
            "champion_score": champion,
            "champion_metrics": {"token_f1": champion},
        }
    return row


def _metrics(rows: list[dict[str, Any]], role: str) -> dict[str, Any]:
    by_category: dict[str, list[float]] = {}
    for row in rows:
        by_category.setdefault(row["category"], []).append(row[f"{role}_metrics"]["token_f1"])
    every = [score for scores in by_category.values() for score in scores]
    return {
        "token_f1": {
            "overall": sum(every) / len(every),
            "by_category": {name: sum(scores) / len(scores) for name, scores in by_category.items()},
        }
    }


def _round(
    aws: Aws, iteration: int, decision: str, parent: int, version: str, rows: list[dict[str, Any]]
) -> None:
    """An evaluated round as Aggregate evaluation and Finish leave it: its documents and its record."""
    reused = "champion_answer" not in rows[0]
    results = naming.evaluation_results_key(LINEAGE, iteration)
    aws.upload(results, "".join(json.dumps(row) + "\n" for row in rows).encode())
    metrics = naming.evaluation_metrics_key(LINEAGE, iteration)
    document = {
        "metric": "token_f1",
        "eval_set_version": version,
        "champion_reused": reused,
        "candidate": _metrics(rows, "candidate"),
        "champion": {"token_f1": {"overall": 0.0, "by_category": {}}}
        if reused
        else _metrics(rows, "champion"),
    }
    aws.upload(metrics, json.dumps(document).encode())
    _put(
        aws,
        naming.iteration_sk(iteration),
        iteration=iteration,
        decision=decision,
        parent_iteration=parent,
        eval_set_version=version,
        metrics_uri=f"s3://{aws.bucket}/{metrics}",
        results_uri=f"s3://{aws.bucket}/{results}",
    )


def _put(aws: Aws, sort_key: str, **item: Any) -> None:
    table = boto3.resource("dynamodb").Table(aws.table)
    table.put_item(Item=to_dynamo({"pk": naming.lineage_pk(LINEAGE), "sk": sort_key, **item}))


def _champion(aws: Aws, iteration: int) -> None:
    _put(aws, naming.STATE_SK, champion_model=f"model-{iteration}", champion_iteration=iteration)


V1_ROWS = [_row(1, "billing", 0.5, 0.2), _row(2, "billing", 0.9, 0.4), _row(3, "storage", 0.3, 0.6)]
V2_ROWS = [_row(1, "billing", 0.6, 0.1), _row(2, "storage", 0.2, 0.7), _row(3, "storage", 1.0, 0.3)]


def test_no_evaluated_round_no_analysis(aws: Aws) -> None:
    _champion(aws, 0)
    _put(aws, naming.iteration_sk(1), iteration=1, decision="invalid_data")
    assert lineage_gaps(aws.table, LINEAGE, "token_f1") is None


def test_a_rejected_round_lists_the_champion_it_faced(aws: Aws) -> None:
    _round(aws, 1, "promoted", 0, "v1", V1_ROWS)
    _round(aws, 2, "rejected", 1, "v2", V2_ROWS)  # a new set version: the champion answered again
    _champion(aws, 1)
    analysis = lineage_gaps(aws.table, LINEAGE, "token_f1", GapOptions(per_category=1))
    assert analysis is not None
    assert (analysis.iteration, analysis.champion_iteration, analysis.eval_set_version) == (2, 1, "v2")
    assert analysis.answers_from == AnswerSource(iteration=2, role="champion")
    # Champion on v2: billing 0.1, storage (0.7 + 0.3) / 2 = 0.5; only v2's round in the trend.
    assert [(gap.category, gap.score) for gap in analysis.categories] == [("billing", 0.1), ("storage", 0.5)]
    storage = analysis.categories[1]
    assert [(r.line, r.answer, r.score) for r in storage.worst] == [(3, "champion says 3", 0.3)]
    assert [point.iteration for point in storage.trend] == [2] and storage.change is None


def test_after_a_rollback_to_a_model_last_scored_on_an_older_set_that_set_is_read(aws: Aws) -> None:
    _round(aws, 1, "promoted", 0, "v1", V1_ROWS)
    _round(aws, 2, "promoted", 1, "v2", V2_ROWS)
    _put(aws, naming.iteration_sk(3), iteration=3, decision="rolled_back", rollback_of=1)
    _champion(aws, 1)
    analysis = lineage_gaps(aws.table, LINEAGE, "token_f1")
    assert analysis is not None
    assert (analysis.iteration, analysis.champion_iteration, analysis.eval_set_version) == (1, 1, "v1")
    assert analysis.answers_from == AnswerSource(iteration=1, role="candidate")
    # Round 1's candidate: billing (0.5 + 0.9) / 2 = 0.7, storage 0.3.
    assert [(gap.category, gap.score) for gap in analysis.categories] == [
        ("storage", 0.3),
        ("billing", pytest.approx(0.7)),
    ]
    assert [r.answer for r in analysis.categories[1].worst] == ["candidate says 1", "candidate says 2"]


def test_a_metric_the_round_did_not_compute_or_deleted_results_are_errors(aws: Aws) -> None:
    _round(aws, 1, "promoted", 0, "v1", V1_ROWS)
    _champion(aws, 1)
    with pytest.raises(GapAnalysisError, match="did not score the candidate with judge"):
        lineage_gaps(aws.table, LINEAGE, "judge")
    aws.client("s3").delete_object(Bucket=aws.bucket, Key=naming.evaluation_results_key(LINEAGE, 1))
    with pytest.raises(ObjectNotFoundError, match=r"results\.jsonl does not exist"):
        lineage_gaps(aws.table, LINEAGE, "token_f1")
