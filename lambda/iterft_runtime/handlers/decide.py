"""Decide: the promotion gate over the evaluation's metrics. Result at `$.decision`.

Besides the gate's verdict it tells the workflow whether a passing candidate must wait for a
reviewer (`approval_required`) and for how long (`approval_timeout_seconds`, whole seconds: what
the wait state's TimeoutSecondsPath reads).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.logic.gate import decide
from iterft_runtime.models.steps import DecisionResult, RoundState, dump, required

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    lineage, evaluation = doc.lineage, required(doc.evaluation, "evaluation")
    decision = decide(
        _overall(evaluation.candidate_metrics),
        _overall(evaluation.champion_metrics),
        primary=lineage.evaluation.metric,
        min_improvement=lineage.gate.min_improvement,
        guards=lineage.evaluation.guards,
    )
    result = dump(
        DecisionResult(
            **decision.to_dict(),
            approval_required=decision.promote and lineage.approval.required,
            approval_timeout_seconds=lineage.approval.timeout_seconds,
        )
    )
    logger.info("gate decided", extra={"lineage": lineage.name, "iteration": doc.iteration, **result})
    return result


def _overall(metrics: dict[str, Any]) -> dict[str, float]:
    """`{name: {"overall": x, ...}}` -> `{name: x}`: the gate compares overall scores."""
    return {name: float(summary["overall"]) for name, summary in metrics.items()}
