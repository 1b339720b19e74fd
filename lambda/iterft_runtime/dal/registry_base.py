"""The registry's low-level item access: DynamoDB's typed attributes to and from plain Python, the
table's key, reads, and the conditional writes every part of the registry (dal/registry.py) builds on.

DynamoDB Decimals never leave the registry: `plain_item` turns them back into int or float.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from iterft_runtime import naming
from iterft_runtime.dal.clients import client, error_code

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


def item_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain item -> DynamoDB's typed attributes (PutItem's `Item`)."""
    return {k: _serializer.serialize(v) for k, v in to_dynamo(item).items()}


def plain_item(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed attributes (an item read) -> plain Python, Decimals as int or float."""
    plain: dict[str, Any] = from_dynamo({k: _deserializer.deserialize(v) for k, v in attributes.items()})
    return plain


def expression_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values -> typed `ExpressionAttributeValues`."""
    return {name: _serializer.serialize(to_dynamo(value)) for name, value in values.items()}


def cancellation_codes(error: ClientError) -> list[str]:
    """The per-item reasons of a cancelled transaction, in the order of its items."""
    return [str(reason.get("Code", "None")) for reason in error.response.get("CancellationReasons", [])]


class RegistryBase:
    """The table, its key and the reads and conditional writes the registry's parts share."""

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
        return plain_item(response["Item"]) if "Item" in response else None

    def _query(self, lineage: str, prefix: str, limit: int | None = None) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": expression_values(
                {":pk": naming.lineage_pk(lineage), ":prefix": prefix}
            ),
            "ConsistentRead": True,
        }
        if limit is not None:
            request["Limit"] = limit
        while True:
            response = self._db.query(**request)
            for item in response.get("Items", []):
                yield plain_item(item)
            if limit is not None or "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _put_if_absent(self, item: Mapping[str, Any]) -> bool:
        """PutItem unless an item with that key exists; False (and no change) when one does."""
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item=item_attributes(item),
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
