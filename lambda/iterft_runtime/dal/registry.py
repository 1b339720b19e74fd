"""The registry: one DynamoDB table (keys `pk`, `sk`) holding each lineage's state, iterations,
queued uploads and upload markers (docs/architecture.md, "Registry").

Every write that could race or be retried is conditional, and every multi-item change that must
not be seen half-done is one TransactWriteItems. DynamoDB Decimals never leave this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from iterft_runtime import naming
from iterft_runtime.dal.clients import client, error_code
from iterft_runtime.logic.uploads import StartedVersion, UploadStatus, compare_sequencers, queue_order
from iterft_runtime.models.families import is_custom_model_arn
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import (
    DatasetRef,
    Decision,
    IterationRecord,
    LineageState,
    QueuedUpload,
    UploadRecord,
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class LockNotHeldError(RuntimeError):
    """The lineage's lock is not held by the iteration that tried to act as its owner."""


class RegistryStateMissingError(RuntimeError):
    """The lineage has no STATE item: it was never dispatched, so there is no champion to compare."""


class IterationNotFoundError(LookupError):
    """No `ITER#` item for that lineage and number."""


def to_dynamo(value: Any) -> Any:
    """Plain Python -> what TypeSerializer accepts: floats as Decimal, None and NaN dropped from maps."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str | Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        converted = {str(k): to_dynamo(v) for k, v in value.items()}
        return {k: v for k, v in converted.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    raise TypeError(f"cannot store {type(value).__name__} in the registry")


def from_dynamo(value: Any) -> Any:
    """DynamoDB's Decimals -> int (no fractional digits) or float, recursively."""
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [from_dynamo(v) for v in value]
    return value


def _attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in to_dynamo(item).items()}


def _plain(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return from_dynamo({k: _deserializer.deserialize(v) for k, v in attributes.items()})


def _values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(to_dynamo(value)) for name, value in values.items()}


SPEND_ATTEMPTS = 3
"""Tries of the release-and-count write; only a concurrent retry of the same Finish makes one fail."""


@dataclass(frozen=True)
class MonthSpend:
    """A finished round's estimated cost and the calendar month (UTC, `YYYY-MM`) it counts in."""

    month: str
    usd: float


def _cancellation_codes(error: ClientError) -> list[str]:
    return [str(reason.get("Code", "None")) for reason in error.response.get("CancellationReasons", [])]


