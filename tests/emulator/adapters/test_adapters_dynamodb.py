"""DynamoDB requests isolated from one another (`adapters.dynamodb_isolation`): a cancelled transaction
undoes nothing another request wrote, as on AWS."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import DynamoDBBackend

from iterft.local.server import EmbeddedAws

TABLE = "isolation"
WAIT_SECONDS = 10.0


@pytest.fixture(scope="module")
def dynamodb(aws: EmbeddedAws) -> Any:
    client = aws.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def _key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "LINEAGE#bot"}, "sk": {"S": sk}}


def test_a_cancelled_transaction_does_not_undo_a_write_made_while_it_ran(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redelivered upload's marker write is cancelled (the marker exists) while Finish records a round's
    outcome on another item of the table. moto backs the table up when a transaction starts and puts the
    backup back when it is cancelled: without isolation, Finish's write made in between is lost."""
    dynamodb.put_item(TableName=TABLE, Item={**_key("UPLOAD#a"), "status": {"S": "started"}})
    dynamodb.put_item(TableName=TABLE, Item={**_key("ITER#0005"), "decision": {"S": "running"}})
    in_transaction, go_on = threading.Event(), threading.Event()
    original = DynamoDBBackend.get_item

    def get_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        """The transaction's condition check, after its backup: it waits there once."""
        if not in_transaction.is_set():
            in_transaction.set()
            go_on.wait(WAIT_SECONDS)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "get_item", get_item)
    cancelled: list[str] = []

    def redelivered_marker() -> None:
        try:
            dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": TABLE,
                            "Item": {**_key("UPLOAD#a"), "status": {"S": "queued"}},
                            "ConditionExpression": "attribute_not_exists(sk)",
                        }
                    }
                ]
            )
        except ClientError as error:
            cancelled.append(error.response["Error"]["Code"])

    def finish() -> None:
        dynamodb.update_item(
            TableName=TABLE,
            Key=_key("ITER#0005"),
            UpdateExpression="SET decision = :failed",
            ExpressionAttributeValues={":failed": {"S": "failed"}},
        )

    transaction = threading.Thread(target=redelivered_marker)
    transaction.start()
    assert in_transaction.wait(WAIT_SECONDS)
    writer = threading.Thread(target=finish)
    writer.start()
    writer.join(0.5)  # isolated: it waits for the transaction; not isolated: it is done by now
    go_on.set()
    transaction.join(WAIT_SECONDS)
    writer.join(WAIT_SECONDS)
    monkeypatch.undo()

    assert cancelled == ["TransactionCanceledException"]
    item = dynamodb.get_item(TableName=TABLE, Key=_key("ITER#0005"))["Item"]
    assert item["decision"] == {"S": "failed"}
