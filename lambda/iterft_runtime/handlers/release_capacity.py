"""Release evaluation capacity: a rejected candidate's deployment or provisioned throughput (and the
champion's, when the round had to deploy it) is deleted as soon as the decision is taken.
Result discarded."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal import bedrock
from iterft_runtime.models.steps import ReleaseResult, RoundState, dump

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    released = bedrock.release_capacities(doc.evaluation_capacities())
    logger.info(
        "evaluation capacity released",
        extra={"lineage": doc.lineage.name, "iteration": doc.iteration, "released": released},
    )
    return dump(ReleaseResult(released=released))
