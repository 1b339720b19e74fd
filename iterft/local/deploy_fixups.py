"""The fix-ups after moto's CloudFormation has created (or updated) a stack (iterft/local/deploy.py): what
it leaves out, done through the embedded AWS's APIs.

Schedules (moto's CloudFormation has none) are created through moto's Scheduler; state machines are created
again (or updated) in the Step Functions backend that executes them; a bucket's versioning and EventBridge
notification are applied; and the app's Python functions are listed with the one environment their
in-process handlers share.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import ClientError
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.parsing import clean_json
from moto.stepfunctions.models import stepfunctions_backends

from iterft.local.server import ACCOUNT_ID, embedded_client


class DeployError(RuntimeError):
    """The stack cannot run on the embedded AWS; the message names the resource and why."""


class SynthesizedStack(Protocol):
    """What deploy needs from `stacks.app_builder.SynthResult`."""

    @property
    def template(self) -> dict[str, Any]: ...

    @property
    def assembly_dir(self) -> Path: ...

    @property
    def stack_name(self) -> str: ...


@dataclass(frozen=True)
class FunctionInfo:
    """A deployed Lambda function as the in-process dispatch sees it."""

    logical_id: str
    name: str
    arn: str
    handler: str
    environment: dict[str, str]


class _Clients:
    # No retries: the server is local, and a retried CreateStack only finds its own half-made stack.
    _CONFIG = Config(retries={"total_max_attempts": 1})

    def __init__(self, endpoint: str, region: str) -> None:
        self._make = functools.partial(embedded_client, endpoint=endpoint, region=region, config=self._CONFIG)

    @functools.cached_property
    def s3(self) -> Any:
        return self._make("s3")

    @functools.cached_property
    def ssm(self) -> Any:
        return self._make("ssm")

    @functools.cached_property
    def cloudformation(self) -> Any:
        return self._make("cloudformation")

    @functools.cached_property
    def lambda_(self) -> Any:
        return self._make("lambda")

    @functools.cached_property
    def stepfunctions(self) -> Any:
        return self._make("stepfunctions")

    @functools.cached_property
    def scheduler(self) -> Any:
        return self._make("scheduler")


SCHEDULE_TYPE = "AWS::Scheduler::Schedule"


def _create_schedules(
    clients: _Clients, synth: SynthesizedStack, stack_id: str, region: str
) -> dict[str, str]:
    """moto's CloudFormation has no `AWS::Scheduler::Schedule`: create each through moto's Scheduler API,
    with its properties resolved against the created stack's resources (moto's own `clean_json`), named
    `<stack>-<logical id>` (CloudFormation also derives the name from both). Returns logical id -> name.
    The embedded default does not fire schedules: `LocalSession.run_schedule` does what Scheduler would."""
    stack = cloudformation_backends[ACCOUNT_ID][region].get_stack(stack_id)
    created: dict[str, str] = {}
    for logical_id, resource in synth.template.get("Resources", {}).items():
        if resource.get("Type") != SCHEDULE_TYPE:
            continue
        properties = clean_json(resource.get("Properties", {}), stack.resource_map)
        name = str(properties.pop("Name", None) or f"{synth.stack_name}-{logical_id}")[:64]
        try:
            clients.scheduler.create_schedule(Name=name, **properties)
        except clients.scheduler.exceptions.ConflictException:  # an update: CloudFormation updates it
            clients.scheduler.update_schedule(Name=name, **properties)
        created[logical_id] = name
    return created


def _recreate_state_machines(
    clients: _Clients, template: dict[str, Any], physical_ids: dict[str, str], region: str
) -> None:
    """moto's CloudFormation creates (and updates) state machines in the backend that does not execute
    them (`moto.stepfunctions.models.stepfunctions_backends`); create each again, or update it, same name
    and the definition as CloudFormation resolved it, through the API, which uses the executing backend."""
    created = stepfunctions_backends[ACCOUNT_ID][region]
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        machine = created.describe_state_machine(physical_ids[logical_id])
        try:
            clients.stepfunctions.describe_state_machine(stateMachineArn=physical_ids[logical_id])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "StateMachineDoesNotExist":
                raise
        else:
            clients.stepfunctions.update_state_machine(
                stateMachineArn=physical_ids[logical_id],
                definition=machine.definition,
                roleArn=machine.roleArn,
            )
            continue
        arn = clients.stepfunctions.create_state_machine(
            name=machine.name,
            definition=machine.definition,
            roleArn=machine.roleArn,
            type=resource.get("Properties", {}).get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        if arn != physical_ids[logical_id]:
            raise DeployError(f"{logical_id}: recreated as {arn}, expected {physical_ids[logical_id]}")


def _apply_bucket_eventbridge(
    clients: _Clients, template: dict[str, Any], physical_ids: dict[str, str]
) -> None:
    """moto's CloudFormation ignores a bucket's `NotificationConfiguration`: its EventBridge switch, which
    the pipeline's uploads go through, is applied here (CloudFormation also accepts the string "true")."""
    for logical_id, resource in template.get("Resources", {}).items():
        notifications = resource.get("Properties", {}).get("NotificationConfiguration", {})
        enabled = notifications.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled")
        if resource.get("Type") == "AWS::S3::Bucket" and str(enabled).lower() == "true":
            clients.s3.put_bucket_notification_configuration(
                Bucket=physical_ids[logical_id],
                NotificationConfiguration={"EventBridgeConfiguration": {}},
                SkipDestinationValidation=True,
            )


