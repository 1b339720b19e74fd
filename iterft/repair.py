"""`iterft repair`: run the stack's reconciler for one lineage, now, and say what it would do or did.

The same function the schedule invokes (lambda/iterft_runtime/handlers/reconcile.py), invoked
synchronously with `{"lineage": NAME, "dry_run": bool}`: the operator needs lambda:InvokeFunction on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from iterft_runtime.logic.reconcile import ReconcileRequest, Repair

from iterft.history import lineage_config
from iterft.target import Deployment, TargetError


@dataclass(frozen=True)
class RepairOutcome:
    repair: Repair
    error: str | None

    def line(self) -> str:
        failed = f" (failed: {self.error})" if self.error else ""
        return f"{self.repair.lineage}: {self.repair.kind}: {self.repair.detail}{failed}"


def repair_lineage(deployment: Deployment, lineage: str, *, dry_run: bool) -> list[RepairOutcome]:
    """Invoke the reconciler for `lineage`; each repair it made (or, with `dry_run`, would make)."""
    lineage_config(deployment, lineage)  # an unknown lineage fails here, naming the known ones
    if not deployment.reconciler_function:
        raise TargetError(
            f"stack {deployment.stack_name} has no reconciler (output ReconcilerFunctionName): redeploy it"
        )
    request = ReconcileRequest(lineage=lineage, dry_run=dry_run)
    response = deployment.client("lambda").invoke(
        FunctionName=deployment.reconciler_function,
        InvocationType="RequestResponse",
        Payload=json.dumps({"lineage": request.lineage, "dry_run": request.dry_run}).encode(),
    )
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise TargetError(f"the reconciler failed: {message}")
    return [
        RepairOutcome(Repair.from_dict(item), item.get("error"))
        for item in (payload or {}).get("repairs", [])
    ]
