"""What AWS refuses, the embedded default refuses too: each adaptation of iterft/local/limits.py end to end.

Every test runs a tiny state machine (or call) on the embedded AWS, as tests/emulator/adapters/ does;
if a moto upgrade moves an internal a limit relies on, the matching test fails.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import emulator_fixture_handlers as handlers
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_support import create_function, create_test_role, lambda_task, state_machine
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser import models as sfn_models
from moto.stepfunctions.parser import quotas
from moto.stepfunctions.parser.asl.component.common import parargs
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.asl.component.state import state as sfn_state
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel import StateParallel
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda

from iterft.local import limits
from iterft.local.server import EmbeddedAws, embedded_client

HANG_GUARD_SECONDS = 60.0
TIME_SCALE = 0.001
LIMIT = limits.MAX_PAYLOAD_BYTES
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
CAUGHT = {"Caught": {"Type": "Pass", "End": True}}

Run = Callable[[Any, str, dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(time_scale=TIME_SCALE) as embedded:
        create_test_role(embedded)
        yield embedded


@pytest.fixture(scope="module")
def sfn(aws: EmbeddedAws) -> Any:
    return aws.client("stepfunctions")


def one_task(sfn: Any, name: str, task: dict[str, Any], catch: list[dict[str, Any]] = CATCH_ALL) -> str:
    """A state machine of one Task state `Call` (`task`: its Resource and more), caught into `Caught`."""
    states = {"Call": {"Type": "Task", **task, "Catch": catch, "End": True}, **CAUGHT}
    return state_machine(sfn, name, states, "Call")


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


def entered(sfn: Any, execution_arn: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in history(sfn, execution_arn)
        if "stateEnteredEventDetails" in e
    ]


def failure(execution: dict[str, Any]) -> tuple[str, str]:
    return execution.get("error", ""), execution.get("cause", "")


def run_compact(sfn: Any, arn: str, document: dict[str, Any]) -> dict[str, Any]:
    """Start with the input as compact UTF-8 JSON (what the limit counts) and wait until it ends."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    execution_arn = sfn.start_execution(stateMachineArn=arn, input=text)["executionArn"]
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while (execution := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{execution_arn} still running"
        time.sleep(0.01)
    return execution


def padded(size: int, key: str = "pad", char: str = "x") -> dict[str, str]:
    """`{key: "..."}` of exactly `size` bytes of compact UTF-8 JSON: `char` repeated, topped up with "x"."""
    room = size - len(json.dumps({key: ""}, separators=(",", ":")))
    count, rest = divmod(room, len(char.encode()))
    return {key: char * count + "x" * rest}


# --- 1. payload quotas: 256 KiB of compact UTF-8 JSON ------------------------------------------------


def test_payload_size_is_compact_utf8_json() -> None:
    assert limits.payload_bytes(padded(LIMIT)) == LIMIT
    assert limits.payload_bytes(padded(LIMIT, char="é")) == LIMIT  # moto's own measure: about 3 times that
    assert limits.is_within_size_quota(padded(LIMIT)) and not limits.is_within_size_quota(padded(LIMIT + 1))
    assert not quotas.is_within_size_quota(padded(LIMIT))  # moto refused exactly 256 KiB


def test_an_execution_input_over_256_kib_is_refused_at_start(sfn: Any) -> None:
    arn = state_machine(sfn, "input-limit", {"Done": {"Type": "Succeed"}}, "Done")

    assert run_compact(sfn, arn, padded(LIMIT, char="é"))["status"] == "SUCCEEDED"
    with pytest.raises(ClientError) as refused:
        run_compact(sfn, arn, padded(LIMIT + 1))

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "less than or equal to 262144" in refused.value.response["Error"]["Message"]


def test_a_state_output_over_256_kib_fails_the_execution(sfn: Any, run_to_end: Run) -> None:
    """A Pass adds `,"more":1` (9 bytes): the input is sized so that the output is 256 KiB, or 1 byte more."""
    arn = state_machine(
        sfn,
        "output-limit",
        {"Grow": {"Type": "Pass", "Result": 1, "ResultPath": "$.more", "End": True}},
        "Grow",
    )

    fits = run_compact(sfn, arn, padded(LIMIT - len(',"more":1'), char="é"))
    too_big = run_compact(sfn, arn, padded(LIMIT - len(',"more":1') + 1))

    assert fits["status"] == "SUCCEEDED"
    assert too_big["status"] == "FAILED"
    assert failure(too_big)[0] == "States.DataLimitExceeded"


def test_a_task_result_over_256_kib_is_not_caught_by_states_all(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run
) -> None:
    function_arn = create_function(aws, "sized", "emulator_fixture_handlers.sized")
    retry = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]
    # ResultPath null discards the result: it is the task's result itself that is over the limit.
    arn = one_task(sfn, "result-limit", {"Resource": function_arn, "ResultPath": None, "Retry": retry})

    fits = run_to_end(sfn, arn, {"bytes": 1000})
    too_big = run_to_end(sfn, arn, {"bytes": LIMIT + 1})

    assert fits["status"] == "SUCCEEDED"
    assert too_big["status"] == "FAILED"
    assert failure(too_big)[0] == "States.DataLimitExceeded"
    assert "Caught" not in entered(sfn, too_big["executionArn"])
    sized_calls = [call for call in handlers.calls("sized") if call["event"]["bytes"] == LIMIT + 1]
    assert len(sized_calls) == 1  # not retried either


