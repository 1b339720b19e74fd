"""The registry's dispatch and lock: a round (or a rollback) takes the lineage's lock and its iteration
number in one transaction; Finish releases it, counting the round's spend (dal/registry.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from iterft_runtime import naming
from iterft_runtime.dal.registry_base import (
    cancellation_codes,
    expression_values,
    item_attributes,
)
from iterft_runtime.dal.registry_state import LineageStore
from iterft_runtime.dal.registry_uploads import UploadLedger
from iterft_runtime.logic.uploads import UploadStatus
from iterft_runtime.models.records import (
    Decision,
    IterationRecord,
    QueuedUpload,
)

SPEND_ATTEMPTS = 3
"""Tries of the release-and-count write; only a concurrent retry of the same Finish makes one fail."""


@dataclass(frozen=True)
class MonthSpend:
    """A finished round's estimated cost and the calendar month (UTC, `YYYY-MM`) it counts in."""

    month: str
    usd: float


class Dispatcher(UploadLedger, LineageStore):
    """Taking and releasing the lineage's lock."""

    # -- dispatch and the lock -------------------------------------------------------------------

    def try_dispatch(
        self, lineage: str, next_iteration: int, head: QueuedUpload, started_at: str
    ) -> IterationRecord | None:
        """Take the lock for iteration `next_iteration` and turn the queue head into it, atomically.

        One transaction: STATE gets `lock_owner = n` and `next_iteration = n + 1` only if unlocked
        and `next_iteration` is still n; `ITER#n` is written `running`; the queue head is deleted
        only if still there, and its ledger entry marked started (with n). None when another dispatcher
        got there first (nothing was written).
        """
        n = next_iteration
        dataset = head.dataset
        record = IterationRecord(
            iteration=n,
            decision=Decision.RUNNING.value,
            dataset=dataset.s3_uri,
            dataset_bucket=dataset.bucket,
            dataset_key=dataset.key,
            dataset_version=dataset.version_id,
            dataset_etag=dataset.etag,
            uploaded_at=dataset.uploaded_at,
            size_bytes=dataset.size,
            started_at=started_at,
            strategy=dataset.strategy,  # as `iterft start --strategy` asked; Begin records the round's own
            requested_strategy=dataset.strategy,  # ...and this stays as asked (IterationRecord.dataset_ref)
        )
        started = {":status": UploadStatus.STARTED.value, ":n": n}
        leave = self._leave_queue(lineage, head, "SET #status = :status, iteration = :n", started)
        return self._lock_with(lineage, record, started_at, leave)

    def begin_rollback(
        self,
        lineage: str,
        next_iteration: int,
        *,
        to_iteration: int,
        requested_by: str,
        reason: str,
        started_at: str,
    ) -> IterationRecord | None:
        """Take the lock for a rollback recorded as iteration `next_iteration`, like a dispatch; None
        when the lineage is busy or another dispatcher got there first (nothing was written)."""
        record = IterationRecord(
            iteration=next_iteration,
            decision=Decision.RUNNING.value,
            rollback_of=to_iteration,
            requested_by=requested_by,
            reason=reason,
            started_at=started_at,
        )
        return self._lock_with(lineage, record, started_at, [])

    def _lock_with(
        self, lineage: str, record: IterationRecord, started_at: str, extra: list[dict[str, Any]]
    ) -> IterationRecord | None:
        """One transaction: STATE gets `lock_owner = n` and `next_iteration = n + 1` only if unlocked and
        `next_iteration` is still n; `ITER#n` is written; then whatever `extra` holds."""
        n = record.iteration
        iteration_item = {"pk": naming.lineage_pk(lineage), "sk": naming.iteration_sk(n), **record.to_dict()}
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": self._key(lineage, naming.STATE_SK),
                            "UpdateExpression": (
                                "SET lock_owner = :n, lock_since = :now, next_iteration = :next"
                            ),
                            "ConditionExpression": (
                                "attribute_not_exists(lock_owner) AND next_iteration = :n "
                                "AND attribute_not_exists(retired_at)"
                            ),
                            "ExpressionAttributeValues": expression_values(
                                {":n": n, ":next": n + 1, ":now": started_at}
                            ),
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": item_attributes(iteration_item),
                            "ConditionExpression": "attribute_not_exists(sk)",
                        }
                    },
                    *extra,
                ]
            )
        except ClientError as error:
            # Only a failed condition means another dispatcher got there first; a conflict or
            # throttling cancels the transaction too, but then nobody dispatched: let it be retried.
            if "ConditionalCheckFailed" in cancellation_codes(error):
                return None
            raise
        return record

    def release_lock(self, lineage: str, iteration: int, spend: MonthSpend | None = None) -> bool:
        """Release the lineage's lock if `iteration` holds it; False (and no change) otherwise.

        With `spend`, the same conditional write adds the round's cost to STATE's counter for its
        month (restarting the counter in a new month), so a retried Finish, which no longer holds
        the lock, cannot count the round twice.
        """
        if spend is None:
            return self._conditional_update(
                Key=self._key(lineage, naming.STATE_SK),
                UpdateExpression="REMOVE lock_owner, lock_since",
                ConditionExpression="lock_owner = :n",
                ExpressionAttributeValues=expression_values({":n": iteration}),
            )
        values = {":n": iteration, ":month": spend.month, ":usd": spend.usd}
        for _ in range(SPEND_ATTEMPTS):
            state = self.get_state(lineage)
            if state is None or state.lock_owner != iteration:
                return False
            if state.spend_month == spend.month:
                update = "SET spend_usd = spend_usd + :usd REMOVE lock_owner, lock_since"
                condition = "lock_owner = :n AND spend_month = :month"
            else:
                update = "SET spend_month = :month, spend_usd = :usd REMOVE lock_owner, lock_since"
                condition = "lock_owner = :n AND (attribute_not_exists(spend_month) OR spend_month <> :month)"
            if self._conditional_update(
                Key=self._key(lineage, naming.STATE_SK),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=expression_values(values),
            ):
                return True
        raise RuntimeError(
            f"{lineage}: STATE's spend month kept changing while iteration {iteration} finished"
        )
