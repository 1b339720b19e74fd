"""Deploy a synthesized CDK stack into the embedded AWS, then fix up what moto's CloudFormation leaves out.

`cdk deploy` would bootstrap, publish assets and create (or update) the stack; this does the same against
moto (custom resources only when the app's own Python functions serve them: custom_resources.py), then
fixes up what moto's CloudFormation leaves out (deploy_fixups.py): recreates (or updates) state machines
in the executing Step Functions backend, applies what moto's CloudFormation ignores of a bucket's
properties (versioning and the EventBridge notification), and sets the Lambda functions' environment
process-wide so their handlers run in-process (iterft/local/adapters/) as they would in Lambda.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.parsing import get_model_map

from iterft.local.custom_resources import dependencies
from iterft.local.deploy_fixups import (
    SCHEDULE_TYPE,
    DeployError,
    FunctionInfo,
    SynthesizedStack,
    _app_functions,
    _apply_bucket_eventbridge,
    _apply_bucket_versioning,
    _check_importable,
    _Clients,
    _create_schedules,
    _function_environment,
    _recreate_state_machines,
)
from iterft.local.server import ACCOUNT_ID

BOOTSTRAP_QUALIFIER = "hnb659fds"
BOOTSTRAP_VERSION = "21"
BOOTSTRAP_VERSION_PARAMETER = f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version"
_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_PSEUDO = re.compile(r"\$\{AWS::(AccountId|Region|Partition)\}")


@dataclass
class DeployedStack:
    """A stack created in the embedded AWS: its outputs, resources and in-process functions."""

    stack_name: str
    stack_id: str
    outputs: dict[str, str]
    physical_ids: dict[str, str]
    resource_types: dict[str, str]
    functions: dict[str, FunctionInfo]
    skipped: dict[str, str] = field(default_factory=dict)
    """Template resources that moto's CloudFormation did not create, with their type."""
    environment: dict[str, str] = field(default_factory=dict)
    """The functions' environment variables, set in os.environ for the in-process handlers."""
    replaced_environment: dict[str, str | None] = field(default_factory=dict)
    """What those variables were before (None: unset), for `restore_environment`."""

    def restore_environment(self) -> None:
        _restore_environment(self.replaced_environment)
        self.replaced_environment = {}

    def output(self, key: str) -> str:
        if key not in self.outputs:
            raise KeyError(f"stack {self.stack_name} has no output {key!r}; outputs: {sorted(self.outputs)}")
        return self.outputs[key]

    def physical_id(self, logical_id: str) -> str:
        if logical_id not in self.physical_ids:
            raise KeyError(f"stack {self.stack_name} has no resource {logical_id!r}")
        return self.physical_ids[logical_id]

    @property
    def data_bucket(self) -> str:
        return self.output("DataBucketName")

    @property
    def registry_table(self) -> str:
        return self.output("RegistryTableName")

    @property
    def state_machine_arn(self) -> str:
        return self.output("StateMachineArn")

    @property
    def topic_arn(self) -> str:
        return self.output("TopicArn")

    @property
    def trigger_queue_url(self) -> str:
        return self.output("TriggerQueueUrl")


