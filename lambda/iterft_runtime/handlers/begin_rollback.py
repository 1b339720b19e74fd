"""Begin rollback: the first step of an `iterft rollback` execution (input `$.rollback`:
`to_iteration`, `requested_by`, `reason`). Checks the earlier iteration can serve again and hands the
rest of the workflow what a promotion needs: `$.promotion` (its model and recorded scores, decision
`rolled_back`) and `$.decision` (what Record outcome records). The swap itself is the promotion's:
Swap serving model, the same polls, Promote. Result at `$` (the input with both keys added).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal.registry import LockNotHeldError, Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.serving import rollback_refusal
from iterft_runtime.models.records import Decision
from iterft_runtime.models.steps import DecisionResult, Promotion, RoundState, dump, required

logger = Logger()


class RollbackRefusedError(ValueError):
    """The iteration cannot serve again (never promoted, model deleted, already the champion)."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    name, iteration = doc.lineage.name, doc.iteration
    request = required(doc.rollback, "rollback")
    to_iteration = request.to_iteration
    registry = Registry(settings.table_name())
    state = registry.get_state(name)
    if state is None or state.lock_owner != iteration:
        raise LockNotHeldError(f"{name}: rollback #{iteration} does not hold the lock")
    target = registry.get_iteration(name, to_iteration)
    refusal = rollback_refusal(target, state, to_iteration)
    if refusal or target is None or not target.output_model_arn:
        raise RollbackRefusedError(refusal)
    reason = f"rolled back to #{to_iteration} by {request.requested_by}: {request.reason}"
    promotion = Promotion(
        model_arn=target.output_model_arn,
        score=target.eval_score,
        metrics=target.metrics,
        eval_set_version=target.eval_set_version,
        metric=target.metric,
        decision=Decision.ROLLED_BACK.value,
        champion_iteration=to_iteration,
    )
    decision = DecisionResult(promote=True, decision=Decision.ROLLED_BACK.value, reason=reason)
    logger.info("rollback begun", extra={"lineage": name, "iteration": iteration, "to": to_iteration})
    # The input passes on as it came (the lineage's config as sent), with the two sections added.
    return {**event, "promotion": dump(promotion), "decision": dump(decision)}