def test_data_limit_exceeded_is_caught_when_named(aws: EmbeddedAws, sfn: Any, run_to_end: Run) -> None:
    function_arn = create_function(aws, "sized-named", "emulator_fixture_handlers.sized")
    named = [{"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": "$.error", "Next": "Caught"}]
    arn = one_task(sfn, "result-limit-named", {"Resource": function_arn, "ResultPath": None}, named)

    execution = run_to_end(sfn, arn, {"bytes": LIMIT + 1})

    assert execution["status"] == "SUCCEEDED"
    assert execution["output"]["error"]["Error"] == "States.DataLimitExceeded"


def test_a_state_input_over_256_kib_after_parameters_fails_the_state(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run
) -> None:
    function_arn = create_function(aws, "never-called", "emulator_fixture_handlers.describe_context")
    parameters = {"first.$": "$.pad", "second.$": "$.pad"}
    arn = one_task(sfn, "parameters-limit", {"Resource": function_arn, "Parameters": parameters})

    execution = run_to_end(sfn, arn, padded(LIMIT // 2 + 100))

    assert execution["status"] == "FAILED"
    assert failure(execution)[0] == "States.DataLimitExceeded"
    assert "after Parameters" in failure(execution)[1]
    assert not [c for c in handlers.calls("describe_context") if "first" in c["event"]]


def test_a_map_gathering_over_256_kib_fails_even_when_its_result_is_discarded(
    sfn: Any, run_to_end: Run
) -> None:
    big = "x" * 100_000
    arn = state_machine(
        sfn,
        "map-limit",
        {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Echo",
                    "States": {"Echo": {"Type": "Pass", "Result": big, "End": True}},
                },
                "ResultPath": None,
                "Catch": CATCH_ALL,
                "End": True,
            },
            **CAUGHT,
        },
        "Each",
    )

    two = run_to_end(sfn, arn, {"items": [1, 2]})
    three = run_to_end(sfn, arn, {"items": [1, 2, 3]})

    assert two["status"] == "SUCCEEDED"
    assert three["status"] == "FAILED"
    assert failure(three)[0] == "States.DataLimitExceeded"


# --- 2. States.Runtime is neither retried nor caught ------------------------------------------------


def test_states_runtime_is_neither_retried_nor_caught_by_states_all(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run
) -> None:
    function_arn = create_function(aws, "runtime", "emulator_fixture_handlers.describe_context")
    task = {
        "Resource": function_arn,
        "Parameters": {"missing.$": "$.no.such.path"},
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
    }
    named = [{"ErrorEquals": ["States.Runtime"], "ResultPath": "$.error", "Next": "Caught"}]
    arn = one_task(sfn, "runtime-error", task, [*named, *CATCH_ALL])

    execution = run_to_end(sfn, arn, {"key": "x"})

    assert execution["status"] == "FAILED", execution.get("output")
    assert failure(execution)[0] == "States.Runtime"
    assert entered(sfn, execution["executionArn"]) == ["Call"]


