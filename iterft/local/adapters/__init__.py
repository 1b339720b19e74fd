"""Adapters over moto 5.2.5 internals that let its Step Functions interpreter run this app offline.

moto executes state machine definitions, but it leaves Bedrock tasks unconverted, Lambda tasks echoing their
payload, SQS event sources running inline on the sender's thread, every Wait really sleeping, S3 events in
a shape AWS does not send, and per request work its server repeats for every call (service routing, a new
boto3 client per Task state). Each module of this package adapts one such internal and names the
moto internals it patches in its docstring: `bedrock_casing` and `bedrock_tasks` (Bedrock Task states,
`.sync`), `lambda_invoke` (handlers in-process), `sqs_event_sources` (pollers), `time_scaling`,
`s3_events` (EventBridge shape), `request_overhead` and `dynamodb_isolation` (a cancelled transaction
undoing other requests' writes); `state` holds what they share.
`install_adapters` applies them all once and `uninstall_adapters` restores moto. These are internals:
moto is pinned exactly (requirements-dev.txt) and the tests/emulator/test_adapters_*.py files exercise each
adapter end to end, so an upgrade that moves one fails loudly there.

JSONata is not adapted: the workflow's definitions use JSONPath only. What AWS refuses and moto accepts
(payload quotas, errors `States.ALL` does not catch, Lambda timeouts and throttling) is in
`iterft.local.limits`, installed with these.
"""

from __future__ import annotations

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback

from iterft.local import custom_resources, limits
from iterft.local.adapters.bedrock_tasks import adapt_bedrock_tasks
from iterft.local.adapters.dynamodb_isolation import adapt_dynamodb_isolation
from iterft.local.adapters.lambda_invoke import adapt_lambda_invoke, invoke_function
from iterft.local.adapters.request_overhead import adapt_request_overhead
from iterft.local.adapters.s3_events import adapt_s3_eventbridge_events
from iterft.local.adapters.sqs_event_sources import adapt_sqs_event_sources, is_quiet, wait_for_quiet
from iterft.local.adapters.state import STATE, scaled
from iterft.local.adapters.time_scaling import adapt_time_scaling, sync_delay

__all__ = [
    "install_adapters",
    "invoke_function",
    "is_quiet",
    "scaled",
    "uninstall_adapters",
    "wait_for_quiet",
]


def install_adapters(time_scale: float) -> None:
    """Apply every adapter once; calling again only changes the time scale."""
    if time_scale <= 0:
        raise ValueError(f"time_scale must be positive, got {time_scale}")
    with STATE.lock:
        STATE.time_scale = time_scale
        if not STATE.installed:
            adapt_bedrock_tasks()
            adapt_lambda_invoke()
            adapt_sqs_event_sources()
            adapt_time_scaling()
            adapt_s3_eventbridge_events()
            adapt_request_overhead()
            adapt_dynamodb_isolation()
            for owner, name, value in custom_resources.lifecycle_adaptations():
                STATE.patches.replace(owner, name, value)
            limits.install_limits(STATE.patches)
            STATE.installed = True
        else:
            state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK = sync_delay()  # type: ignore[misc]


def uninstall_adapters() -> None:
    """Stop the SQS pollers and give moto back its own behaviour."""
    with STATE.lock:
        for poller in STATE.pollers.values():
            poller.stop()
        STATE.pollers.clear()
        limits.reset_throttles()
        STATE.patches.restore()
        STATE.installed = False
