"""Release evaluation capacity: a rejected candidate's deployment or provisioned throughput (and the
champion's, when the round had to deploy it) is deleted as soon as the decision is taken.
Result discarded."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal import bedrock
from iterft_runtime.logic.rounds import round_input
from iterft_runtime.logic.serving import evaluation_capacities

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    given = round_input(event)
    released = bedrock.release_capacities(evaluation_capacities(event))
    logger.info(
        "evaluation capacity released",
        extra={"lineage": given.lineage.name, "iteration": given.iteration, "released": released},
    )
    return {"released": released}
