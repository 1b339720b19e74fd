"""Decide: the promotion gate over the evaluation's scores. Result at `$.decision`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.logic.gate import decide
from iterft_runtime.models.lineage import LineageConfig

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    lineage = LineageConfig.model_validate(event["lineage"])
    evaluation = event["evaluation"]
    decision = decide(
        float(evaluation["candidate_score"]),
        float(evaluation["champion_score"]),
        lineage.gate.min_improvement,
    )
    logger.info(
        "gate decided", extra={"lineage": lineage.name, "iteration": event["iteration"], **decision.to_dict()}
    )
    return decision.to_dict()
