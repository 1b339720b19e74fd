"""Serving decisions, plain Python: what capacity evaluation needs, how a promotion swaps the serving
model in place, what a round must delete, which custom models retention keeps.

Bedrock's rules these follow (its user guide; docs/capabilities.md): a custom model is invocable only
through a custom model deployment (on-demand, for the models and regions the capability table lists)
or a provisioned throughput; both can swap
in another model of the same base in place (UpdateCustomModelDeployment,
UpdateProvisionedModelThroughput); a provisioned throughput with a commitment cannot be deleted
before its term ends, so evaluation never buys one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from iterft_runtime.models.capacity import (
    Capacity,
    CapacityKind,
    CapacityRole,
    CapacityStatus,
    Readiness,
)
from iterft_runtime.models.lineage import LineageConfig, ServingConfig, ServingMode
from iterft_runtime.models.records import Decision, IterationRecord, LineageState

EVALUATION_MODEL_UNITS = 1
"""Evaluation capacity on provisioned throughput: one model unit, no commitment (hourly, deletable)."""


class NoEvaluationCapacityError(ValueError):
    """The lineage's model can be neither deployed on demand nor provisioned in this region."""


def evaluation_capacity_kind(lineage: LineageConfig, region: str) -> CapacityKind:
    """The cheapest way a candidate of the lineage can answer the evaluation set in `region`: on-demand
    where the model has it there (no hourly charge), else one no-commitment model unit (the capability
    table's `evaluation_capacity`; synth refuses a lineage that has neither)."""
    row = lineage.model_capabilities()
    kind = row.evaluation_capacity(region) if row is not None else None
    if kind is None:
        raise NoEvaluationCapacityError(
            f"lineage {lineage.name}: {lineage.base_model} has no evaluation capacity in {region} "
            "(neither on-demand deployment nor provisioned throughput)"
        )
    return kind


def serving_capacity_kind(mode: ServingMode) -> CapacityKind | None:
    return {
        ServingMode.ON_DEMAND: CapacityKind.DEPLOYMENT,
        ServingMode.PROVISIONED: CapacityKind.PROVISIONED,
    }.get(mode)


def readiness(capacity: Capacity, status: CapacityStatus) -> tuple[Readiness, str]:
    """Whether `capacity` now serves exactly its model: ready, still on its way, or failed (and why)."""
    label = f"{capacity.kind} {capacity.name}"
    if status.status == "Failed" or status.update_status == "UpdateFailed":
        detail = f": {status.failure}" if status.failure else ""
        return Readiness.FAILED, f"{label} is Failed{detail}"
    in_service = "Active" if capacity.kind is CapacityKind.DEPLOYMENT else "InService"
    updating = status.update_status == "Updating" or status.status == "Updating"
    if status.status == in_service and not updating and status.model_arn == capacity.model_arn:
        return Readiness.READY, f"{label} serves {capacity.model_arn}"
    return Readiness.PENDING, f"{label} is {status.update_status or status.status}"


class SwapAction(StrEnum):
    NONE = "none"
    """Serving mode none: the registry changes, nothing serves."""
    ADOPT = "adopt"
    """The candidate's evaluation throughput already is what serving needs (same model units, no
    commitment): it becomes the serving one instead of buying a second. Deployments are not adopted:
    an on-demand deployment costs nothing while idle, so serving gets its own, named for serving."""
    UPDATE = "update"
    """The lineage's serving capacity swaps in the candidate's model in place (no gap in service)."""
    CREATE = "create"
    """The first promotion (or a change of serving mode): create the serving capacity."""


@dataclass(frozen=True)
class SwapPlan:
    action: SwapAction
    target: Capacity | None
    """The serving capacity once the swap is done (None: mode none)."""
    replaced: Capacity | None
    """A serving capacity of another kind, deleted once the new one serves (after a mode change)."""


