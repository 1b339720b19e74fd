"""`iterft retire`: take a lineage out of service for good, and put back a serving pointer that is missing.

Retiring (README, "Retiring a lineage"): refused while a round runs or uploads are queued; otherwise
the lineage is marked retired in the registry (who, when, why: from then on no round starts and the
trigger refuses its uploads, recorded as `refused` and notified), its serving capacity is deleted and
its serving pointer deleted, so that an application still reading it fails loudly (ParameterNotFound)
instead of invoking a model nothing serves. Its registry items, custom models and data stay for the
record. Every step can be repeated: retiring a retired lineage finishes what an interrupted run left.

Restoring (`iterft repair`): a pointer that is missing (a stack deployed before the pointers became
custom resources loses them in its first update's cleanup) is put back with what the registry says
serves: the last promotion's or rollback's model, else the lineage's starting point. Never overwrites.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from iterft_runtime import naming
from iterft_runtime.dal import bedrock
from iterft_runtime.dal.registry import Registry
from iterft_runtime.logic.dispatch import timestamp
from iterft_runtime.logic.reconcile import expected_pointer
from iterft_runtime.models.capacity import Capacity
from iterft_runtime.models.lineage import LineageConfig, starting_point

from iterft.history import deployed_config, lineage_names, parameter_value
from iterft.target import Deployment, TargetError


@dataclass(frozen=True)
class Retirement:
    """What `iterft retire` deletes (shown before asking) and, once done, what it did."""

    lineage: str
    configured: bool
    """Still in the deployed config: remove it and deploy once retired."""
    capacity: Capacity | None
    pointer_name: str
    pointer_value: str | None
    retired_at: str | None = None
    retired_by: str | None = None

    def plan_lines(self) -> list[str]:
        what = self.capacity.arn if self.capacity else "none recorded"
        return [
            f"{self.lineage}: serving capacity to delete: {what}",
            f"{self.lineage}: serving pointer to delete: {self.pointer_name} "
            f"({self.pointer_value or 'already missing'})",
            f"{self.lineage}: kept for the record: its registry items, custom models and data",
        ]


def plan_retirement(deployment: Deployment, lineage: str) -> Retirement:
    """What retiring `lineage` would delete; a TargetError when it must not be retired now."""
    registry = Registry(deployment.table_name)
    state = registry.get_state(lineage)
    config = deployed_config(deployment, lineage)
    pointer = naming.serving_parameter_name(deployment.stack_name, lineage)
    value = parameter_value(deployment, pointer)
    if state is None and config is None and value is None:
        known = ", ".join(lineage_names(deployment)) or "none"
        raise TargetError(
            f"unknown lineage {lineage!r}: stack {deployment.stack_name}'s config, registry and serving "
            f"pointers do not have it (lineages: {known})"
        )
    if state is not None and not state.retired_at:
        if state.lock_owner is not None:
            raise TargetError(
                f"{lineage}: iteration {state.lock_owner} is running; retire it once the round has ended "
                f"(iterft status {lineage})"
            )
        queued = registry.queued_uploads(lineage)
        if queued:
            listed = "; ".join(entry.dataset.s3_uri for entry in queued)
            raise TargetError(
                f"{lineage}: {len(queued)} upload(s) queued ({listed}); withdraw each first "
                f"(iterft withdraw {lineage} --upload KEY?versionId=V --reason TEXT), then retire"
            )
    capacity = state.serving_capacity if state else None
    return Retirement(
        lineage=lineage,
        configured=config is not None,
        capacity=Capacity.from_dict(capacity) if capacity else None,
        pointer_name=pointer,
        pointer_value=value,
        retired_at=state.retired_at if state else None,
        retired_by=state.retired_by if state else None,
    )


def retire_lineage(deployment: Deployment, plan: Retirement, reason: str) -> Retirement:
    """Record the retirement (unless recorded), delete the serving capacity, then the pointer."""
    registry = Registry(deployment.table_name)
    lineage = plan.lineage
    if plan.retired_at is None:
        config = deployed_config(deployment, lineage)
        starting = config.base_model if config else plan.pointer_value or "unknown"
        by = deployment.client("sts").get_caller_identity()["Arn"]
        at = timestamp(datetime.now(UTC))
        if not registry.retire(lineage, at=at, by=by, reason=reason, starting_model=starting):
            raise TargetError(f"{lineage}: a round started meanwhile; retire it once the round has ended")
        plan = replace(plan, retired_at=at, retired_by=by)
    if plan.capacity is not None:
        bedrock.delete_capacity(plan.capacity.kind, plan.capacity.arn)
        registry.forget_serving(lineage)
    ssm = deployment.client("ssm")
    with suppress(ssm.exceptions.ParameterNotFound):
        ssm.delete_parameter(Name=plan.pointer_name)
    return plan


def restore_pointer(deployment: Deployment, config: LineageConfig, *, dry_run: bool) -> str | None:
    """Put back the lineage's serving pointer when it is missing; the line saying so, or None when the
    pointer exists (or the lineage is retired: its pointer was deleted on purpose)."""
    name = naming.serving_parameter_name(deployment.stack_name, config.name)
    if parameter_value(deployment, name) is not None:
        return None
    state = Registry(deployment.table_name).get_state(config.name)
    if state is not None and state.retired_at:
        return None
    value = expected_pointer(state) or starting_point(config)
    what = f"serving pointer {name} was missing: " + ("would put back" if dry_run else "put back")
    line = f"{config.name}: restore_pointer: {what} {value} (what the registry says serves)"
    if dry_run:
        return line
    ssm = deployment.client("ssm")
    try:
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=False)
    except ssm.exceptions.ParameterAlreadyExists:
        return None  # put back meanwhile (a promotion): its value stands
    return line
