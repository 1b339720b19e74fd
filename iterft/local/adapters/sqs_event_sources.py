"""SQS event sources, polled on a thread of their own as the Lambda service polls.

Patches `moto.awslambda.models.LambdaBackend.create_event_source_mapping` (and takes the mapping off
`moto.sqs.models.Queue.lambda_event_source_mappings`, which moto invokes inline in SendMessage).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from moto.awslambda.models import EventSourceMapping, LambdaBackend
from moto.core.utils import unix_time_millis
from moto.sqs.models import Queue, SQSBackend, sqs_backends

from iterft.local.adapters.lambda_invoke import invoke_function
from iterft.local.adapters.state import STATE, scaled
from iterft.local.iam import authorize_event_source

LOG = logging.getLogger(__name__)


_POLLER_IDLE_SECONDS = 0.01
"""How long an SQS poller sleeps when its queue has nothing visible (redeliveries are time-based)."""


def _sqs_record(message: Any, queue: Queue) -> dict[str, Any]:
    """One record of the SQS event Lambda delivers, with the fields AWS sends."""
    attributes = {
        "ApproximateReceiveCount": str(message.approximate_receive_count),
        "SentTimestamp": str(message.sent_timestamp),
        "SenderId": str(message.sender_id),
        "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp),
    }
    if queue.fifo_queue:
        attributes |= {"MessageGroupId": message.group_id, "MessageDeduplicationId": message.deduplication_id}
    return {
        "messageId": message.id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
            for name, value in message.message_attributes.items()
        },
        "md5OfBody": message.body_md5,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.queue_arn,
        "awsRegion": queue.region,
    }


def _failed_message_ids(
    esm: EventSourceMapping, batch_ids: list[str], payload: bytes, errored: bool
) -> set[str]:
    """Which messages of a batch return to the queue, by Lambda's partial batch response rules."""
    if errored:
        return set(batch_ids)
    if "ReportBatchItemFailures" not in (esm.function_response_types or []):
        return set()
    response = json.loads(payload) if payload else None
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return set()
    failures = response["batchItemFailures"]
    identifiers = [item.get("itemIdentifier") if isinstance(item, dict) else None for item in failures]
    if any(identifier not in batch_ids for identifier in identifiers):
        return set(batch_ids)  # AWS treats a malformed or unknown identifier as a failed batch.
    return set(batch_ids).intersection(identifiers)  # every identifier, each one of the batch's


def _visibility_timeout(queue: Queue) -> int:
    """The queue's VisibilityTimeout in seconds: moto sets it (always an int) by name from the attributes."""
    return int(queue.visibility_timeout)  # type: ignore[attr-defined]  # set by moto's setattr, as above


def _hide_until(queue: Queue, receipt_handle: str, seconds: float) -> None:
    """Sub-second visibility timeouts: moto's own API truncates them to whole seconds."""
    for message in queue._messages:
        if message.had_receipt_handle(receipt_handle):
            message.visible_at = unix_time_millis() + seconds * 1000


class SqsPoller:
    """The Lambda service's poller for one SQS event source mapping, on a thread of its own.

    Receives up to BatchSize messages, invokes the handler with an SQS event, deletes what succeeded and
    leaves failed messages to reappear after the queue's visibility timeout (scaled). moto's SQS already
    moves a message to the redrive policy's dead-letter queue when it is received with
    ApproximateReceiveCount >= maxReceiveCount, so redelivery ends there as on AWS. Batches of one mapping
    are handled one at a time.
    """

    def __init__(self, lambda_backend: LambdaBackend, esm: EventSourceMapping, sqs: SQSBackend, queue: Queue):
        self._lambda = lambda_backend
        self._esm_uuid = esm.uuid
        self._sqs = sqs
        self.queue = queue
        self._stopped = threading.Event()
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqs-poller-{queue.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=30)

    def is_quiet(self) -> bool:
        """Nothing delivering and nothing left in the queue (visible, in flight or delayed)."""
        return not self._busy.is_set() and not self.queue._messages

    def _run(self) -> None:
        while not self._stopped.is_set():
            esm = self._lambda.get_event_source_mapping(self._esm_uuid)
            if esm is None:
                return
            self._busy.set()
            try:
                delivered = esm.enabled and self._poll_once(esm)
            except Exception:
                LOG.exception("SQS poller for %s failed; polling on", self.queue.name)
                delivered = False
            finally:
                self._busy.clear()
            if not delivered:
                self._stopped.wait(_POLLER_IDLE_SECONDS)

    def _poll_once(self, esm: EventSourceMapping) -> bool:
        function = self._lambda.get_function(esm.function_arn)
        if not authorize_event_source(function, self.queue):
            return False
        messages = self._sqs.receive_message(
            self.queue.name, esm.batch_size, 0, _visibility_timeout(self.queue)
        )
        if not messages:
            return False
        payload, errored = invoke_function(
            function, {"Records": [_sqs_record(m, self.queue) for m in messages]}
        )
        failed = _failed_message_ids(esm, [m.id for m in messages], payload, errored)
        for message in messages:
            assert message.receipt_handle is not None, "moto gives every received message a receipt handle"
            if message.id in failed:
                _hide_until(
                    self.queue, message.receipt_handle, scaled(float(_visibility_timeout(self.queue)))
                )
            else:
                self._sqs.delete_message(self.queue.name, message.receipt_handle)
        return True


def adapt_sqs_event_sources() -> None:
    """SQS event source mappings are served by an `SqsPoller`, not inline on the sender's thread.

    Relies on `moto.awslambda.models.LambdaBackend.create_event_source_mapping` and on
    `moto.sqs.models.Queue.lambda_event_source_mappings`: moto's `Queue.add_message` invokes every mapping
    it finds there synchronously, inside SendMessage, so a handler that writes to S3 or SQS would re-enter
    the caller. The mapping is removed from the queue (moto's API keeps it) and a poller started for it;
    the poller stops when DeleteEventSourceMapping removes the mapping.
    """
    original = LambdaBackend.create_event_source_mapping

    def create_event_source_mapping(self: LambdaBackend, spec: dict[str, Any]) -> EventSourceMapping:
        esm = original(self, spec)
        sqs = sqs_backends[self.account_id][self.region_name]
        queue = next((q for q in sqs.queues.values() if q.queue_arn == esm.event_source_arn), None)
        if queue is not None:
            queue.lambda_event_source_mappings.pop(esm.function_arn, None)
            with STATE.lock:
                STATE.pollers[esm.uuid] = SqsPoller(self, esm, sqs, queue)
        return esm

    STATE.patches.replace(LambdaBackend, "create_event_source_mapping", create_event_source_mapping)


def is_quiet() -> bool:
    """No SQS-triggered work in flight: every polled queue empty and no handler running."""
    with STATE.lock:
        return all(poller.is_quiet() for poller in STATE.pollers.values())


def wait_for_quiet(timeout: float = 60.0) -> None:
    """Return once `is_quiet()`; TimeoutError naming the busy queues after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not is_quiet():
        if time.monotonic() > deadline:
            with STATE.lock:
                busy = [poller.queue.name for poller in STATE.pollers.values() if not poller.is_quiet()]
            raise TimeoutError(f"SQS-triggered work still in flight after {timeout}s on: {', '.join(busy)}")
        time.sleep(_POLLER_IDLE_SECONDS)
