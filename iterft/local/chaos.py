"""Seeded chaos for the embedded default: faults injected into the deployed stack's own AWS calls.

The injector wraps botocore's client call (api_calls.py, the patch point the IAM checks share) and acts
only on calls the stack makes: the state machine's (Fine-tune's create and status polls, its SDK tasks) and
the Lambda handlers' (a thread acting as a function, iam/principal.py). The test harness, the operator's
CLI and Bedrock's service roles are never faulted. A fault raised here replaces the whole call, botocore's
own retries included: it stands for a fault that outlasts them, which only the workflow's Retry (or its
failure path) can handle. What it injects, each with its own share:

- Bedrock control-plane calls throttled (`ThrottlingException`) or failing with a 500
  (`InternalServerException`); a 500 on a call that changes something (Create, Update, Delete, Stop)
  takes effect first half of the time (the caller cannot tell whether it did).
- Customization jobs and capacities (deployments, provisioned throughputs) that end Failed, decided once
  per name when the stack first asks to create it (through the stand-in's `fail_next_job` and
  `fail_next_capacity`).
- Handler-side DynamoDB and S3 faults: DynamoDB's `InternalServerError`,
  `ProvisionedThroughputExceededException`, `ThrottlingException`; S3's `InternalError`, `SlowDown`,
  `ServiceUnavailable` (5xx, raised as botocore raises them: S3's as a bare ClientError).

The seed fixes the sequence of draws; which call meets which draw still depends on how threads
interleave, so two runs with one seed inject similar, not identical, faults.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient

from iterft.local.api_calls import Proceed, add_call_wrapper, remove_call_wrapper
from iterft.local.bedrock import BedrockStandIn
from iterft.local.iam import current

CHAOS_WRAPPER = "chaos"
_CHANGES = ("Create", "Update", "Delete", "Stop")
_CAPACITY_CREATES = {
    "CreateCustomModelDeployment": "modelDeploymentName",
    "CreateProvisionedModelThroughput": "provisionedModelName",
}
_HANDLER_ERRORS = {
    "dynamodb": (
        ("InternalServerError", 500),
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
    ),
    "s3": (("InternalError", 500), ("SlowDown", 503), ("ServiceUnavailable", 503)),
}


@dataclass(frozen=True)
class ChaosConfig:
    """The seed and the share of each kind of fault (0 to 1)."""

    seed: int = 0
    bedrock_throttled: float = 0.08
    """Of the stack's Bedrock control-plane calls."""
    bedrock_server_error: float = 0.07
    """Of the stack's Bedrock control-plane calls (after the throttled share is drawn)."""
    job_failed: float = 0.1
    """Of the customization jobs the stack creates."""
    capacity_failed: float = 0.05
    """Of the deployments and provisioned throughputs the stack creates."""
    dynamodb_fault: float = 0.01
    """Of the handlers' DynamoDB calls."""
    s3_fault: float = 0.01
    """Of the handlers' S3 calls."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if name != "seed" and not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")


class ChaosInjector:
    """Injects ChaosConfig's faults while installed (`with ChaosInjector(...)`); counts what it injected."""

    def __init__(self, config: ChaosConfig, standin: BedrockStandIn) -> None:
        self.config = config
        self._standin = standin
        self._random = random.Random(config.seed)
        self._lock = threading.Lock()
        self._decided: set[str] = set()
        self._injected: Counter[str] = Counter()

    def __enter__(self) -> ChaosInjector:
        add_call_wrapper(CHAOS_WRAPPER, self._wrap)
        return self

    def __exit__(self, *_: object) -> None:
        remove_call_wrapper(CHAOS_WRAPPER)

    @property
    def injected(self) -> dict[str, int]:
        """How many faults of each kind were injected so far."""
        with self._lock:
            return dict(sorted(self._injected.items()))

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No faults within the block (settling: what is left must end cleanly)."""
        remove_call_wrapper(CHAOS_WRAPPER)
        try:
            yield
        finally:
            add_call_wrapper(CHAOS_WRAPPER, self._wrap)

    def _draw(self, share: float) -> bool:
        return share > 0 and self._random.random() < share

    def _count(self, kind: str) -> None:
        self._injected[kind] += 1

    def _wrap(self, client: BaseClient, operation: str, params: Any, proceed: Proceed) -> Any:
        principal = current()
        if principal is None:
            return proceed()
        caller = principal.caller
        service = client.meta.service_model.service_name
        if service == "bedrock" and (caller == "the state machine" or caller.startswith("function ")):
            return self._bedrock(client, operation, params, proceed)
        if service in _HANDLER_ERRORS and caller.startswith("function "):
            return self._handler_call(client, operation, service, proceed)
        return proceed()

    def _bedrock(self, client: BaseClient, operation: str, params: Any, proceed: Proceed) -> Any:
        config = self.config
        with self._lock:  # draws only: the call itself runs outside the lock
            self._decide_failures(operation, params)
            fault, after_effect = None, False
            if self._draw(config.bedrock_throttled):
                self._count("bedrock_throttled")
                fault = "ThrottlingException"
            elif self._draw(config.bedrock_server_error):
                after_effect = operation.startswith(_CHANGES) and self._random.random() < 0.5
                self._count("bedrock_500_after_effect" if after_effect else "bedrock_500")
                fault = "InternalServerException"
        if fault is None:
            return proceed()
        if after_effect:
            proceed()
        raise _error(client, operation, fault, 429 if fault == "ThrottlingException" else 500)

    def _decide_failures(self, operation: str, params: Any) -> None:
        """Once per job or capacity name, at its first create: does it end Failed? (lock held)"""
        if operation == "CreateModelCustomizationJob":
            name, share, kind = params.get("jobName", ""), self.config.job_failed, "job_failed"
        elif operation in _CAPACITY_CREATES:
            name, share, kind = (
                params.get(_CAPACITY_CREATES[operation], ""),
                self.config.capacity_failed,
                ("capacity_failed"),
            )
        else:
            return
        if not name or name in self._decided:
            return
        self._decided.add(name)
        if not self._draw(share):
            return
        self._count(kind)
        message = f"Injected by chaos (seed {self.config.seed}): {name} failed."
        if kind == "job_failed":
            self._standin.fail_next_job(name, message)
        else:
            self._standin.fail_next_capacity(name, message)

    def _handler_call(self, client: BaseClient, operation: str, service: str, proceed: Proceed) -> Any:
        share = self.config.dynamodb_fault if service == "dynamodb" else self.config.s3_fault
        with self._lock:
            fault = self._random.choice(_HANDLER_ERRORS[service]) if self._draw(share) else None
            if fault is not None:
                self._count(f"{service}_fault")
        if fault is None:
            return proceed()
        raise _error(client, operation, *fault)


def _error(client: BaseClient, operation: str, code: str, status: int) -> Exception:
    """The error botocore would raise for `code`: the service's modelled class if it has one, else a bare
    ClientError (as for S3's 5xx)."""
    response = {
        "Error": {"Code": code, "Message": f"{operation} failed: {code} (injected by chaos)."},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
    }
    # botocore-stubs type from_code as returning an error; botocore returns its class.
    error_class: type[Exception] = client.exceptions.from_code(code)  # type: ignore[assignment]  # see above
    return error_class(response, operation)


SCRIPTED_WRAPPER = "scripted-faults"


@dataclass
class _Scripted:
    function: str
    service: str
    operation: str | None
    code: str
    status: int
    times: int


class ScriptedFaults:
    """Fail chosen handler calls, where a test wants them: `fail_next(function, service, operation, code)`.

    Like ChaosInjector's faults, each replaces the whole call (botocore's retries included), so it stands
    for a fault that outlasts them. `raised` lists (function, operation, code) of each fault raised."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: list[_Scripted] = []
        self.raised: list[tuple[str, str, str]] = []

    def __enter__(self) -> ScriptedFaults:
        add_call_wrapper(SCRIPTED_WRAPPER, self._wrap)
        return self

    def __exit__(self, *_: object) -> None:
        remove_call_wrapper(SCRIPTED_WRAPPER)

    def fail_next(
        self,
        function: str,
        service: str,
        operation: str | None,
        code: str,
        *,
        status: int = 500,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `service`'s `operation` (None: any) made by the Lambda function named
        `function` fail with `code` (HTTP `status`)."""
        with self._lock:
            self._queued.append(_Scripted(function, service, operation, code, status, times))

    def _wrap(self, client: BaseClient, operation: str, params: Any, proceed: Proceed) -> Any:
        principal = current()
        if principal is None or not principal.caller.startswith("function "):
            return proceed()
        function, service = principal.caller.removeprefix("function "), client.meta.service_model.service_name
        with self._lock:
            match = next(
                (
                    queued
                    for queued in self._queued
                    if queued.times > 0
                    and (queued.function, queued.service) == (function, service)
                    and queued.operation in (None, operation)
                ),
                None,
            )
            if match is not None:
                match.times -= 1
                self.raised.append((function, operation, match.code))
        if match is None:
            return proceed()
        raise _error(client, operation, match.code, match.status)
