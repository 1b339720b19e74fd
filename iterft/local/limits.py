"""What AWS refuses and moto 5.2.5 accepts: payload quotas, uncatchable errors, Lambda timeouts, throttling.

The rule of the embedded default is that what AWS would refuse, it refuses too. moto's Step Functions
interpreter (vendored from LocalStack) already checks a task's result and a state's output against 256 KiB,
but it measures `json.dumps` with spaces and ASCII escapes and refuses exactly 262,144 bytes; it never checks
a state's input after Parameters, an aggregated Map or Parallel result, or an execution's input; and its
`States.ALL` matches everything, so a catcher routes `States.DataLimitExceeded` and `States.Runtime` to its
fallback state where AWS fails the execution. Its Lambda runs no timeout, and nothing in it ever throttles.

Each `adapt_*` function below patches one moto internal and names it in its docstring, like
`iterft.local.adapters` (which installs them: `install_limits`); tests/emulator/test_limits.py exercises
each one end to end. AWS's rules, as the documentation gives them (paraphrased where not quoted):

* Step Functions service quotas (docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html): a task's,
  a state's or an execution's input or output is at most 256 KiB of data as a UTF-8 encoded string. The API
  reference states the bound as "Maximum length of 262144", "expressed as bytes in UTF-8 encoding"
  (StartExecution `input`, StateEnteredEventDetails `input`, StateExitedEventDetails `output`,
  TaskScheduledEventDetails `parameters`).
* Handling errors in Step Functions workflows
  (docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html): `States.ALL` cannot catch the
  `States.DataLimitExceeded` terminal error or the `States.Runtime` error type; `States.DataLimitExceeded`
  is reported when a connector's output or a state's output is larger than the payload quota, or a state's
  input after Parameters processing is; a `States.Runtime` error is not retriable and always fails the
  execution.
* Handle Lambda service exceptions
  (docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html):
  "When Lambda hits the maximum number of invocations, the error is `Lambda.TooManyRequestsException`";
  unhandled errors, function timeouts included, can be matched with `States.ALL` or `States.TaskFailed`.
* Troubleshoot invocation issues in Lambda
  (docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html):
  a timed-out invocation is the function error `Sandbox.Timedout`, "Task timed out after N seconds".
"""

from __future__ import annotations

import fnmatch
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from botocore.exceptions import ClientError
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaFunction
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.exceptions import ValidationException
from moto.stepfunctions.parser import models as sfn_models
from moto.stepfunctions.parser.api import (
    HistoryEventType,
    LambdaFunctionFailedEventDetails,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common import parargs
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state import state as sfn_state
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel import StateParallel
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError

MAX_PAYLOAD_BYTES = 256 * 1024
"""262,144 bytes of UTF-8 JSON: the most a state's input or output, a task's result or an execution's input
may hold (Step Functions service quotas; "Maximum length of 262144" in the API reference)."""

_DATA_LIMIT = StatesErrorNameType.StatesStatesDataLimitExceeded
_RUNTIME = StatesErrorNameType.StatesRuntime
_ALL = StatesErrorNameType.StatesALL
_TASK_FAILED = StatesErrorNameType.StatesTaskFailed


class _Patches(Protocol):
    def replace(self, owner: Any, name: str, value: Any) -> None: ...


def _json_default(value: Any) -> str:
    """What moto's encoder (`parser/asl/utils/encoding.py`) writes for values JSON has no form for."""
    return value.isoformat() if isinstance(value, date) else str(value)


def payload_bytes(value: Any) -> int:
    """The size Step Functions measures: UTF-8 bytes of the value as compact JSON (a string as it is).

    moto's `to_json_str` adds a space after every separator and escapes non-ASCII characters (6 bytes
    each); the payload AWS measures is the JSON its history shows, compact, and counted in UTF-8."""
    if not isinstance(value, str):
        value = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return len(value.encode("utf-8"))


def is_within_size_quota(value: Any) -> bool:
    """Stands in for `moto.stepfunctions.parser.quotas.is_within_size_quota`: at most 262,144 bytes."""
    return payload_bytes(value) <= MAX_PAYLOAD_BYTES


def data_limit_failure(env: Environment, what: str) -> FailureEventException:
    """`States.DataLimitExceeded` for `what` (e.g. "the input of state 'X' after Parameters")."""
    cause = f"{what} has a size exceeding the maximum number of bytes service limit ({MAX_PAYLOAD_BYTES:,})."
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=_DATA_LIMIT),
            event_type=HistoryEventType.TaskFailed,
            # moto's EventDetails TypedDict is total, yet an event holds only its own kind's details.
            event_details=EventDetails(  # type: ignore[typeddict-item]  # see above
                taskFailedEventDetails=TaskFailedEventDetails(error=_DATA_LIMIT.to_name(), cause=cause)
            ),
        )
    )


