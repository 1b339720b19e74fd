"""Decide: the promotion gate over the evaluation's metrics. Result at `$.decision`.

The gate pairs both models' per-record scores (the record-scores documents Aggregate evaluation names,
`$.evaluation.candidate_scores_uri` and `champion_scores_uri`): every delta gets its confidence interval
(paired bootstrap, seeded by the round), the lineage's `gate.decide_on` says whether the gate reads the
interval or the mean, and the result carries the yardstick's power (`power`: the smallest improvement
the set can detect, and the records min_improvement would need).

Besides the gate's verdict it tells the workflow whether a passing candidate must wait for a
reviewer (`approval_required`) and for how long (`approval_timeout_seconds`, whole seconds: what
the wait state's TimeoutSecondsPath reads).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal import storage
from iterft_runtime.logic.gate import gate_round
from iterft_runtime.models.steps import DecisionResult, RoundState, dump, required

logger = Logger()


class RecordScoresMissingError(RuntimeError):
    """A model's per-record scores the evaluation named are not there: the gate cannot pair them."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    lineage, evaluation = doc.lineage, required(doc.evaluation, "evaluation")
    judged = gate_round(
        lineage,
        doc.iteration,
        _overall(evaluation.candidate_metrics),
        _overall(evaluation.champion_metrics),
        _read(required(evaluation.candidate_scores_uri, "evaluation.candidate_scores_uri")),
        _read(required(evaluation.champion_scores_uri, "evaluation.champion_scores_uri")),
    )
    decision = judged.decision
    result = dump(
        DecisionResult(
            **decision.to_dict(),
            power=judged.power.to_dict(),
            approval_required=decision.promote and lineage.approval.required,
            approval_timeout_seconds=lineage.approval.timeout_seconds,
        )
    )
    logger.info("gate decided", extra={"lineage": lineage.name, "iteration": doc.iteration, **result})
    return result


def _read(uri: str) -> dict[str, Any]:
    bucket, key = storage.split_uri(uri)
    document = storage.read_json(bucket, key)
    if not isinstance(document, dict):
        raise RecordScoresMissingError(f"{uri}: no per-record scores")
    return document


def _overall(metrics: dict[str, Any]) -> dict[str, float]:
    """`{name: {"overall": x, ...}}` -> `{name: x}`: the gate compares overall scores."""
    return {name: float(summary["overall"]) for name, summary in metrics.items()}