def plan_swap(
    serving: ServingConfig,
    current: Capacity | None,
    candidate_capacity: Capacity | None,
    model_arn: str,
    new_name: str,
) -> SwapPlan:
    """How the lineage's serving capacity comes to serve `model_arn`.

    `current` is the serving capacity the registry records; `candidate_capacity` the candidate's
    evaluation capacity (a throughput is adopted when it is exactly what serving needs).
    """
    kind = serving_capacity_kind(serving.mode)
    if kind is None:
        return SwapPlan(SwapAction.NONE, None, current)
    if current is not None and current.kind is kind:
        return SwapPlan(SwapAction.UPDATE, replace(current, model_arn=model_arn), None)
    commitment = serving.provisioned_commitment.api_value if kind is CapacityKind.PROVISIONED else None
    units = serving.provisioned_model_units if kind is CapacityKind.PROVISIONED else 0
    if (
        kind is CapacityKind.PROVISIONED
        and candidate_capacity is not None
        and candidate_capacity.kind is kind
        and candidate_capacity.model_arn == model_arn
        and candidate_capacity.model_units == units
        and candidate_capacity.commitment == commitment
    ):
        return SwapPlan(SwapAction.ADOPT, replace(candidate_capacity, role=CapacityRole.SERVING), current)
    target = Capacity(
        kind=kind,
        name=new_name,
        arn="",  # known once created
        model_arn=model_arn,
        role=CapacityRole.SERVING,
        model_units=units,
        commitment=commitment,
    )
    return SwapPlan(SwapAction.CREATE, target, current)


def capacity_to_release(created: Iterable[Capacity], serving: Capacity | None) -> list[Capacity]:
    """What a round created for evaluation and must delete: all of it, except what now serves."""
    serving_arn = serving.arn if serving is not None else None
    return [capacity for capacity in created if capacity.arn and capacity.arn != serving_arn]


NEVER_SERVED = frozenset({Decision.REJECTED, Decision.FAILED, Decision.INVALID_DATA})
"""Outcomes whose candidate no promotion put in service: nothing can roll back to it."""


@dataclass(frozen=True)
class LineageModel:
    """A custom model a round of the lineage produced, as retention sees it."""

    iteration: int
    model_arn: str
    decision: str = Decision.PROMOTED.value
    """The round's outcome (promoted, rejected, failed; running while it is in flight)."""
    ended_at: datetime | None = None
    """When the round ended (None: it is in flight, or is the round applying retention)."""


def models_to_delete(
    models: Sequence[LineageModel],
    keep: int,
    protected: Iterable[str | None],
    *,
    keep_rejected_days: int = 0,
    now: datetime | None = None,
) -> list[LineageModel]:
    """Retention by role: which of the lineage's custom models to delete now.

    - a promoted model is kept while it is among the newest `keep` promoted ones (a rollback
      target), then deleted;
    - a model no promotion ever served (rejected or failed) is deleted once its round has ended,
      or `keep_rejected_days` after it ended (kept meanwhile for inspection);
    - a round in flight (`running`) keeps its model, and the protected ones are never deleted:
      the champion, the model that serves, what a running or queued round builds on.
    """
    never = {arn for arn in protected if arn}
    promoted = sorted(
        (model for model in models if model.decision == Decision.PROMOTED),
        key=lambda model: model.iteration,
        reverse=True,
    )
    doomed = {model.iteration for model in promoted[keep:]}
    kept_for = timedelta(days=keep_rejected_days)
    for model in models:
        if model.decision in NEVER_SERVED and _expired(model.ended_at, now, kept_for):
            doomed.add(model.iteration)
    return sorted(
        (model for model in models if model.iteration in doomed and model.model_arn not in never),
        key=lambda model: model.iteration,
        reverse=True,
    )


def _expired(ended_at: datetime | None, now: datetime | None, kept_for: timedelta) -> bool:
    """Whether a never-served model's inspection period is over (a zero period: as its round ends)."""
    if not kept_for:
        return True
    return ended_at is not None and now is not None and now - ended_at >= kept_for


def capacity_tags(lineage: str, iteration: int, role: CapacityRole) -> dict[str, str]:
    """Tags on everything a round creates, so an operator (or a tag-scoped policy) can tell it apart."""
    return {"iterft:lineage": lineage, "iterft:iteration": str(iteration), "iterft:role": role.value}


def rollback_refusal(
    target: IterationRecord | None, state: LineageState | None, to_iteration: int
) -> str | None:
    """Why a rollback to `to_iteration` cannot be done (None: it can): only a promoted iteration whose
    model still exists and that is not already the champion can serve again."""
    lineage = state.lineage if state else "the lineage"
    if state is None:
        return f"{lineage} has no state in the registry"
    if target is None:
        return f"{lineage} has no iteration {to_iteration}"
    if target.decision != Decision.PROMOTED or not target.output_model_arn:
        return f"{lineage} #{to_iteration} was never promoted ({target.decision}): only promoted models serve"
    if target.model_deleted_at:
        return f"{lineage} #{to_iteration}'s model was deleted by retention at {target.model_deleted_at}"
    if state.champion_iteration == to_iteration:
        return f"{lineage} #{to_iteration} is already the champion"
    return None
