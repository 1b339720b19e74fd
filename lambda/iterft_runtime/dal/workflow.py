"""Step Functions: starting a round's execution, idempotently."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from iterft_runtime.dal.clients import client, error_code


class ExecutionConflictError(RuntimeError):
    """An execution of that name exists with a different input: not ours to reuse."""


def execution_arn(state_machine_arn: str, name: str) -> str:
    """`arn:...:stateMachine:<machine>` + name -> `arn:...:execution:<machine>:<name>`."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def start_execution(state_machine_arn: str, name: str, document: Mapping[str, Any]) -> str:
    """Start (or find already started) the execution `name` with input `document`; returns its ARN.

    Starting twice with the same name and input is a success: a retried dispatch, not a second round.
    """
    sfn = client("stepfunctions")
    try:
        response = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(document)
        )
    except ClientError as error:
        if error_code(error) != "ExecutionAlreadyExists":
            raise
        arn = execution_arn(state_machine_arn, name)
        existing = sfn.describe_execution(executionArn=arn)
        if json.loads(existing.get("input") or "null") != json.loads(json.dumps(document)):
            raise ExecutionConflictError(f"execution {name} already exists with a different input") from None
        return arn
    return str(response["executionArn"])