# --- 3. Lambda timeouts -----------------------------------------------------------------------------


def test_a_handler_running_past_its_timeout_fails_with_sandbox_timedout(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run
) -> None:
    function_arn = create_function(aws, "slow", "emulator_fixture_handlers.oversleep", Timeout=1)
    task_failed = [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Caught"}]
    arn = one_task(sfn, "lambda-timeout", {"Resource": function_arn}, task_failed)

    in_time = run_to_end(sfn, arn, {"seconds": 0.01})
    too_slow = run_to_end(sfn, arn, {"seconds": 1.2})  # real seconds: handlers are not time-scaled

    assert in_time["status"] == "SUCCEEDED" and in_time["output"] == {"slept": 0.01}
    assert too_slow["status"] == "SUCCEEDED"  # through the catch
    error = too_slow["output"]["error"]
    assert error["Error"] == "Sandbox.Timedout"
    assert json.loads(error["Cause"])["errorMessage"].endswith("Task timed out after 1.00 seconds")
    direct = aws.client("lambda").invoke(FunctionName="slow", Payload=json.dumps({"seconds": 1.2}))
    assert direct["FunctionError"] == "Unhandled"
    assert json.loads(direct["Payload"].read())["errorType"] == "Sandbox.Timedout"


# --- 4. Lambda throttling ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["optimized", "bare-arn"])
def test_a_throttled_invocation_is_lambda_too_many_requests_and_is_retried(
    aws: EmbeddedAws, sfn: Any, run_to_end: Run, form: str
) -> None:
    function_arn = create_function(aws, f"throttled-{form}", "emulator_fixture_handlers.describe_context")
    task = lambda_task(form, function_arn, ResultSelector={"event.$": "$.Payload.event"})
    retry = [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 2, "MaxAttempts": 3}]
    arn = state_machine(
        sfn, f"throttle-{form}", {"Call": {"Type": "Task", **task, "Retry": retry, "End": True}}, "Call"
    )
    limits.throttle_next_invocations(f"throttled-{form}", times=2)

    execution = run_to_end(sfn, arn, {"key": form})

    assert execution["status"] == "SUCCEEDED"
    assert execution["output"]["event"] == {"key": form}
    errors = [
        (e.get("taskFailedEventDetails") or e.get("lambdaFunctionFailedEventDetails"))["error"]
        for e in history(sfn, execution["executionArn"])
        if e["type"] in ("TaskFailed", "LambdaFunctionFailed")
    ]
    assert errors == ["Lambda.TooManyRequestsException"] * 2


def test_a_throttled_invoke_is_a_429_and_runs_no_handler(aws: EmbeddedAws) -> None:
    create_function(aws, "throttled-direct", "emulator_fixture_handlers.describe_context")
    limits.throttle_next_invocations("throttled-direct")
    before = len(handlers.calls("describe_context"))

    no_retries = embedded_client(
        "lambda", aws.endpoint, aws.region, Config(retries={"total_max_attempts": 1})
    )  # botocore retries a 429 by itself otherwise

    with pytest.raises(ClientError) as refused:
        no_retries.invoke(FunctionName="throttled-direct", Payload=b'{"key": "direct"}')

    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert len(handlers.calls("describe_context")) == before
    assert aws.client("lambda").invoke(FunctionName="throttled-direct", Payload=b"{}")["StatusCode"] == 200


# --- the internals relied on --------------------------------------------------------------------------


def test_every_internal_a_limit_relies_on_exists_in_this_moto(aws: EmbeddedAws) -> None:
    for module in (sfn_state, state_task_lambda, state_task_service):
        assert module.is_within_size_quota is limits.is_within_size_quota  # installed by EmbeddedAws
    assert callable(parargs.Parargs._eval_body)
    assert callable(StateMap._eval_execution) and callable(StateParallel._eval_execution)
    assert (
        "execution_input"
        in inspect.signature(sfn_models.StepFunctionsParserBackend.start_execution).parameters
    )
    assert callable(ErrorEqualsDecl._eval_body)
    assert "qualifier" in inspect.signature(LambdaSimpleBackend.invoke).parameters
    assert callable(StateTaskLambda._from_error)
    assert callable(StateTaskServiceLambda._error_cause_from_client_error)