def _check_payload(env: Environment, value: Any, what: str) -> None:
    if not is_within_size_quota(value):
        raise data_limit_failure(env, what)


# --- 1. payload quotas ---------------------------------------------------------------------------------


def adapt_payload_quotas(patches: _Patches) -> None:
    """Every payload Step Functions bounds is checked against 262,144 bytes of compact UTF-8 JSON.

    Relies on the `is_within_size_quota` name each of these moto modules imported from
    `moto.stepfunctions.parser.quotas` and calls on every check (a task's result, a state's output):
    `parser/asl/component/state/state.py`, `.../state_task/state_task_lambda.py` and
    `.../state_task/service/state_task_service.py`; moto's own measures `json.dumps` with spaces and
    `\\uXXXX` escapes and refuses exactly 262,144 bytes. Adds the checks moto lacks:

    * a state's input after Parameters (`Parargs._eval_body` in parser/asl/component/common/parargs.py,
      which evaluates the Parameters of Task, Pass, Map and Parallel states; for a Task it runs inside the
      state's Retry/Catch, as on AWS);
    * the gathered result of a Map or Parallel state before ResultSelector and ResultPath
      (`StateMap._eval_execution`, `StateParallel._eval_execution`): an assumption, AWS documents the
      limit for a connector's output and a state's output; a Map whose iterations return too much is
      refused here even when its ResultPath discards it;
    * an execution's input (`StepFunctionsParserBackend.start_execution` in parser/models.py): StartExecution
      refuses it with `ValidationException`, as the API's length constraint does (and, while there, names
      an execution started without a name by a UUID, as AWS does, where moto names it "None").
    """
    for module in (sfn_state, state_task_lambda, state_task_service):
        patches.replace(module, "is_within_size_quota", is_within_size_quota)

    evaluate_parameters = parargs.Parargs._eval_body

    def parameters_within_quota(self: parargs.Parargs, env: Environment) -> None:
        evaluate_parameters(self, env)
        _check_payload(env, env.stack[-1], f"The input of state '{_state_name(env)}' after Parameters")

    patches.replace(parargs.Parargs, "_eval_body", parameters_within_quota)

    for state_class in (StateMap, StateParallel):
        patches.replace(state_class, "_eval_execution", _result_within_quota(state_class._eval_execution))

    start_execution = sfn_models.StepFunctionsParserBackend.start_execution

    def start_execution_within_quota(
        self: sfn_models.StepFunctionsParserBackend,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        if execution_input is not None and payload_bytes(execution_input) > MAX_PAYLOAD_BYTES:
            raise ValidationException(
                "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_PAYLOAD_BYTES}"
            )
        # An execution started without a name gets a UUID (moto's would be named "None").
        return start_execution(
            self,
            state_machine_arn,
            name or str(uuid.uuid4()),
            # moto annotates these `str` with a None default, and takes None (as its API handler passes).
            execution_input,  # type: ignore[arg-type]  # moto: None is fine
            trace_header,  # type: ignore[arg-type]  # as above
        )

    patches.replace(sfn_models.StepFunctionsParserBackend, "start_execution", start_execution_within_quota)


def _state_name(env: Environment) -> str:
    state: Mapping[str, Any] = env.states.context_object.context_object_data.get("State") or {}
    return str(state.get("Name", "?"))


def _result_within_quota(evaluate: Callable[[Any, Environment], None]) -> Callable[[Any, Environment], None]:
    def evaluate_within_quota(self: Any, env: Environment) -> None:
        evaluate(self, env)
        if env.stack:
            _check_payload(env, env.stack[-1], f"The result of state '{self.name}'")

    return evaluate_within_quota


# --- 2. what States.ALL does not catch -----------------------------------------------------------------


def error_matches(error_name: Any, error_names: list[Any]) -> bool:
    """Whether a retrier's or catcher's ErrorEquals matches `error_name`, by AWS's rules.

    `States.Runtime` matches nothing: it is not retriable and always fails the execution.
    `States.DataLimitExceeded` is matched only when named: `States.ALL` cannot catch it. Otherwise moto's
    rules: `States.ALL` matches any error, `States.TaskFailed` any error that is not a `States.*` one.
    """
    name = getattr(error_name, "error_name", None)
    if name == _RUNTIME.to_name():
        return False
    if name == _DATA_LIMIT.to_name():
        return error_name in error_names
    if StatesErrorName(typ=_ALL) in error_names:
        return True
    if StatesErrorName(typ=_TASK_FAILED) in error_names and not isinstance(error_name, StatesErrorName):
        return True
    return error_name in error_names


def adapt_error_matching(patches: _Patches) -> None:
    """`States.ALL` in a Retry or Catch no longer matches `States.DataLimitExceeded` or `States.Runtime`.

    Relies on `ErrorEqualsDecl._eval_body` (parser/asl/component/common/error_name/error_equals_decl.py),
    which every retrier and catcher evaluates with the error name on the stack and leaves its verdict there;
    moto's matches `States.ALL` against everything. See `error_matches`.
    """

    def eval_body(self: ErrorEqualsDecl, env: Environment) -> None:
        env.stack.append(error_matches(env.stack.pop(), self.error_names))

    patches.replace(ErrorEqualsDecl, "_eval_body", eval_body)


# --- 3. Lambda timeouts --------------------------------------------------------------------------------

SANDBOX_TIMEDOUT = "Sandbox.Timedout"


class _Invocation(Protocol):
    timeout_seconds: float
    aws_request_id: str

    def elapsed(self) -> float: ...


def timed_out_payload(invocation: _Invocation) -> bytes | None:
    """The Invoke response payload of an invocation that ran past its function's timeout, else None.

    Lambda stops such an invocation and answers with the function error `Sandbox.Timedout` (Troubleshoot
    invocation issues in Lambda); Step Functions reports that errorType as the task's error, which
    `States.ALL` and `States.TaskFailed` match. (Step Functions' best-practice page still names an
    unhandled timeout `Lambda.Unknown`; the same catchers match both.) The handler here has already
    returned: what it did stays done, as a stopped invocation's side effects do on AWS. The elapsed time
    is real time, not scaled: handlers and the Bedrock stand-in run at real speed, only Waits and Retry
    intervals are compressed (`adapters.scaled`).
    """
    timeout = invocation.timeout_seconds
    if invocation.elapsed() <= timeout:
        return None
    message = f"RequestId: {invocation.aws_request_id} Error: Task timed out after {timeout:.2f} seconds"
    return json.dumps({"errorType": SANDBOX_TIMEDOUT, "errorMessage": message}).encode()


# --- 4. Lambda throttling ------------------------------------------------------------------------------


class TooManyRequestsException(LambdaClientError):
    """Lambda's 429 for an invocation beyond the function's or the account's concurrency."""

    code = 429

    def __init__(self, reason: str) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")
        body = json.loads(self.description)
        body.update({"Type": "User", "Reason": reason})
        self.description = json.dumps(body)


@dataclass
class _Throttles:
    pending: list[tuple[str, int]] = field(default_factory=list)
    """(pattern, remaining invocations to refuse), in the order they were asked for."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, function: LambdaFunction) -> bool:
        names = (function.function_name, function.handler or "")
        with self.lock:
            for index, (pattern, remaining) in enumerate(self.pending):
                if any(fnmatch.fnmatchcase(name, pattern) or pattern in name for name in names):
                    if remaining <= 1:
                        del self.pending[index]
                    else:
                        self.pending[index] = (pattern, remaining - 1)
                    return True
        return False


_THROTTLES = _Throttles()


def throttle_next_invocations(match: str, times: int = 1) -> None:
    """The next `times` Invoke calls of a function whose name or handler contains (or glob-matches) `match`
    are refused with `TooManyRequestsException` (HTTP 429), as Lambda refuses invocations beyond the
    concurrency limit (new accounts: 10); Step Functions then reports `Lambda.TooManyRequestsException`.
    The handler does not run. A fault injection hook for tests."""
    if times < 1:
        raise ValueError("times must be at least 1")
    with _THROTTLES.lock:
        _THROTTLES.pending.append((match, times))


def reset_throttles() -> None:
    with _THROTTLES.lock:
        _THROTTLES.pending.clear()


def adapt_lambda_throttling(patches: _Patches) -> None:
    """Lambda Invoke can be refused with 429 `TooManyRequestsException` (see `throttle_next_invocations`).

    Relies on `moto.awslambda_simple.models.LambdaSimpleBackend.invoke` (the method moto's server calls for
    every Invoke without Docker; `adapters.adapt_lambda_invoke` already replaced it and is wrapped here) and
    on moto's `JsonRESTError`, which the server renders as the error response botocore parses
    (`X-Amzn-ErrorType`, status 429).
    """
    invoke = LambdaSimpleBackend.invoke

    def throttled_invoke(
        self: LambdaSimpleBackend, function_name: str, qualifier: str | None, *args: Any
    ) -> Any:
        if _THROTTLES.take(self.get_function(function_name, qualifier)):
            raise TooManyRequestsException("ConcurrentInvocationLimitExceeded")
        return invoke(self, function_name, qualifier, *args)

    patches.replace(LambdaSimpleBackend, "invoke", throttled_invoke)


def adapt_lambda_client_errors(patches: _Patches) -> None:
    """A Task naming its function by ARN reports Lambda API errors as `Lambda.<Code>`, like `lambda:invoke`.

    Relies on `StateTaskLambda._from_error` (parser/asl/component/state/exec/state_task/state_task_lambda.py),
    which names every botocore `ClientError` of Invoke plain `Exception`, so no Retry on
    `Lambda.TooManyRequestsException` or `Lambda.ServiceException` could match it; the optimized
    integration's `StateTaskServiceLambda._error_cause_from_client_error` gives the name and cause used here.
    The workflow's Lambda steps are of this form (CDK's `payload_response_only`). A JSONPath of its
    Parameters missing from the input is `States.Runtime` (`ExecutionState._from_error`), as for any other
    state, where moto's makes it a catchable `States.TaskFailed`.
    """
    from_error = StateTaskLambda._from_error

    def lambda_from_error(self: StateTaskLambda, env: Environment, ex: Exception) -> FailureEvent:
        if isinstance(ex, NoSuchJsonPathError):
            return ExecutionState._from_error(self, env, ex)  # States.Runtime, as for every other state
        if not isinstance(ex, ClientError):
            return from_error(self, env, ex)
        error, cause = StateTaskServiceLambda._error_cause_from_client_error(ex)
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            # moto's EventDetails TypedDict is total, yet an event holds only its own kind's details.
            event_details=EventDetails(  # type: ignore[typeddict-item]  # see above
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)
            ),
        )

    patches.replace(StateTaskLambda, "_from_error", lambda_from_error)


def install_limits(patches: _Patches) -> None:
    """Apply every adaptation of this module (after `adapters.adapt_lambda_invoke`, which one wraps)."""
    adapt_payload_quotas(patches)
    adapt_error_matching(patches)
    adapt_lambda_throttling(patches)
    adapt_lambda_client_errors(patches)
