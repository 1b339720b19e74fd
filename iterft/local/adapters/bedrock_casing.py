"""Case conversion and error naming of Bedrock Task states.

Adapts moto's `StateTaskService._normalise_parameters` / `_normalise_response` hooks (overridden in the
task classes of `bedrock_tasks`, through `_to_boto_request` / `_from_boto_response`): PascalCase state
parameters <-> Bedrock's camelCase members by botocore's service model, timestamps as ISO-8601
strings, and service errors named `Bedrock.<Code>` as Step Functions names them.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.model import OperationModel
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

_BEDROCK_ERROR_SERVICE = "Bedrock"


@functools.cache
def _bedrock_operations() -> dict[str, OperationModel]:
    """botocore's Bedrock operations by snake_case name: the source of every member name converted here."""
    model = botocore.session.get_session().get_service_model("bedrock")
    return {xform_name(name): model.operation_model(name) for name in model.operation_names}


def bedrock_operation(action: str) -> OperationModel:
    operation = _bedrock_operations().get(xform_name(action))
    if operation is None:
        raise ValueError(f"Bedrock has no API action {action!r}")
    return operation


def _iso_timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _without_datetimes(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso_timestamp(value)
    if isinstance(value, dict):
        return {key: _without_datetimes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_datetimes(item) for item in value]
    return value


def bedrock_client_failure(task: StateTaskService, env: Environment, error: ClientError) -> FailureEvent:
    """A service error as Step Functions names it (`Bedrock.ThrottlingException`), so Retry/Catch match."""
    code = error.response["Error"]["Code"]
    name = f"{_BEDROCK_ERROR_SERVICE}.{code if code.endswith('Exception') else code + 'Exception'}"
    metadata = error.response.get("ResponseMetadata", {})
    cause = (
        f"{error.response['Error'].get('Message', '')} (Service: {_BEDROCK_ERROR_SERVICE}, "
        f"Status Code: {metadata.get('HTTPStatusCode')}, Request ID: {metadata.get('RequestId')})"
    )
    return FailureEvent(
        env=env,
        error_name=CustomErrorName(name),
        event_type=HistoryEventType.TaskFailed,
        # moto types EventDetails as total, yet every event carries just one of its keys (as moto's own do).
        event_details=EventDetails(  # type: ignore[typeddict-item]  # see above
            taskFailedEventDetails=TaskFailedEventDetails(
                error=name,
                cause=cause,
                resource=task._get_sfn_resource(),
                resourceType=task._get_sfn_resource_type(),
            )
        ),
    )


class BedrockCasing(StateTaskService):
    """PascalCase state parameters <-> Bedrock's camelCase members, by botocore's service model.

    A `StateTaskService` only for its hooks and `resource`: the task classes of `bedrock_tasks` put it
    first among their bases, ahead of moto's concrete task class, which leaves their MRO unchanged.
    """

    def _normalise_parameters(
        self,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        operation = bedrock_operation(service_action_name or self.resource.api_action)
        if operation.input_shape is not None:
            self._to_boto_request(parameters, operation.input_shape)

    def _normalise_response(
        self,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        if not isinstance(response, dict):
            return
        operation = bedrock_operation(service_action_name or self.resource.api_action)
        if operation.output_shape is not None:
            self._from_boto_response(response, operation.output_shape)
        converted = _without_datetimes(response)
        response.clear()
        response.update(converted)
