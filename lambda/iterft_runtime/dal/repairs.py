"""The registry as the reconciler reads and writes it: one Query per lineage, repair records, the watermark.

Repairs are items `REPAIR#<at>#<n>` in the lineage's partition (`iterft status` lists the latest); the
watermark `RECONCILE` says up to which iteration Bedrock was last swept. Every write that acts on a
round is conditional on what the plan saw, so a round that moved meanwhile is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iterft_runtime import naming
from iterft_runtime.dal.registry import Registry
from iterft_runtime.dal.registry_base import expression_values, plain_item
from iterft_runtime.logic.reconcile import Repair, Snapshot
from iterft_runtime.models.records import Decision, IterationRecord, LineageState

MAX_LISTED_REPAIRS = 20


class RepairRegistry(Registry):
    """Registry reads and writes of the reconciler (handlers/reconcile.py) and `iterft status`."""

    def snapshot(self, lineage: str) -> Snapshot:
        """STATE, ITER#, QUEUE#, RECONCILE and REPAIR# of the lineage, in one Query (paged only past 1 MB)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": expression_values(
                {
                    ":pk": naming.lineage_pk(lineage),
                    ":first": naming.RECONCILE_RANGE[0],
                    ":last": naming.RECONCILE_RANGE[1],
                }
            ),
            "ConsistentRead": True,
        }
        items = []
        while True:
            response = self._db.query(**request)
            items += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        plain = [plain_item(item) for item in items]
        state = next((item for item in plain if item["sk"] == naming.STATE_SK), None)
        mark = next((item for item in plain if item["sk"] == naming.RECONCILE_SK), {})
        queued = [item for item in plain if str(item["sk"]).startswith(naming.QUEUE_SK_PREFIX)]
        arrivals = [str(item.get("received_at") or item.get("uploaded_at") or "") for item in queued]
        return Snapshot(
            lineage=lineage,
            state=LineageState.from_dict(lineage, state) if state else None,
            iterations=[
                IterationRecord.from_dict(item)
                for item in plain
                if str(item["sk"]).startswith(naming.ITERATION_SK_PREFIX)
            ],
            repairs=[item for item in plain if str(item["sk"]).startswith(naming.REPAIR_SK_PREFIX)],
            swept_through=int(mark.get("swept_through") or 0),
            queued=len(queued),
            queued_since=min(arrivals) if arrivals else None,
        )

    def latest_repairs(self, lineage: str, limit: int = MAX_LISTED_REPAIRS) -> list[dict[str, Any]]:
        """The lineage's newest repair records, newest first."""
        response = self._db.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=expression_values(
                {":pk": naming.lineage_pk(lineage), ":prefix": naming.REPAIR_SK_PREFIX}
            ),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [plain_item(item) for item in response.get("Items", [])]

    def record_repair(self, repair: Repair, *, at: str, sequence: int, error: str | None) -> None:
        """Keep the repair (and why it could not be made, if so) in the lineage's partition."""
        item: dict[str, Any] = {
            "pk": naming.lineage_pk(repair.lineage),
            "sk": naming.repair_sk(at, sequence),
            **repair.to_dict(),
            "at": at,
        }
        if error:
            item["error"] = error
        self._put_if_absent(item)

    def fail_running_iteration(self, lineage: str, iteration: int, reason: str, at: str) -> bool:
        """Record as failed an iteration whose execution ended before Finish (only while it says running)."""
        return self._conditional_update(
            Key=self._key(lineage, naming.iteration_sk(iteration)),
            UpdateExpression="SET decision = :failed, reason = :reason, ended_at = :at",
            ConditionExpression="decision = :running",
            ExpressionAttributeValues=expression_values(
                {
                    ":failed": Decision.FAILED.value,
                    ":reason": reason,
                    ":at": at,
                    ":running": Decision.RUNNING.value,
                }
            ),
        )

    def mark_swept(self, lineage: str, through: int, at: str) -> None:
        """Remember that Bedrock was swept for every iteration up to `through` (never moved backwards)."""
        self._conditional_update(
            Key=self._key(lineage, naming.RECONCILE_SK),
            UpdateExpression="SET swept_through = :n, swept_at = :at",
            ConditionExpression="attribute_not_exists(swept_through) OR swept_through < :n",
            ExpressionAttributeValues=expression_values({":n": through, ":at": at}),
        )


def repair_line(item: Mapping[str, Any]) -> str:
    """A repair record as one line: when, what, and the error when it could not be made."""
    error = f" (failed: {item['error']})" if item.get("error") else ""
    return f"{item.get('at', '?')}: {item.get('detail', item.get('kind', '?'))}{error}"
