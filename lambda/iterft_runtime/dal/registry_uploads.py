"""The registry's upload ledger (`UPLOAD#`, every object version seen) and queue (`QUEUE#`, the uploads
waiting for their round) (dal/registry.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from iterft_runtime import naming
from iterft_runtime.dal.clients import error_code
from iterft_runtime.dal.registry_base import (
    RegistryBase,
    cancellation_codes,
    expression_values,
    item_attributes,
)
from iterft_runtime.logic.uploads import StartedVersion, UploadStatus, compare_sequencers, queue_order
from iterft_runtime.models.records import (
    DatasetRef,
    QueuedUpload,
    UploadRecord,
)


class UploadLedger(RegistryBase):
    """Uploads recorded, refused, queued, withdrawn or superseded."""

    # -- uploads and the queue -----------------------------------------------------------------

    def record_upload(
        self,
        lineage: str,
        dataset: DatasetRef,
        *,
        sequencer: str | None = None,
        received_at: str | None = None,
        recorded_at: str | None = None,
    ) -> bool:
        """Mark the object version seen and queue it, atomically; False when it was seen before.

        One transaction, so a crash cannot leave a marker without its queue item (a lost upload).
        `recorded_at` (the ledger's) is when it joined the queue: a round that started before then did
        not see it, whatever their upload order.
        """
        pk = naming.lineage_pk(lineage)
        order = {"sequencer": sequencer, "received_at": received_at}
        marker = {
            "pk": pk,
            "sk": naming.upload_sk(dataset.key, dataset.identity),
            **dataset.to_dict(),
            **order,
            "recorded_at": recorded_at,
            "status": UploadStatus.QUEUED.value,
        }
        queued = {
            "pk": pk,
            "sk": naming.queue_sk(dataset.uploaded_at, dataset.key, dataset.identity),
            **dataset.to_dict(),
            **order,
        }
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": item_attributes(marker),
                            "ConditionExpression": "attribute_not_exists(sk)",
                        }
                    },
                    {"Put": {"TableName": self.table_name, "Item": item_attributes(queued)}},
                ]
            )
        except ClientError as error:
            if error_code(error) == "TransactionCanceledException" and cancellation_codes(error)[:1] == [
                "ConditionalCheckFailed"
            ]:
                return False
            raise
        return True

    def record_refused(
        self,
        lineage: str,
        dataset: DatasetRef,
        status: UploadStatus,
        reason: str,
        *,
        at: str,
        sequencer: str | None = None,
    ) -> bool:
        """Record an object that starts no round (invalid_data or ignored, with the reason) in the
        upload ledger; False when this object version was recorded before (nothing written)."""
        item = {
            "pk": naming.lineage_pk(lineage),
            "sk": naming.upload_sk(dataset.key, dataset.identity),
            **dataset.to_dict(),
            "sequencer": sequencer,
            "status": status.value,
            "reason": reason,
            "closed_at": at,
        }
        return self._put_if_absent(item)

    def upload_recorded(self, lineage: str, dataset: DatasetRef) -> bool:
        """Whether this object version was already recorded for the lineage (it started, or waits for,
        its one round)."""
        return self._get(lineage, naming.upload_sk(dataset.key, dataset.identity)) is not None

    def queue_head(self, lineage: str) -> QueuedUpload | None:
        """The first queued upload in queue order (dispatch also skips stale and superseded versions:
        logic/uploads.plan_next)."""
        return next(iter(self.queued_uploads(lineage)), None)

    def queued_uploads(self, lineage: str) -> list[QueuedUpload]:
        """Every queued upload, in the order they run (logic/uploads.queue_order; what `status` shows)."""
        return queue_order(self._queued(lineage))

    def _queued(self, lineage: str) -> Iterator[QueuedUpload]:
        for item in self._query(lineage, naming.QUEUE_SK_PREFIX):
            yield QueuedUpload(
                sort_key=item["sk"],
                dataset=DatasetRef.from_dict(item),
                sequencer=item.get("sequencer"),
                received_at=item.get("received_at"),
            )

    def uploads(self, lineage: str, key: str | None = None) -> list[UploadRecord]:
        """The lineage's upload ledger (every object version seen), or only `key`'s versions."""
        prefix = naming.upload_sk(key, "") if key is not None else naming.UPLOAD_SK_PREFIX
        items = [item for item in self._query(lineage, prefix) if key is None or item.get("key") == key]
        queued: set[str] | None = None
        records = []
        for item in items:
            if "status" not in item:  # recorded before the ledger had statuses
                if queued is None:
                    queued = {q.dataset.key + "#" + q.dataset.identity for q in self._queued(lineage)}
                ref = DatasetRef.from_dict(item)
                waiting = ref.key + "#" + ref.identity in queued
                item = {**item, "status": UploadStatus.QUEUED if waiting else UploadStatus.STARTED}
            records.append(UploadRecord.from_dict(item))
        return records

    def started_versions(self, lineage: str, keys: Iterable[str]) -> dict[str, StartedVersion]:
        """Per key, the newest version (by sequencer) that already started a round."""
        started: dict[str, StartedVersion] = {}
        for key in sorted(set(keys)):
            for record in self.uploads(lineage, key):
                if record.status != UploadStatus.STARTED or record.sequencer is None:
                    continue
                current = started.get(key)
                if current is None or compare_sequencers(record.sequencer, current.sequencer) > 0:
                    started[key] = StartedVersion(
                        record.sequencer,
                        record.dataset.version_id or record.dataset.identity,
                        record.iteration,
                    )
        return started

    def close_queued(
        self,
        lineage: str,
        queued: QueuedUpload,
        status: UploadStatus,
        *,
        reason: str,
        by: str | None,
        at: str,
    ) -> bool:
        """Take a queued upload out of the queue as withdrawn or superseded (who, why, when), atomically
        with its ledger entry; False when it is no longer queued (it started meanwhile)."""
        values: dict[str, Any] = {":status": status.value, ":reason": reason, ":at": at}
        update = "SET #status = :status, reason = :reason, closed_at = :at"
        if by is not None:
            values[":by"] = by
            update += ", #by = :by"
        try:
            self._db.transact_write_items(TransactItems=self._leave_queue(lineage, queued, update, values))
        except ClientError as error:
            if "ConditionalCheckFailed" in cancellation_codes(error):
                return False
            raise
        return True

    def _leave_queue(
        self, lineage: str, queued: QueuedUpload, update: str, values: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Transaction items: delete the queue item (only if still there) and apply `update` (which may
        use #status and #by) to the upload's ledger entry."""
        dataset = queued.dataset
        names = {name: name[1:] for name in ("#status", "#by") if name in update}
        return [
            {
                "Delete": {
                    "TableName": self.table_name,
                    "Key": self._key(lineage, queued.sort_key),
                    "ConditionExpression": "attribute_exists(sk)",
                }
            },
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": self._key(lineage, naming.upload_sk(dataset.key, dataset.identity)),
                    "UpdateExpression": update,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": expression_values(values),
                }
            },
        ]
