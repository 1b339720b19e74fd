"""The registry's lineage state: the STATE item (champion, plateau, retirement, budget notices) and the
`ITER#` items, with the promotion that changes both in one transaction (dal/registry.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from iterft_runtime import naming
from iterft_runtime.dal.clients import error_code
from iterft_runtime.dal.registry_base import (
    IterationNotFoundError,
    LockNotHeldError,
    RegistryBase,
    cancellation_codes,
    expression_values,
    to_dynamo,
)
from iterft_runtime.models.families import is_custom_model_arn
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import (
    Decision,
    IterationRecord,
    LineageState,
)


class LineageStore(RegistryBase):
    """Reads and writes of a lineage's STATE and its iterations."""

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
            ExpressionAttributeValues=expression_values(
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
            ExpressionAttributeValues=expression_values(
                {":count": marginal_rounds, ":converged": converged, ":n": iteration}
            ),
        )

    def resume(self, lineage: str) -> bool:
        """An operator's resume: converged cleared, the marginal count restarted; False if no such lineage."""
        return self._conditional_update(
            Key=self._key(lineage, naming.STATE_SK),
            UpdateExpression="SET converged = :false, marginal_rounds = :zero",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=expression_values({":false": False, ":zero": 0}),
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
            ExpressionAttributeValues=expression_values(
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

    def mark_budget_notified(self, lineage: str, month: str) -> bool:
        """Note that the team was told about `month`'s budget; False when it already was this month."""
        return self._conditional_update(
            Key=self._key(lineage, naming.STATE_SK),
            UpdateExpression="SET budget_notified_month = :month",
            ConditionExpression=(
                "attribute_exists(pk) AND "
                "(attribute_not_exists(budget_notified_month) OR budget_notified_month <> :month)"
            ),
            ExpressionAttributeValues=expression_values({":month": month}),
        )

    def unmark_budget_notified(self, lineage: str, month: str) -> bool:
        """Undo mark_budget_notified when the notification could not be sent (a redelivery sends it)."""
        return self._conditional_update(
            Key=self._key(lineage, naming.STATE_SK),
            UpdateExpression="REMOVE budget_notified_month",
            ConditionExpression="budget_notified_month = :month",
            ExpressionAttributeValues=expression_values({":month": month}),
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
                            "ExpressionAttributeValues": expression_values(state_values),
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": self._key(lineage, naming.iteration_sk(iteration)),
                            "UpdateExpression": iteration_set,
                            "ConditionExpression": "attribute_exists(sk)",
                            "ExpressionAttributeValues": expression_values(iteration_values),
                        }
                    },
                ]
            )
        except ClientError as error:
            codes = cancellation_codes(error)
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
            ExpressionAttributeValues=expression_values(values),
        ):
            raise IterationNotFoundError(f"{lineage}: no iteration {iteration}")
