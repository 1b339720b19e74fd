"""Clean up a failed round: stop its job, delete its evaluation deployment, say why it failed.

Best effort by design: this step runs on the failure path and must reach Finish (which releases
the lineage's lock), so a cleanup action that fails is reported in the reason, not raised.
Result at `$.outcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime.dal import bedrock
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.rounds import deployment_to_retire, readable_cause, round_input
from iterft_runtime.models.records import Decision

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    given = round_input(event)
    name, iteration = given.lineage.name, given.iteration
    cause = readable_cause(event.get("error"))
    begun = event.get("round") or {}
    registry = Registry(settings.table_name())
    state = registry.get_state(name)
    promoted = state is not None and state.champion_iteration == iteration
    leftovers: list[str] = []

    job_name = begun.get("job_name")
    if job_name:
        _attempt(leftovers, f"stop job {job_name}", lambda: _stop_job(job_name))
    if promoted:
        # The swap committed, then something failed: maybe the old serving deployment's retirement.
        record = registry.get_iteration(name, iteration)
        retired = deployment_to_retire(
            record.replaced_serving_model_id if record else None, state.serving_model_id if state else None
        )
        if retired:
            _attempt(
                leftovers, f"retire replaced deployment {retired}", lambda: bedrock.delete_deployment(retired)
            )
    else:
        deployment_arn = (event.get("candidate_deployment") or {}).get("arn")
        deployment_name = begun.get("deployment_name")
        if deployment_arn or deployment_name:
            _attempt(
                leftovers,
                f"delete deployment {deployment_arn or deployment_name}",
                lambda: _delete_deployment(deployment_arn, deployment_name),
            )

    incomplete = f"; clean-up incomplete: {'; '.join(leftovers)}" if leftovers else ""
    if promoted:
        # The promotion committed before the failure: the candidate is the champion and serves.
        outcome = {
            "decision": Decision.PROMOTED.value,
            "reason": f"promoted; a later step failed: {cause}{incomplete}",
        }
    else:
        outcome = {"decision": Decision.FAILED.value, "reason": f"{cause}{incomplete}"}
    logger.info("failed round cleaned up", extra={"lineage": name, "iteration": iteration, **outcome})
    return outcome


def _stop_job(job_name: str) -> None:
    job = bedrock.find_customization_job(job_name)
    if job is not None and job.status == bedrock.IN_PROGRESS:
        bedrock.stop_customization_job(job_name)


def _delete_deployment(deployment_arn: str | None, deployment_name: str | None) -> None:
    arn = deployment_arn or (bedrock.find_deployment_arn(deployment_name) if deployment_name else None)
    if arn:
        bedrock.delete_deployment(arn)


def _attempt(leftovers: list[str], action: str, run: Callable[[], None]) -> None:
    try:
        run()
    except Exception as error:  # reported, not raised: see the module docstring
        logger.exception("clean-up action failed", extra={"action": action})
        leftovers.append(f"could not {action}: {error}")