def _restore_environment(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def deploy_stack(synth: SynthesizedStack, endpoint: str, region: str = "us-east-1") -> DeployedStack:
    """Bootstrap, publish assets, create the stack and apply the fix-ups; raises DeployError on failure."""
    clients = _Clients(endpoint, region)
    assets_bucket = _bootstrap(clients, region)
    _publish_assets(clients, synth, region, assets_bucket)
    with _unsupported_types_unannounced():  # moto parses the template again to describe the stack
        _refuse_what_cannot_run(synth.template)
        stack_id = _create_stack(clients, synth.stack_name, synth.template, region)
    return _fixed_up(clients, synth, stack_id, region, {})


def update_stack(
    deployed: DeployedStack, synth: SynthesizedStack, endpoint: str, region: str = "us-east-1"
) -> DeployedStack:
    """What `cdk deploy` does to a stack that exists: publish the new assets, UpdateStack with the new
    template, then the same fix-ups as a creation (state machines updated in the executing backend, the
    functions' environment refreshed). `deployed` is spent: use the returned stack."""
    clients = _Clients(endpoint, region)
    assets_bucket = _bootstrap(clients, region)
    _publish_assets(clients, synth, region, assets_bucket)
    with _unsupported_types_unannounced():
        _refuse_what_cannot_run(synth.template)
        try:
            clients.cloudformation.update_stack(
                StackName=deployed.stack_id,
                TemplateBody=json.dumps(synth.template),
                Capabilities=_CAPABILITIES,
            )
        except (ClientError, BotoCoreError, ResponseParserError) as error:
            raise DeployError(f"updating stack {synth.stack_name} failed: {_error_message(error)}") from error
    status = clients.cloudformation.describe_stacks(StackName=deployed.stack_id)["Stacks"][0]["StackStatus"]
    if status != "UPDATE_COMPLETE":
        raise DeployError(f"stack {synth.stack_name} is {status} after its update")
    return _fixed_up(clients, synth, deployed.stack_id, region, deployed.replaced_environment)


def delete_stack(deployed: DeployedStack, endpoint: str, region: str = "us-east-1") -> None:
    """DeleteStack, as `cdk destroy` does (resources with DeletionPolicy Retain stay); then the executing
    Step Functions backend's copies of its state machines and the schedules, which moto's CloudFormation
    does not know."""
    clients = _Clients(endpoint, region)
    with _unsupported_types_unannounced():
        try:
            clients.cloudformation.delete_stack(StackName=deployed.stack_id)
        except (ClientError, BotoCoreError, ResponseParserError) as error:
            raise DeployError(
                f"deleting stack {deployed.stack_name} failed: {_error_message(error)}"
            ) from error
    status = clients.cloudformation.describe_stacks(StackName=deployed.stack_id)["Stacks"][0]["StackStatus"]
    if status != "DELETE_COMPLETE":
        raise DeployError(f"stack {deployed.stack_name} is {status} after DeleteStack")
    for logical_id, kind in deployed.resource_types.items():
        if kind == "AWS::StepFunctions::StateMachine":
            clients.stepfunctions.delete_state_machine(stateMachineArn=deployed.physical_ids[logical_id])
        elif kind == SCHEDULE_TYPE:
            clients.scheduler.delete_schedule(Name=deployed.physical_ids[logical_id])
    deployed.restore_environment()


def _fixed_up(
    clients: _Clients,
    synth: SynthesizedStack,
    stack_id: str,
    region: str,
    replaced_before: dict[str, str | None],
) -> DeployedStack:
    """What moto's CloudFormation leaves undone after a create or an update, and the stack's handle.
    `replaced_before`: what an earlier deployment of this stack replaced in os.environ (kept, so that
    `restore_environment` goes back to before the first)."""
    with _unsupported_types_unannounced():
        listed = clients.cloudformation.describe_stack_resources(StackName=stack_id)["StackResources"]
    resources = [resource for resource in listed if "LogicalResourceId" in resource]  # skipped: no id
    physical_ids = {
        r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if "PhysicalResourceId" in r
    }
    resource_types = {r["LogicalResourceId"]: r["ResourceType"] for r in resources}
    for logical_id, name in _create_schedules(clients, synth, stack_id, region).items():
        physical_ids[logical_id], resource_types[logical_id] = name, SCHEDULE_TYPE
    _recreate_state_machines(clients, synth.template, physical_ids, region)
    _apply_bucket_versioning(clients, synth.template, physical_ids)
    _apply_bucket_eventbridge(clients, synth.template, physical_ids)
    functions = _app_functions(clients, synth.template, physical_ids)
    environment = _function_environment(functions)
    replaced = {name: os.environ.get(name) for name in environment if name not in replaced_before}
    replaced = {**replaced_before, **replaced}
    for name in set(replaced_before) - set(environment):  # a variable the new stack no longer sets
        _restore_environment({name: replaced_before[name]})
    os.environ.update(environment)  # before the handlers are imported: modules may read it at import
    try:
        _check_importable(functions)
    except DeployError:
        _restore_environment(replaced)
        raise
    stack = clients.cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
    return DeployedStack(
        stack_name=synth.stack_name,
        stack_id=stack_id,
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        physical_ids=physical_ids,
        resource_types=resource_types,
        functions=functions,
        skipped={
            logical_id: resource["Type"]
            for logical_id, resource in synth.template.get("Resources", {}).items()
            if logical_id not in resource_types
        },
        environment=environment,
        replaced_environment=replaced,
    )


def _bootstrap(clients: _Clients, region: str) -> str:
    """What `cdk bootstrap` leaves that a synthesized template refers to: the assets bucket, the version."""
    bucket = f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{ACCOUNT_ID}-{region}"
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    with contextlib.suppress(clients.s3.exceptions.BucketAlreadyOwnedByYou):  # bootstrapped already
        clients.s3.create_bucket(Bucket=bucket, **location)
    clients.ssm.put_parameter(
        Name=BOOTSTRAP_VERSION_PARAMETER, Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True
    )
    return bucket


def _substitute(text: str, region: str) -> str:
    values = {"AccountId": ACCOUNT_ID, "Region": region, "Partition": "aws"}
    return _PSEUDO.sub(lambda match: values[match.group(1)], text)


_ZIPS: dict[str, bytes] = {}


def _zipped(directory: Path, asset_hash: str) -> bytes:
    """A folder asset as the zip CDK would upload, built once per process: the hash names its content."""
    if asset_hash not in _ZIPS:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for path in sorted(directory.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(directory).as_posix())
        _ZIPS[asset_hash] = buffer.getvalue()
    return _ZIPS[asset_hash]


def _publish_assets(clients: _Clients, synth: SynthesizedStack, region: str, assets_bucket: str) -> None:
    """Upload every file asset of the stack's asset manifest where its template expects it."""
    manifest = _asset_manifest(synth)
    if manifest.get("dockerImages"):
        raise DeployError(f"{synth.stack_name}: container image assets cannot run on the embedded AWS")
    for asset_hash, asset in manifest.get("files", {}).items():
        source = synth.assembly_dir / asset["source"]["path"]
        if asset["source"].get("packaging") == "zip" and source.is_dir():
            body = _zipped(source, asset_hash)
        else:
            body = source.read_bytes()
        for destination in asset["destinations"].values():
            bucket = _substitute(destination["bucketName"], region)
            if bucket != assets_bucket:
                raise DeployError(f"asset {asset_hash} targets bucket {bucket}, not the bootstrap bucket")
            clients.s3.put_object(Bucket=bucket, Key=_substitute(destination["objectKey"], region), Body=body)


def _asset_manifest(synth: SynthesizedStack) -> dict[str, Any]:
    """The stack's `*.assets.json`, found through the cloud assembly's manifest.json."""
    artifacts = json.loads((synth.assembly_dir / "manifest.json").read_text())["artifacts"]
    stack_artifact = next(
        (
            artifact
            for artifact_id, artifact in artifacts.items()
            if artifact.get("type") == "aws:cloudformation:stack"
            and (artifact.get("properties", {}).get("stackName") or artifact_id) == synth.stack_name
        ),
        None,
    )
    if stack_artifact is None:
        raise DeployError(f"no stack {synth.stack_name} in the cloud assembly {synth.assembly_dir}")
    for dependency in stack_artifact.get("dependencies", []):
        artifact = artifacts.get(dependency, {})
        if artifact.get("type") == "cdk:asset-manifest":
            manifest: dict[str, Any] = json.loads(
                (synth.assembly_dir / artifact["properties"]["file"]).read_text()
            )
            return manifest
    return {}


def _refuse_what_cannot_run(template: dict[str, Any]) -> None:
    """Fail before creating anything on what would deploy but not work offline.

    A custom resource runs only when its ServiceToken is one of the app's Python functions, whose handler
    runs in-process (iterft/local/custom_resources.py); another provider (CDK's Node.js ones, an SNS
    topic) cannot run here, and dropping it would leave its work undone. Of a bucket's notifications only
    the EventBridge one is applied (moto's CloudFormation ignores them all; `_apply_bucket_eventbridge`).
    """
    resources = template.get("Resources", {})
    custom = [
        f"{logical_id} ({resource.get('Type')})"
        for logical_id, resource in resources.items()
        if (
            str(resource.get("Type", "")).startswith("Custom::")
            or resource.get("Type") == "AWS::CloudFormation::CustomResource"
        )
        and not _runs_in_process(resources, resource.get("Properties", {}).get("ServiceToken"))
    ]
    if custom:
        raise DeployError(
            "custom resources whose provider is not one of the app's Python functions cannot run on the "
            f"embedded AWS: {', '.join(custom)}"
        )
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::S3::Bucket":
            notifications = resource.get("Properties", {}).get("NotificationConfiguration", {})
            unsupported = sorted(set(notifications) - {"EventBridgeConfiguration"})
            if unsupported:
                raise DeployError(
                    f"{logical_id}: bucket notifications {unsupported} are not supported offline"
                )


def _runs_in_process(resources: dict[str, Any], service_token: Any) -> bool:
    """The token is `Fn::GetAtt [<Python function from an asset>, Arn]`."""
    if not isinstance(service_token, dict) or "Fn::GetAtt" not in service_token:
        return False
    target = resources.get(service_token["Fn::GetAtt"][0], {})
    properties = target.get("Properties", {})
    return (
        target.get("Type") == "AWS::Lambda::Function"
        and "S3Key" in properties.get("Code", {})
        and str(properties.get("Runtime", "")).startswith("python")
    )


def _create_stack(clients: _Clients, stack_name: str, template: dict[str, Any], region: str) -> str:
    """moto creates the resources inside CreateStack: a resource it cannot create fails the call itself."""
    cfn = clients.cloudformation
    try:
        stack_id: str = cfn.create_stack(
            StackName=stack_name, TemplateBody=json.dumps(template), Capabilities=_CAPABILITIES
        )["StackId"]
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        raise DeployError(
            f"creating stack {stack_name} failed at {_failing_resources(stack_name, template, region)}: "
            f"{_error_message(error)}"
        ) from error
    status = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        raise DeployError(
            f"stack {stack_name} is {status}; not created: {_failing_resources(stack_name, template, region)}"
        )
    return stack_id


@contextlib.contextmanager
def _unsupported_types_unannounced() -> Iterator[None]:
    """moto warns twice for each resource type it skips; DeployedStack.skipped lists them once."""
    parsing_log = logging.getLogger("moto")  # the logger moto.cloudformation.parsing warns on
    level = parsing_log.level
    parsing_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
            yield
    finally:
        parsing_log.setLevel(level)


def _error_message(error: Exception) -> str:
    """The service's message; moto answers some CloudFormation errors in JSON, which botocore cannot parse."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Message", error))
    found = re.search(r'"message": "([^"]*)"', str(error))
    return found.group(1) if found else str(error)


def _failing_resources(stack_name: str, template: dict[str, Any], region: str) -> str:
    """The resources moto could create (a type it supports, every dependency created) but did not.

    Read from moto's own record of what it created (`Stack.resource_map._parsed_resources`): after a
    failure its DescribeStackResources retries the failed resource and fails again.
    """
    stacks = cloudformation_backends[ACCOUNT_ID][region].stacks.values()
    stack = next((stack for stack in stacks if stack.name == stack_name), None)
    created = set(stack.resource_map._parsed_resources) if stack is not None else set()
    resources = template.get("Resources", {})
    supported = get_model_map()
    failing = [
        f"{logical_id} ({resource['Type']})"
        for logical_id, resource in resources.items()
        if logical_id not in created
        and resource["Type"] in supported
        and (dependencies(resource) & set(resources)) <= created
    ]
    return ", ".join(failing) or "an unidentified resource"
