"""What every sub-flow of the round is built from: the step functions and the resources they name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.config import DeploymentConfig
from stacks.retries import lambda_step
from stacks.storage import Storage
from stacks.trigger import UploadQueue


@dataclass(frozen=True)
class Steps:
    """The round's step functions by step name (naming.STEPS), with what the flow's states refer to."""

    functions: Mapping[str, lambda_.Function]
    config: DeploymentConfig
    storage: Storage
    upload_queue: UploadQueue
    bedrock_role_arn: str

    @property
    def has_managed_jobs(self) -> bool:
        """Some lineage has `evaluation.managed_job`: the stack has that sub-flow and its functions."""
        return any(lineage.evaluation.managed_job is not None for lineage in self.config.lineages)

    def invoke(
        self, scope: Construct, name: str, step: str, result_path: str, **props: Any
    ) -> tasks.LambdaInvoke:
        """A Lambda step returning its handler's result (Lambda's service errors and throttling retried)."""
        return lambda_step(scope, name, self.functions[step], step, result_path=result_path, **props)


Catchable = sfn.TaskStateBase | sfn.CustomState | sfn.Map | sfn.DistributedMap
"""The states that take a Catch (MapBase itself has no `add_catch`)."""


def catch_failures(states: list[Catchable], on_failure: sfn.IChainable) -> None:
    """Any error of these states puts `$.error` and takes the failure path (clean up, then finish)."""
    for state in states:
        state.add_catch(on_failure, errors=[sfn.Errors.ALL], result_path="$.error")


class Fragment(sfn.StateMachineFragment):
    """A sub-flow: entered at `start`, left through `ends` (none for one that leaves through Choices,
    whose targets it is given, or that ends the round)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self._start: sfn.State | None = None
        self._ends: list[sfn.INextable] = []

    def _entered_at(self, start: sfn.State, *ends: sfn.INextable) -> None:
        self._start, self._ends = start, list(ends)

    @property
    def start_state(self) -> sfn.State:
        if self._start is None:
            raise ValueError(f"{self.node.path} has no start state")
        return self._start

    @property
    def end_states(self) -> list[sfn.INextable]:
        return self._ends
