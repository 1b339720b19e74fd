"""Bedrock in Step Functions: the optimized `createModelCustomizationJob` integration (request-response and
`.sync`) and `aws-sdk:bedrock:*` Task states.

Patches `moto.stepfunctions.parser.asl.parse.preprocessor.state_task_for`; the `.sync` poll is
`StateTaskServiceCallback._build_sync_resolver` (`BedrockCustomizationJobTask`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
    ResourceRuntimePart,
    ServiceResource,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.parse import preprocessor
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

from iterft.local.adapters.bedrock_casing import BedrockCasing, bedrock_client_failure, bedrock_operation
from iterft.local.adapters.state import STATE

_CUSTOMIZATION_JOB_ACTION = "createModelCustomizationJob"
_JOB_TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})


class BedrockCustomizationJobTask(BedrockCasing, state_task_service_callback.StateTaskServiceCallback):
    """`arn:aws:states:::bedrock:createModelCustomizationJob` and its `.sync` form, as AWS runs them.

    Request-response returns `{"JobArn"}`. `.sync` polls GetModelCustomizationJob until a terminal status:
    Completed returns the Get response (PascalCase, timestamps as ISO-8601 strings); Failed or Stopped fail
    the task with `States.TaskFailed` and the Get response as JSON cause (carrying `FailureMessage`), the
    way Step Functions reports every failed `.sync` job (Batch, Glue, ECS, SageMaker).
    """

    def __init__(self) -> None:
        # WaitForTaskToken is listed only because moto's callback machinery needs its endpoint for .sync
        # too; _validate_service_integration_is_supported rejects it in definitions, like AWS.
        super().__init__(
            # moto annotates the set as ResourceCondition, yet its condition constants are plain str.
            supported_integration_patterns={ResourceCondition.WaitForTaskToken, ResourceCondition.Sync}  # type: ignore[arg-type]  # see above
        )

    def _validate_service_integration_is_supported(self) -> None:
        if self.resource.condition not in (None, ResourceCondition.Sync):
            raise ValueError(
                f"{self.resource.resource_arn}: Bedrock supports request-response and .sync only"
            )
        super()._validate_service_integration_is_supported()  # type: ignore[no-untyped-call]  # unannotated in moto

    def _get_supported_parameters(self) -> set[str] | None:
        shape = bedrock_operation(self.resource.api_action).input_shape
        return {self._to_sfn_cased(member) for member in shape.members} if shape is not None else None

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        if isinstance(ex, ClientError):
            return bedrock_client_failure(self, env, ex)
        return super()._from_error(env=env, ex=ex)

    def _eval_integration_pattern(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> None:
        """Each attempt waits on a fresh callback endpoint. moto makes the endpoint once per state entry
        (`_eval_body`) and interrupts it when an attempt ends; a Retry attempt reusing it would find it
        already interrupted and fail at once with `States.Timeout`, as no AWS retry does."""
        if self._is_integration_pattern():  # type: ignore[no-untyped-call]  # unannotated in moto
            env.callback_pool_manager.add(env.states.context_object.update_task_token())
        super()._eval_integration_pattern(
            env, resource_runtime_part, normalised_parameters, state_credentials
        )

    def _eval_service_task(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> None:
        client: Any = boto_client_for(  # a Bedrock client: boto3-stubs here carry no Bedrock types
            region=resource_runtime_part.region, service="bedrock", state_credentials=state_credentials
        )
        response = client.create_model_customization_job(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        env.stack.append(response)

    def _build_sync_resolver(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> Callable[[], Any] | None:
        client: Any = boto_client_for(  # a Bedrock client: boto3-stubs here carry no Bedrock types
            region=resource_runtime_part.region, service="bedrock", state_credentials=state_credentials
        )
        job_arn = env.stack.pop()["JobArn"]

        def resolve() -> dict[str, Any] | None:
            try:
                job: dict[str, Any] = client.get_model_customization_job(jobIdentifier=job_arn)
            except ClientError as error:
                if error.response["Error"]["Code"] == "ThrottlingException":
                    return None  # Step Functions' own poller backs off and polls again.
                # Any other error of a poll, a 5xx included, fails the task as `Bedrock.<Code>`: AWS does
                # not document how .sync handles errors while polling, so the embedded default assumes
                # the harsher case (docs/embedded-default.md): the state's Retry then runs the create
                # again, whose ClientRequestToken returns the same job, and waits for it.
                raise
            job.pop("ResponseMetadata", None)
            status = job.get("status")
            if status not in _JOB_TERMINAL_STATUSES:
                return None
            self._normalise_response(job, service_action_name="GetModelCustomizationJob")
            if status == "Completed":
                return job
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                    event_type=HistoryEventType.TaskFailed,
                    # moto types EventDetails as total, yet every event carries one of its keys.
                    event_details=EventDetails(  # type: ignore[typeddict-item]  # see above
                        taskFailedEventDetails=TaskFailedEventDetails(
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                            error=StatesErrorNameType.StatesTaskFailed.to_name(),
                            cause=to_json_str(job),
                        )
                    ),
                )
            )

        return resolve


class BedrockSdkTask(BedrockCasing, StateTaskServiceAwsSdk):
    """`arn:aws:states:::aws-sdk:bedrock:<action>`: camelCase members in, PascalCase keys and strings out."""

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        if isinstance(ex, ClientError):
            return bedrock_client_failure(self, env, ex)
        return super()._from_error(env=env, ex=ex)


def adapt_bedrock_tasks() -> None:
    """Route Bedrock Task states to the two task classes above.

    Relies on `moto.stepfunctions.parser.asl.parse.preprocessor.state_task_for` (the name the ASL
    preprocessor calls to build each Task state; without this it builds `StateTaskServiceUnsupported`,
    which passes PascalCase parameters through and has no `.sync`) and on `StateTaskService`'s
    `_normalise_parameters`/`_normalise_response`, `_to_boto_request`/`_from_boto_response` and
    `StateTaskServiceCallback._build_sync_resolver` hooks.
    """
    # The preprocessor's own name is the one it calls; moto imports it there without re-exporting it.
    original: Callable[[Any], StateTask] = preprocessor.state_task_for  # type: ignore[attr-defined]  # see above

    def state_task_for(resource: Any) -> StateTask:
        if isinstance(resource, ServiceResource):
            if resource.service_name == "bedrock" and resource.api_action == _CUSTOMIZATION_JOB_ACTION:
                return BedrockCustomizationJobTask()
            if resource.service_name == "aws-sdk" and resource.api_name == "bedrock":
                return BedrockSdkTask()  # type: ignore[no-untyped-call]  # moto's __init__ is unannotated
        return original(resource)

    STATE.patches.replace(preprocessor, "state_task_for", state_task_for)
