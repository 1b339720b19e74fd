"""Clean up a failed round: stop its jobs, delete the capacity it created, say why it failed.

Best effort by design: this step runs on the failure path and must reach Finish (which releases
the lineage's lock), so a cleanup action that fails is reported in the reason, not raised. Only its
first registry reads raise, before anything is done: whether a promotion committed decides what may be
deleted, so they cannot be guessed; a transient error there is retried by the step (stacks/retries.py),
which otherwise would end the execution without Finish, its lineage locked until the reconciler.
Result at `$.outcome`.

What the round may have created, found even when the step that created it failed before its result
reached the state document (names are deterministic): the customization job, the Bedrock evaluation
jobs (lineages with `evaluation.managed_job`; they bill inference while they run), the candidate's and
the champion's evaluation capacity, and the serving capacity a first promotion was creating. A job
that completed although the round failed (Fine-tune gave up waiting for it) has its model recorded on
the iteration (`output_model_arn`), so Apply retention deletes it like any failed round's candidate. The
lineage's committed serving capacity is never touched: if the promotion committed before the
failure, the round is promoted, the serving pointer is published again and only its evaluation
capacity (except what serves) is released.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal import bedrock, serving_pointer
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.rounds import readable_cause
from iterft_runtime.logic.serving import NoEvaluationCapacityError, evaluation_capacity_kind
from iterft_runtime.models.capacity import Capacity, CapacityKind, CapacityRole
from iterft_runtime.models.records import Decision
from iterft_runtime.models.steps import Outcome, RoundState, dump

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    name, iteration, begun = doc.lineage.name, doc.iteration, doc.round
    cause = readable_cause(dump(doc.error) if doc.error else None)
    registry = Registry(settings.table_name())
    state = registry.get_state(name)
    record = registry.get_iteration(name, iteration)
    committed = record is not None and record.decision in (Decision.PROMOTED, Decision.ROLLED_BACK)
    serving = Capacity.from_dict(state.serving_capacity) if state and state.serving_capacity else None
    leftovers: list[str] = []

    job_name = begun.job_name if begun else None
    if job_name:
        _attempt(
            leftovers,
            f"stop or record job {job_name}",
            lambda: _settle_job(job_name, lambda fields: registry.update_iteration(name, iteration, fields)),
        )
    if doc.lineage.evaluation.managed_job is not None:
        started = (
            {job.job_name: job.job_arn for job in doc.managed_evaluation.jobs}
            if doc.managed_evaluation
            else {}
        )
        evaluation_jobs = (
            [begun.candidate_evaluation_job_name, begun.champion_evaluation_job_name] if begun else []
        )
        for evaluation_job in evaluation_jobs:
            if evaluation_job:
                _attempt(
                    leftovers,
                    f"stop evaluation job {evaluation_job}",
                    partial(_stop_evaluation_job, evaluation_job, started.get(evaluation_job)),
                )
    for capacity in _created_by_round(doc):
        if serving is not None and capacity.arn and capacity.arn == serving.arn:
            continue  # adopted by the committed promotion: it serves now
        if committed and capacity.role is CapacityRole.SERVING:
            continue
        _attempt(leftovers, f"delete {capacity.kind} {capacity.name}", partial(_delete, capacity))
    if committed and state is not None:
        # The promotion committed, then a later step failed (perhaps publishing the pointer): finish it.
        pointer = state.serving_model_id or state.champion_model
        _attempt(
            leftovers,
            "publish the serving pointer",
            lambda: serving_pointer.publish(settings.serving_parameter(name), pointer),
        )
    target = doc.swap_target()
    if not committed and serving is not None and target is not None and target.arn == serving.arn:
        # An in-place update was asked for and the round failed: keep the champion in service.
        _attempt(leftovers, f"keep {serving.name} on the champion", lambda: _keep_serving(serving))

    incomplete = f"; clean-up incomplete: {'; '.join(leftovers)}" if leftovers else ""
    if committed and record is not None:
        # The promotion committed before the failure: the model is the champion and serves.
        outcome = dump(
            Outcome(
                decision=record.decision,
                reason=f"{record.decision}; a later step failed: {cause}{incomplete}",
            )
        )
    else:
        outcome = dump(Outcome(decision=Decision.FAILED.value, reason=f"{cause}{incomplete}"))
    logger.info("failed round cleaned up", extra={"lineage": name, "iteration": iteration, **outcome})
    return outcome


def _created_by_round(doc: RoundState) -> list[Capacity]:
    """Everything the round created or may have created: what the state document lists, plus the
    deterministic names of capacity whose creation may have happened without reaching it."""
    name, iteration, begun = doc.lineage.name, doc.iteration, doc.round
    listed = doc.evaluation_capacities()
    target = doc.swap_target()
    if target is not None:
        listed.append(target)
    try:
        kinds = [evaluation_capacity_kind(doc.lineage, settings.region())]
    except NoEvaluationCapacityError:
        kinds = list(CapacityKind)  # cannot tell which: look for both
    named = (
        [
            (CapacityRole.CANDIDATE, begun.candidate_capacity_name),
            (CapacityRole.CHAMPION, begun.champion_capacity_name),
        ]
        if begun
        else []
    )
    for role, capacity_name in named:
        if capacity_name:
            listed += [
                Capacity(kind=kind, name=capacity_name, arn="", model_arn="", role=role) for kind in kinds
            ]
    if doc.promotion:
        for serving_kind in CapacityKind:
            listed.append(
                Capacity(
                    kind=serving_kind,
                    name=naming.serving_capacity_name(name, iteration, settings.stack_name()),
                    arn="",
                    model_arn="",
                    role=CapacityRole.SERVING,
                )
            )
    unique: dict[tuple[str, str], Capacity] = {}
    for capacity in listed:
        unique.setdefault((capacity.kind, capacity.name), capacity)
    return list(unique.values())


def _keep_serving(serving: Capacity) -> None:
    """Swap the champion back in if the serving capacity was left on (or moving to) another model."""
    status = bedrock.describe_capacity(serving.kind, serving.arn)
    if status is None:
        return
    moving_elsewhere = status.desired_model_arn not in (None, serving.model_arn)
    if status.model_arn != serving.model_arn or moving_elsewhere:
        bedrock.swap_model(serving)


def _delete(capacity: Capacity) -> None:
    bedrock.delete_capacity(capacity.kind, capacity.arn or capacity.name)


def _settle_job(job_name: str, record: Callable[[dict[str, Any]], None]) -> None:
    """Stop the round's job if it still trains; if it completed (perhaps while the round was failing:
    Fine-tune gave up polling it), record its model on the iteration, so retention deletes it."""
    job = bedrock.find_customization_job(job_name)
    if job is None:
        return
    if job.status == bedrock.IN_PROGRESS:
        bedrock.stop_customization_job(job_name)
    elif job.output_model_arn:
        record({"job_arn": job.arn, "output_model_arn": job.output_model_arn})


def _stop_evaluation_job(job_name: str, job_arn: str | None) -> None:
    """Stop the round's evaluation job if it runs; by name when its ARN never reached the state."""
    if job_arn is None:
        found = bedrock.find_evaluation_job(job_name)
        if found is None or found.status != bedrock.IN_PROGRESS:
            return
        job_arn = found.arn
    bedrock.stop_evaluation_job(job_arn)


def _attempt(leftovers: list[str], action: str, run: Callable[[], None]) -> None:
    try:
        run()
    except Exception as error:  # reported, not raised: see the module docstring
        logger.exception("clean-up action failed", extra={"action": action})
        leftovers.append(f"could not {action}: {error}")
