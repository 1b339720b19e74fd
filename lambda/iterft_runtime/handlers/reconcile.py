"""The reconciler: every few minutes (EventBridge Scheduler), or for one lineage on demand (`iterft repair`),
find what no path of the workflow may leave behind and repair it (logic/reconcile.py says what and why).

Cheap when there is nothing to do: one registry Query per lineage and one read of the serving pointers;
DescribeExecution only for a locked lineage; Bedrock's lists only when an iteration ended since the last
sweep (or for `iterft repair`, which always sweeps). Each repair is recorded in the lineage's partition
(`REPAIR#...`, shown by `iterft status`) and notified, one message per lineage. A repair that fails is
recorded with its error and the others go on; the next run tries again.

Payload: `{}` (the schedule), or `{"lineage": NAME, "dry_run": bool}`. Result: `{"dry_run", "lineages",
"swept", "repairs": [{...Repair, "error"}]}`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from iterft_runtime.dal import bedrock, inventory, notifier
from iterft_runtime.dal.repairs import RepairRegistry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.cost import parse_time
from iterft_runtime.logic.reconcile import (
    Context,
    Inventory,
    ReconcileRequest,
    Repair,
    RepairKind,
    failed_reason,
    lock_execution,
    needs_inventory,
    plan,
    repair_notification,
    sweep_point,
)
from iterft_runtime.models.capacity import CapacityKind
from iterft_runtime.models.lineage import LineageConfig

logger = Logger()


class UnknownLineageError(LookupError):
    """`iterft repair` named a lineage the stack does not have."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ReconcileRequest.from_event(event)
    lineages = _lineages(request)
    registry = RepairRegistry(settings.table_name())
    now = settings.now()
    moment = parse_time(now)
    snapshots = {name: registry.snapshot(name) for name in lineages}
    executions = {}
    for name, snapshot in snapshots.items():
        arn = lock_execution(snapshot)
        if arn is not None:
            executions[name] = inventory.execution_status(arn)
    swept = [
        name
        for name, snapshot in snapshots.items()
        if request.full_sweep or needs_inventory(snapshot, executions.get(name), moment)
    ]
    listed = inventory.bedrock_inventory() if swept else None
    pointers = inventory.serving_pointers(settings.serving_parameter_prefix())
    results: list[dict[str, Any]] = []
    for name, snapshot in snapshots.items():
        repairs = plan(
            snapshot,
            Context(
                stack_name=settings.stack_name(),
                retention=lineages[name].retention,
                now=moment,
                execution=executions.get(name),
                inventory=(listed or Inventory()) if name in swept else None,
                pointer=pointers.get(name),
                pause_when_converged=lineages[name].gate.pause_when_converged,
                cost=lineages[name].cost,
            ),
        )
        outcomes = [
            (repair, None if request.dry_run else _apply(registry, repair, now)) for repair in repairs
        ]
        if not request.dry_run:
            for sequence, (repair, error) in enumerate(outcomes):
                registry.record_repair(repair, at=now, sequence=sequence, error=error)
            if outcomes:
                notifier.publish(settings.topic_arn(), repair_notification(name, outcomes, request.dry_run))
            if name in swept:
                registry.mark_swept(name, sweep_point(snapshot, executions.get(name), moment), now)
        results += [{**repair.to_dict(), "error": error} for repair, error in outcomes]
    logger.info(
        "reconciled",
        extra={
            "lineages": len(lineages),
            "swept": swept,
            "repairs": len(results),
            "dry_run": request.dry_run,
        },
    )
    return {"dry_run": request.dry_run, "lineages": sorted(lineages), "swept": swept, "repairs": results}


def _lineages(request: ReconcileRequest) -> dict[str, LineageConfig]:
    deployed = inventory.deployed_lineages(settings.lineage_parameter_prefix())
    if request.lineage is None:
        return deployed
    if request.lineage not in deployed:
        known = ", ".join(sorted(deployed)) or "none"
        raise UnknownLineageError(f"unknown lineage {request.lineage!r} (lineages: {known})")
    return {request.lineage: deployed[request.lineage]}


def _apply(registry: RepairRegistry, repair: Repair, now: str) -> str | None:
    """Carry out one repair; the error when AWS refused it (recorded and notified; retried next run)."""
    name, iteration = repair.lineage, repair.iteration
    try:
        if repair.kind is RepairKind.RELEASE_LOCK and iteration is not None:
            registry.fail_running_iteration(name, iteration, failed_reason(repair), now)
            if not registry.release_lock(name, iteration):
                return "the lock had already changed hands"
            inventory.request_dispatch(settings.trigger_queue_url(), name)
        elif repair.kind is RepairKind.REDISPATCH:
            inventory.request_dispatch(settings.trigger_queue_url(), name)
        elif repair.kind is RepairKind.DELETE_CAPACITY:
            bedrock.delete_capacity(repair.capacity_kind or CapacityKind.DEPLOYMENT, repair.target)
        elif repair.kind is RepairKind.RECORD_MODEL and iteration is not None:
            registry.update_iteration(name, iteration, {"output_model_arn": repair.target})
        elif repair.kind is RepairKind.DELETE_MODEL and iteration is not None:
            bedrock.delete_custom_model(repair.target)
            registry.update_iteration(name, iteration, {"model_deleted_at": now})
    except ClientError as error:
        logger.warning("repair failed", extra={"repair": repair.to_dict(), "error": str(error)})
        return str(error)
    return None