def _apply_bucket_versioning(
    clients: _Clients, template: dict[str, Any], physical_ids: dict[str, str]
) -> None:
    """moto's CloudFormation applies a bucket's encryption and tags only. Versioning is applied here: the
    pipeline keys uploads by version id. Lifecycle rules, access logging and public access blocks have no
    effect offline (moto expires and logs nothing) and are not applied."""
    for logical_id, resource in template.get("Resources", {}).items():
        status = resource.get("Properties", {}).get("VersioningConfiguration", {}).get("Status")
        if resource.get("Type") == "AWS::S3::Bucket" and status:
            clients.s3.put_bucket_versioning(
                Bucket=physical_ids[logical_id], VersioningConfiguration={"Status": status}
            )


def _app_functions(
    clients: _Clients, template: dict[str, Any], physical_ids: dict[str, str]
) -> dict[str, FunctionInfo]:
    """The app's Python functions (code from an asset), which run in-process.

    Functions with inline code or another runtime (such as CDK's Node.js helpers) are left out: they
    cannot run in this process.
    """
    functions: dict[str, FunctionInfo] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        if resource.get("Type") != "AWS::Lambda::Function" or "S3Key" not in properties.get("Code", {}):
            continue
        if not str(properties.get("Runtime", "")).startswith("python"):
            continue
        configuration = clients.lambda_.get_function(FunctionName=physical_ids[logical_id])["Configuration"]
        functions[logical_id] = FunctionInfo(
            logical_id=logical_id,
            name=configuration["FunctionName"],
            arn=configuration["FunctionArn"],
            handler=configuration["Handler"],
            environment=configuration.get("Environment", {}).get("Variables", {}),
        )
    return functions


def _check_importable(functions: dict[str, FunctionInfo]) -> None:
    """Fail the deploy, not the first invocation, when a handler cannot be imported in this process."""
    for function in functions.values():
        module_name, _, attribute = function.handler.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise DeployError(
                f"{function.logical_id}: handler {function.handler} is not importable here: {error}"
            ) from error
        if not callable(getattr(module, attribute, None)):
            raise DeployError(f"{function.logical_id}: {module_name} has no function {attribute}")


def _function_environment(functions: dict[str, FunctionInfo]) -> dict[str, str]:
    """One environment for all in-process handlers; the stack gives a name one value across functions."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for function in functions.values():
        for name, value in function.environment.items():
            if name in merged and merged[name] != value:
                raise DeployError(
                    f"environment variable {name} is {merged[name]!r} in {owner[name]} but {value!r} in "
                    f"{function.logical_id}: in-process handlers share one environment"
                )
            merged[name] = value
            owner[name] = function.logical_id
    return merged
