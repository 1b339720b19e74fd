"""DynamoDB requests isolated from one another, as DynamoDB isolates them; behaviour otherwise unchanged.

Patches `moto.dynamodb.responses.DynamoHandler.call_action`: each DynamoDB request (parsing, the backend's
work, the response) runs under one lock. moto 5.2.5 serves requests on concurrent threads and its
`DynamoDBBackend.transact_write_items` first deep-copies every table the transaction names; when one of
its items fails (a condition, say), it puts those copies back, which undoes every write another request
made to the table meanwhile, not only the transaction's own. On AWS a cancelled transaction changes nothing
at all. In the pipeline a cancelled transaction is routine (a redelivered upload event's marker, a lost
dispatch race), and the write it undid could be Finish recording a round's outcome: the round stayed
`running` with its lineage's lock released (found by the reliability benchmark). The backend's other
item operations also read and store items in steps, and a response serializes items another request
may be changing. DynamoDB calls are short, so one lock for all of them costs the pipeline nothing it
could measure here.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.responses import DynamoHandler

from iterft.local.adapters.state import STATE

_LOCK = threading.RLock()


def adapt_dynamodb_isolation() -> None:
    """One DynamoDB request at a time (see the module docstring)."""
    original: Callable[[DynamoHandler], Any] = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: DynamoHandler) -> Any:
        with _LOCK:
            return original(self)

    STATE.patches.replace(DynamoHandler, "call_action", call_action)
