"""Time scaling: Wait states, Retry intervals, the `.sync` polling delay and the timeouts and heartbeats
of callback Task states last `time_scale` times as long.

Patches `WaitFunction._wait_interval`, the `time` module of `retrier_decl`,
`state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK`, `StateTaskService.from_state_props`
and `StateTaskService._before_eval_execution` (see `adapt_time_scaling`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import Heartbeat
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import Timeout
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.environment import Environment

from iterft.local.adapters.state import STATE, scaled

_ORIGINAL_SYNC_DELAY_SECONDS: float = state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK
_MIN_SYNC_DELAY_SECONDS = 0.01
"""Each .sync poll is an HTTP round trip to the server: polling faster only takes CPU from the jobs."""


class _ScaledSleep:
    """Stands in for the `time` module inside retrier_decl: `sleep` is scaled, the rest is `time`'s."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(scaled(seconds))


def _scaled_wait_interval(self: WaitFunction, env: Environment, wait_seconds: float) -> None:
    """A Wait state's interval, scaled; it ends early when the execution stops, like moto's."""
    deadline = time.monotonic() + scaled(wait_seconds)
    while env.is_running():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        env.program_state_event.wait(remaining)


def sync_delay() -> float:
    return max(scaled(_ORIGINAL_SYNC_DELAY_SECONDS), _MIN_SYNC_DELAY_SECONDS)


_RECORDING = threading.local()
"""Set while a Task state records its TaskScheduled event: the history shows the declared seconds."""


class _ScaledSeconds:
    """Evaluates the declared component (seconds, a path or JSONata) and pushes real seconds instead."""

    def __init__(self, declared: Any) -> None:
        self.declared = declared

    def _eval_seconds(self, env: Environment) -> int:  # pragma: no cover - _eval_body is overridden
        raise NotImplementedError

    def _eval_body(self, env: Environment) -> None:
        self.declared.eval(env=env)
        if not getattr(_RECORDING, "active", False):
            env.stack.append(scaled(env.stack.pop()))


class _ScaledTimeout(_ScaledSeconds, Timeout):
    """A callback Task's TimeoutSeconds(Path), in real seconds under the time scale."""

    def is_default_value(self) -> bool:
        return bool(self.declared.is_default_value())


class _ScaledHeartbeat(_ScaledSeconds, Heartbeat):
    """A callback Task's HeartbeatSeconds(Path), in real seconds under the time scale."""


_ORIGINAL_SERVICE_FROM_STATE_PROPS = StateTaskService.from_state_props
_ORIGINAL_BEFORE_EVAL_EXECUTION = StateTaskService._before_eval_execution


def _service_task_from_state_props(self: StateTaskService, state_props: Any) -> None:
    """Scale the timeout and heartbeat of `.sync`, `.sync:2` and `.waitForTaskToken` Task states.

    Request-response tasks (Lambda invoke, SDK calls) keep real seconds: their work (the in-process
    handlers, the server's calls) takes real time whatever the scale. A TimeoutSeconds left to its
    default (99999999, or moto's 60 beside a HeartbeatSeconds) is not scaled either.
    """
    _ORIGINAL_SERVICE_FROM_STATE_PROPS(self, state_props)
    if getattr(self.resource, "condition", None) is None:
        return
    if not self.timeout.is_default_value():
        self.timeout = _ScaledTimeout(self.timeout)
    if self.heartbeat is not None:
        self.heartbeat = _ScaledHeartbeat(self.heartbeat)


def _before_eval_execution_declared(self: StateTaskService, *args: Any, **kwargs: Any) -> None:
    """TaskScheduled keeps the declared timeoutInSeconds/heartbeatInSeconds, as AWS records them."""
    _RECORDING.active = True
    try:
        _ORIGINAL_BEFORE_EVAL_EXECUTION(self, *args, **kwargs)
    finally:
        _RECORDING.active = False


def adapt_time_scaling() -> None:
    """Wait states, Retry intervals, the .sync polling delay and the timeouts and heartbeats of callback
    Task states (`.sync`, `.waitForTaskToken`: e.g. a 72-hour approval) last `time_scale` times as long.

    Relies on `WaitFunction._wait_interval` (parser/asl/component/state/wait/wait_function/wait_function.py),
    the module-level `time` that `RetrierDecl._eval_body` sleeps with
    (parser/asl/component/common/retry/retrier_decl.py),
    `state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK` (read on every poll; floored at
    10 ms, see _MIN_SYNC_DELAY_SECONDS), and, for timeouts and heartbeats, on the state's `timeout` and
    `heartbeat` components (parser/asl/component/common/timeouts/timeout.py and heartbeat.py: each pushes
    its seconds on `env.stack`) being set by `StateTaskService.from_state_props` and evaluated by
    `ExecutionState._evaluate_with_timeout` and `StateTaskServiceCallback._eval_integration_pattern`
    (which hands them to `CallbackEndpoint.wait` and `HeartbeatEndpoint`), and recorded in TaskScheduled
    by `StateTaskService._before_eval_execution`.
    """
    STATE.patches.replace(WaitFunction, "_wait_interval", _scaled_wait_interval)
    STATE.patches.replace(retrier_decl, "time", _ScaledSleep())
    STATE.patches.replace(state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", sync_delay())
    STATE.patches.replace(StateTaskService, "from_state_props", _service_task_from_state_props)
    STATE.patches.replace(StateTaskService, "_before_eval_execution", _before_eval_execution_declared)
