"""Task states' service integrations and their parameters, checked against botocore's input shapes.

Step Functions passes a Task's Parameters (JSONPath) or Arguments (JSONata) to the API named by its
Resource: `arn:aws:states:::aws-sdk:<service>:<action>` (SDK integrations) or an optimized
integration such as `arn:aws:states:::bedrock:createModelCustomizationJob.sync`. AWS refuses a
definition whose keys the API does not have, and the API refuses a call missing a required member,
so every key must be a member of the operation's input shape (Step Functions writes members
PascalCase: the first letter's case is free) and every required member must be present, level by
level wherever the value is written literally. The shapes are the Lambda layer's botocore's.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.model import Shape, StructureShape
from layer_support import layer_operation, layer_services, missing_operation
from template_support import all_states

INTEGRATION = re.compile(
    r"arn:aws[a-z-]*:states:::(?P<sdk>aws-sdk:)?(?P<service>[a-z0-9-]+):(?P<action>[A-Za-z0-9]+)"
    r"(?:\.(?P<pattern>sync(?::2)?|waitForTaskToken))?"
)
SERVICE_NAMES = {"states": "stepfunctions", "sfn": "stepfunctions"}
"""Step Functions' service names (optimized `states`, SDK `sfn`) that are not botocore's."""
STEP_FUNCTIONS_PARAMETERS = {
    # https://docs.aws.amazon.com/step-functions/latest/dg/connect-bedrock.html: the optimized
    # invokeModel also takes the request body from, and writes the response to, S3.
    ("bedrock-runtime", "InvokeModel"): {"Input", "Output"},
}
"""Parameters an optimized integration takes beyond the API's input shape, as documented."""
RESULT_WRITER_PARAMETERS = {"Bucket", "Prefix"}
"""A Distributed Map's ResultWriter (`s3:putObject`) takes these, not PutObject's members
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html)."""
OPTIMIZED_SERVICES = {"bedrock:invokeModel": "bedrock-runtime"}
"""Optimized integrations served by another botocore service than the one the ARN names."""


@dataclass(frozen=True)
class TaskCall:
    state: str
    """The state's path (`Map state/Inner state`; `(ItemReader)` or `(ResultWriter)` for a Map's)."""
    resource: str
    parameters: dict[str, Any] | None
    result_writer: bool = False


def service_calls(definition: dict[str, Any]) -> Iterator[TaskCall]:
    """Every Task state and Distributed Map reader/writer whose Resource is a service integration
    (not a Lambda function or activity ARN, whose input is free-form)."""
    for path, state in all_states(definition["States"]):
        parts = []
        if state.get("Type") == "Task":
            parts.append((path, state, False))
        for name in ("ItemReader", "ResultWriter"):
            if name in state and "Resource" in state[name]:
                parts.append((f"{path} ({name})", state[name], name == "ResultWriter"))
        for where, part, writer in parts:
            if ":states:::" in str(part["Resource"]):
                parameters = part.get("Parameters", part.get("Arguments"))
                yield TaskCall(where, part["Resource"], parameters, writer)


def botocore_service(name: str, sdk: bool) -> str | None:
    """The botocore service of a Step Functions service name (`bedrockruntime` -> `bedrock-runtime`)."""
    name = SERVICE_NAMES.get(name, name)
    services = layer_services()
    if name in services:
        return name
    if sdk:  # SDK integrations name services as the AWS SDK for Java does: no hyphens.
        squashed = {service.replace("-", ""): service for service in services}
        return squashed.get(name)
    return None


def problems(call: TaskCall) -> list[str]:
    """What AWS would refuse in `call`'s Resource and parameters; empty when nothing."""
    match = INTEGRATION.fullmatch(call.resource)
    if not match:
        return [f"state '{call.state}': {call.resource} is not a Step Functions service integration ARN"]
    action = match["action"]
    key = f"{match['service']}:{action}"
    service = OPTIMIZED_SERVICES.get(key) if not match["sdk"] else None
    service = service or botocore_service(match["service"], bool(match["sdk"]))
    if service is None:
        return [f"state '{call.state}': no botocore service for {call.resource}"]
    operation = layer_operation(service, action)
    if operation is None:
        return [missing_operation(service, action, f"state '{call.state}'")]
    parameters = call.parameters or {}
    if call.result_writer:
        extra = sorted(set(_names(parameters)) - RESULT_WRITER_PARAMETERS)
        return [f"state '{call.state}': {name} is not a ResultWriter parameter" for name in extra]
    shape = operation.input_shape
    if shape is None:
        return [f"state '{call.state}': {operation.name} takes no input, given {sorted(parameters)}"]
    allowed = STEP_FUNCTIONS_PARAMETERS.get((service, operation.name), set())
    return structure_problems(parameters, shape, f"state '{call.state}'", allowed)


def _names(parameters: dict[str, Any]) -> Iterator[str]:
    for key in parameters:
        yield key.removesuffix(".$")


def _case_free(name: str) -> str:
    return name[:1].lower() + name[1:]


def _is_expression(value: Any) -> bool:
    """A JSONata expression (`{% ... %}`): its value is known only at run time."""
    return isinstance(value, str) and value.strip().startswith("{%")


def structure_problems(
    parameters: dict[str, Any], shape: StructureShape, where: str, allowed: Collection[str] = ()
) -> list[str]:
    """Keys of `parameters` that are not members of `shape`, required members missing, recursively."""
    members = {_case_free(name): name for name in shape.members}
    found: list[str] = []
    present: set[str] = set()
    for key, value in parameters.items():
        name = key.removesuffix(".$")
        member = members.get(_case_free(name))
        if member is None:
            if name not in allowed:
                found.append(
                    f"{where}: {name} is not a member of {shape.name} (members: {', '.join(shape.members)})"
                )
            continue
        present.add(member)
        if not key.endswith(".$") and not _is_expression(value):
            found += value_problems(value, shape.members[member], f"{where}: {name}")
    found += [
        f"{where}: {shape.name} requires {required}, which is missing"
        for required in shape.required_members
        if required not in present
    ]
    return found


def value_problems(value: Any, shape: Shape, where: str) -> list[str]:
    """Problems inside a literal value of `shape` (structures, lists and maps are checked inside)."""
    if shape.type_name == "structure" and isinstance(value, dict):
        return structure_problems(value, shape, where)  # type: ignore[arg-type]
    if shape.type_name == "list" and isinstance(value, list):
        member = shape.member  # type: ignore[attr-defined]
        return [
            problem
            for i, item in enumerate(value)
            for problem in value_problems(item, member, f"{where}[{i}]")
        ]
    if shape.type_name == "map" and isinstance(value, dict):
        values = shape.value  # type: ignore[attr-defined]
        return [
            problem
            for key, item in value.items()
            if not key.endswith(".$") and not _is_expression(item)
            for problem in value_problems(item, values, f"{where}.{key}")
        ]
    return []