class Registry:
    """All registry reads and writes for one table."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _db(self) -> Any:
        return client("dynamodb")

    def _key(self, lineage: str, sort_key: str) -> dict[str, Any]:
        return {"pk": {"S": naming.lineage_pk(lineage)}, "sk": {"S": sort_key}}

    def _get(self, lineage: str, sort_key: str) -> dict[str, Any] | None:
        response = self._db.get_item(
            TableName=self.table_name, Key=self._key(lineage, sort_key), ConsistentRead=True
        )
        return _plain(response["Item"]) if "Item" in response else None

    def _query(self, lineage: str, prefix: str, limit: int | None = None) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": _values({":pk": naming.lineage_pk(lineage), ":prefix": prefix}),
            "ConsistentRead": True,
        }
        if limit is not None:
            request["Limit"] = limit
        while True:
            response = self._db.query(**request)
            for item in response.get("Items", []):
                yield _plain(item)
            if limit is not None or "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _put_if_absent(self, item: Mapping[str, Any]) -> bool:
        """PutItem unless an item with that key exists; False (and no change) when one does."""
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=_attributes(item),
                ConditionExpression="attribute_not_exists(sk)",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _conditional_update(self, **request: Any) -> bool:
        """UpdateItem on this table; False (and no change) when its condition does not hold."""
        try:
            self._db.update_item(TableName=self.table_name, **request)
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- lineage state -------------------------------------------------------------------------

    def ensure_state(self, lineage: LineageConfig) -> None:
        """Create the lineage's STATE item at its starting point, unless it exists already."""
        item = {
            "pk": naming.lineage_pk(lineage.name),
            "sk": naming.STATE_SK,
            "champion_model": lineage.base_model,
            "champion_iteration": 0,
            "next_iteration": 1,
        }
        if is_custom_model_arn(lineage.base_model):
            item["champion_model_arn"] = lineage.base_model
        self._put_if_absent(item)

    def get_state(self, lineage: str) -> LineageState | None:
        item = self._get(lineage, naming.STATE_SK)
        return LineageState.from_dict(lineage, item) if item else None

    def record_champion_score(
        self,
        lineage: str,
        iteration: int,
        *,
        champion_iteration: int,
        score: float,
        metrics: Mapping[str, Any],
        eval_set_version: str,
        metric: str,
    ) -> bool:
        """Remember the champion's scores on a new evaluation set, so later rounds reuse them.

        Only while `iteration` holds the lock and the champion is still `champion_iteration`.
        """
        return self._conditional_update(
            Key=self._key(lineage, naming.STATE_SK),
            UpdateExpression=(
                "SET champion_score = :score, champion_metrics = :metrics, "
                "champion_eval_set_version = :version, champion_metric = :metric"
            ),
            ConditionExpression="lock_owner = :n AND champion_iteration = :champion",
            ExpressionAttributeValues=_values(
                {
                    ":score": score,
                    ":metrics": metrics,
                    ":version": eval_set_version,
                    ":metric": metric,
                    ":n": iteration,
                    ":champion": champion_iteration,
                }
            ),
        )

    def record_plateau(self, lineage: str, iteration: int, *, marginal_rounds: int, converged: bool) -> bool:
        """Store the plateau rule's state after `iteration`, once: False when it was already counted."""
        return self._conditional_update(
            Key=self._key(lineage, naming.STATE_SK),
            UpdateExpression="SET marginal_rounds = :count, converged = :converged, plateau_iteration = :n",
            ConditionExpression=(
                "attribute_exists(pk) AND (attribute_not_exists(plateau_iteration) OR plateau_iteration < :n)"
            ),
            ExpressionAttributeValues=_values(
                {":count": marginal_rounds, ":converged": converged, ":n": iteration}
            ),
        )

    def resume(self, lineage: str) -> bool:
        """An operator's resume: converged cleared, the marginal count restarted; False if no such lineage."""
        return self._conditional_update(
            Key=self._key(lineage, naming.STATE_SK),
            UpdateExpression="SET converged = :false, marginal_rounds = :zero",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=_values({":false": False, ":zero": 0}),
        )

    def retire(self, lineage: str, *, at: str, by: str, reason: str, starting_model: str) -> bool:
        """Mark the lineage retired (`iterft retire`) unless a round holds its lock; False when one does
        (nothing written). Once retired no dispatch takes its lock (`_lock_with`'s condition). A lineage
        that never had an upload gets its STATE here, its champion `starting_model`."""
        return self._conditional_update(
            Key=self._key(lineage, naming.STATE_SK),
            UpdateExpression=(
                "SET retired_at = :at, retired_by = :by, retired_reason = :reason, "
                "champion_model = if_not_exists(champion_model, :model), "
                "champion_iteration = if_not_exists(champion_iteration, :zero), "
                "next_iteration = if_not_exists(next_iteration, :one)"
            ),
            ConditionExpression="attribute_not_exists(lock_owner) AND attribute_not_exists(retired_at)",
            ExpressionAttributeValues=_values(
                {":at": at, ":by": by, ":reason": reason, ":model": starting_model, ":zero": 0, ":one": 1}
            ),
        )

    def forget_serving(self, lineage: str) -> None:
        """A retired lineage's serving capacity was deleted: nothing serves it any more."""
        self._db.update_item(
            TableName=self.table_name,
            Key=self._key(lineage, naming.STATE_SK),
            UpdateExpression="REMOVE serving_capacity, serving_model_id",
        )

    # -- uploads and the queue -----------------------------------------------------------------

    def record_upload(
        self,
        lineage: str,
        dataset: DatasetRef,
        *,
        sequencer: str | None = None,
        received_at: str | None = None,
    ) -> bool:
        """Mark the object version seen and queue it, atomically; False when it was seen before.

        One transaction, so a crash cannot leave a marker without its queue item (a lost upload).
        """
        pk = naming.lineage_pk(lineage)
        order = {"sequencer": sequencer, "received_at": received_at}
        marker = {
            "pk": pk,
            "sk": naming.upload_sk(dataset.key, dataset.identity),
            **dataset.to_dict(),
            **order,
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
                            "Item": _attributes(marker),
                            "ConditionExpression": "attribute_not_exists(sk)",
                        }
                    },
                    {"Put": {"TableName": self.table_name, "Item": _attributes(queued)}},
                ]
            )
        except ClientError as error:
            if error_code(error) == "TransactionCanceledException" and _cancellation_codes(error)[:1] == [
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
            if "ConditionalCheckFailed" in _cancellation_codes(error):
                return False
            raise
        return True

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
        )
        started = {":status": UploadStatus.STARTED.value, ":n": n}
        leave = self._leave_queue(lineage, head, "SET #status = :status, iteration = :n", started)
        return self._lock_with(lineage, record, started_at, leave)

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
                    "ExpressionAttributeValues": _values(values),
                }
            },
        ]

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
                            "ExpressionAttributeValues": _values(
                                {":n": n, ":next": n + 1, ":now": started_at}
                            ),
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": _attributes(iteration_item),
                            "ConditionExpression": "attribute_not_exists(sk)",
                        }
                    },
                    *extra,
                ]
            )
        except ClientError as error:
            # Only a failed condition means another dispatcher got there first; a conflict or
            # throttling cancels the transaction too, but then nobody dispatched: let it be retried.
            if "ConditionalCheckFailed" in _cancellation_codes(error):
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
                ExpressionAttributeValues=_values({":n": iteration}),
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
                ExpressionAttributeValues=_values(values),
            ):
                return True
        raise RuntimeError(
            f"{lineage}: STATE's spend month kept changing while iteration {iteration} finished"
        )

    def mark_budget_notified(self, lineage: str, month: str) -> bool:
        """Note that the team was told about `month`'s budget; False when it already was this month."""
        return self._conditional_update(
            Key=self._key(lineage, naming.STATE_SK),
            UpdateExpression="SET budget_notified_month = :month",
            ConditionExpression=(
                "attribute_exists(pk) AND "
                "(attribute_not_exists(budget_notified_month) OR budget_notified_month <> :month)"
            ),
            ExpressionAttributeValues=_values({":month": month}),
        )

    def unmark_budget_notified(self, lineage: str, month: str) -> bool:
        """Undo mark_budget_notified when the notification could not be sent (a redelivery sends it)."""
        return self._conditional_update(
            Key=self._key(lineage, naming.STATE_SK),
            UpdateExpression="REMOVE budget_notified_month",
            ConditionExpression="budget_notified_month = :month",
            ExpressionAttributeValues=_values({":month": month}),
        )

    def promote(
        self,
        lineage: str,
        iteration: int,
        *,
        model_arn: str,
        serving_capacity: Mapping[str, Any] | None,
        score: float | None,
        metrics: Mapping[str, Any] | None,
        eval_set_version: str | None,
        metric: str | None,
        champion_iteration: int | None = None,
        decision: Decision = Decision.PROMOTED,
    ) -> None:
        """champion := `model_arn` served by `serving_capacity` (None: mode none), and
        ITER#n := `decision` (promoted, or rolled_back to `champion_iteration`), in one transaction.

        Refused (LockNotHeldError) unless `iteration` holds the lineage's lock.
        """
        serving_model_id = str(serving_capacity["arn"]) if serving_capacity else None
        state_values = {
            ":model": model_arn,
            ":serving": serving_model_id,
            ":capacity": dict(serving_capacity) if serving_capacity else None,
            ":score": score,
            ":metrics": metrics,
            ":version": eval_set_version,
            ":metric": metric,
            ":champion": iteration if champion_iteration is None else champion_iteration,
            ":n": iteration,
        }
        iteration_set = "SET decision = :decision, serving_model_id = :serving_id"
        iteration_values: dict[str, Any] = {
            ":decision": decision.value,
            ":serving_id": serving_model_id or model_arn,
        }
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": self._key(lineage, naming.STATE_SK),
                            "UpdateExpression": (
                                "SET champion_model = :model, champion_model_arn = :model, "
                                "serving_model_id = :serving, serving_capacity = :capacity, "
                                "champion_score = :score, champion_metrics = :metrics, "
                                "champion_eval_set_version = :version, champion_metric = :metric, "
                                "champion_iteration = :champion"
                            ),
                            "ConditionExpression": "lock_owner = :n",
                            "ExpressionAttributeValues": _values(state_values),
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": self._key(lineage, naming.iteration_sk(iteration)),
                            "UpdateExpression": iteration_set,
                            "ConditionExpression": "attribute_exists(sk)",
                            "ExpressionAttributeValues": _values(iteration_values),
                        }
                    },
                ]
            )
        except ClientError as error:
            codes = _cancellation_codes(error)
            if error_code(error) == "TransactionCanceledException" and codes[:1] == [
                "ConditionalCheckFailed"
            ]:
                raise LockNotHeldError(
                    f"{lineage}: iteration {iteration} does not hold the lock; champion unchanged"
                ) from None
            if error_code(error) == "TransactionCanceledException" and codes[1:2] == [
                "ConditionalCheckFailed"
            ]:
                raise IterationNotFoundError(f"{lineage}: no iteration {iteration}") from None
            raise

    # -- iterations -----------------------------------------------------------------------------

    def get_iteration(self, lineage: str, iteration: int) -> IterationRecord | None:
        item = self._get(lineage, naming.iteration_sk(iteration))
        return IterationRecord.from_dict(item) if item else None

    def list_iterations(self, lineage: str) -> list[IterationRecord]:
        """Every iteration of the lineage, in order."""
        return [IterationRecord.from_dict(item) for item in self._query(lineage, naming.ITERATION_SK_PREFIX)]

    def update_iteration(self, lineage: str, iteration: int, fields: Mapping[str, Any]) -> None:
        """Set `fields` (IterationRecord field names; None values are skipped) on an existing ITER#n."""
        known = set(IterationRecord.__dataclass_fields__) - {"iteration"}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"not iteration fields: {', '.join(unknown)}")
        present = {name: value for name, value in fields.items() if to_dynamo(value) is not None}
        if not present:
            return
        names = {f"#f{i}": name for i, name in enumerate(present)}
        values = {f":v{i}": value for i, value in enumerate(present.values())}
        if not self._conditional_update(
            Key=self._key(lineage, naming.iteration_sk(iteration)),
            UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(present))),
            ConditionExpression="attribute_exists(sk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=_values(values),
        ):
            raise IterationNotFoundError(f"{lineage}: no iteration {iteration}")
