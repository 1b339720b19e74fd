"""Lambda functions run their real handlers in-process.

Patches `moto.awslambda_simple.models.LambdaSimpleBackend.invoke` (moto's Invoke without Docker).
"""

from __future__ import annotations

import importlib
import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from moto.awslambda.models import LambdaFunction
from moto.awslambda.utils import make_function_arn
from moto.awslambda_simple.models import LambdaSimpleBackend

from iterft.local import limits
from iterft.local.adapters.state import STATE
from iterft.local.iam import acting_as, function_principal

LOG = logging.getLogger(__name__)


@dataclass
class LambdaContext:
    """The `context` the Lambda Python runtime passes: the attributes handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    _started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - self.elapsed()) * 1000))

    def elapsed(self) -> float:
        """Seconds since the invocation began (real time: handlers are not time-scaled)."""
        return time.monotonic() - self._started


class _HandlerLoadError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _load_handler(handler: str) -> Callable[[Any, LambdaContext], Any]:
    """`package.module.function` -> the function; the code is importable (the repo's `lambda/` is on path)."""
    module_name, _, function_name = handler.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise _HandlerLoadError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
        ) from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise _HandlerLoadError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        )
    return cast("Callable[[Any, LambdaContext], Any]", function)


def _error_payload(error_type: str, message: str, stack: list[str], request_id: str) -> bytes:
    """The body the Python runtime returns for a failed invocation (X-Amz-Function-Error: Unhandled)."""
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}
    ).encode()


def invoke_function(function: LambdaFunction, event: Any) -> tuple[bytes, bool]:
    """Run a moto Lambda function's real handler in this process: (response payload, function errored).

    A handler that runs past the function's timeout fails as Lambda fails it (`limits.timed_out_payload`)."""
    context = LambdaContext(
        function_name=function.function_name,
        invoked_function_arn=make_function_arn(function.region, function.account_id, function.function_name),
        memory_limit_in_mb=int(function.memory_size),
        timeout_seconds=float(function.timeout),
    )
    if function.handler is None:  # an image function: moto keeps no handler for it
        raise ValueError(f"Lambda function {function.function_name} has no handler to run in-process")
    try:
        handler = _load_handler(function.handler)
    except _HandlerLoadError as error:
        return _error_payload(error.error_type, str(error), [], context.aws_request_id), True
    try:
        with acting_as(function_principal(function)):
            result = handler(event, context)
    except Exception as error:
        timed_out = limits.timed_out_payload(context)
        if timed_out is not None:  # Lambda stopped it before it raised
            return timed_out, True
        # Drop this frame, as the runtime drops its bootstrap: the trace starts in the handler.
        frames = traceback.extract_tb(error.__traceback__)[1:]
        stack = traceback.format_list(frames)
        LOG.info("%s failed: %s: %s", function.function_name, type(error).__name__, error)
        return _error_payload(type(error).__name__, str(error), stack, context.aws_request_id), True
    timed_out = limits.timed_out_payload(context)
    if timed_out is not None:
        LOG.info("%s timed out after %.2f s", function.function_name, context.timeout_seconds)
        return timed_out, True
    try:
        return json.dumps(result).encode(), False
    except (TypeError, ValueError) as error:
        message = f"Unable to marshal response: {error}"
        return _error_payload("Runtime.MarshalError", message, [], context.aws_request_id), True


def adapt_lambda_invoke() -> None:
    """Lambda Invoke runs the function's real handler in-process instead of echoing the payload.

    Relies on `moto.awslambda_simple.models.LambdaSimpleBackend.invoke`, which moto's server calls for
    every Invoke when configured with `{"lambda": {"use_docker": False}}`. Both Step Functions forms
    (`arn:aws:states:::lambda:invoke` and a bare function ARN) reach it through Lambda's Invoke API, so
    a handler's exception becomes a function error (`X-Amz-Function-Error: Unhandled`, body
    `{errorMessage, errorType, stackTrace}`) that moto's Step Functions turns into Error = errorType and
    Cause = that body, as AWS does. Invocation type `Event` also runs inline (nothing here uses it).
    """

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        function = self.get_function(function_name, qualifier)
        payload, errored = invoke_function(function, json.loads(body) if body else {})
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    STATE.patches.replace(LambdaSimpleBackend, "invoke", invoke)
