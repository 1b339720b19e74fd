"""Shared by the emulator tests: the fixture handlers' folder on sys.path, waiting for executions."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))  # as the repo's lambda/ folder is for the real handlers

HANG_GUARD_SECONDS = 60.0
"""Only guards against a hung execution; no test depends on how fast anything runs."""


def _finished(sfn: Any, execution_arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while True:
        execution = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            return execution
        if time.monotonic() > deadline:
            pytest.fail(f"{execution_arn} still RUNNING after {HANG_GUARD_SECONDS}s")
        time.sleep(0.01)


@pytest.fixture
def run_to_end() -> Callable[[Any, str, dict[str, Any]], dict[str, Any]]:
    """Start an execution and return its final description, with `output` parsed."""

    def run(sfn: Any, state_machine_arn: str, execution_input: dict[str, Any]) -> dict[str, Any]:
        arn = sfn.start_execution(stateMachineArn=state_machine_arn, input=json.dumps(execution_input))[
            "executionArn"
        ]
        execution = _finished(sfn, arn)
        if "output" in execution:
            execution["output"] = json.loads(execution["output"])
        return execution

    return run
