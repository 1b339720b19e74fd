"""S3 events in AWS's shape (`adapters.s3_events`), per-request work remembered
(`adapters.request_overhead`), and installing and uninstalling the adapters. If a moto upgrade moves an
internal an adapter relies on, `test_every_patched_internal_exists_in_this_moto` fails first.
"""

from __future__ import annotations

import inspect
import json

import botocore.session
import pytest
from adapter_support import (
    TIME_SCALE,
)
from botocore.exceptions import ClientError
from moto import backends as moto_backends
from moto.awslambda.models import LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core import responses as moto_responses
from moto.core.responses import BaseResponse
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3 import notifications as s3_notifications
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import Heartbeat
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import Timeout
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    CallbackPoolManager,
    HeartbeatEndpoint,
)
from moto.stepfunctions.parser.asl.eval.states import ContextObject
from moto.stepfunctions.parser.asl.parse import preprocessor
from moto.stepfunctions.parser.asl.utils import boto_client as sfn_boto_client
from moto.stepfunctions.parser.asl.utils import json_path

from iterft.local import adapters
from iterft.local.adapters import request_overhead
from iterft.local.bedrock.routing import BedrockRuntimeStandInResponse
from iterft.local.server import EmbeddedAws

# --- 7. S3 events to EventBridge --------------------------------------------------------------------


def test_s3_events_reach_eventbridge_in_the_shape_aws_sends(aws: EmbeddedAws) -> None:
    s3, sqs, events = aws.client("s3"), aws.client("sqs"), aws.client("events")
    s3.create_bucket(Bucket="events-bucket")
    s3.put_bucket_versioning(Bucket="events-bucket", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket="events-bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    queue_url = sqs.create_queue(QueueName="s3-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["events-bucket"]}},
    }
    events.put_rule(Name="uploads", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="uploads", Targets=[{"Id": "queue", "Arn": queue_arn}])

    first = s3.put_object(Bucket="events-bucket", Key="incoming/x/a b.jsonl", Body=b"{}")
    s3.put_object(Bucket="events-bucket", Key="incoming/x/a b.jsonl", Body=b"{}\n")

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    first_event, second_event = (json.loads(message["Body"]) for message in messages)
    assert first_event["detail-type"] == "Object Created"
    assert first_event["time"].endswith("Z")
    obj = first_event["detail"]["object"]
    assert obj == {
        "key": "incoming/x/a b.jsonl",
        "size": 2,
        "etag": first["ETag"].strip('"'),
        "version-id": first["VersionId"],
        "sequencer": obj["sequencer"],
    }
    assert first_event["detail"]["reason"] == "PutObject"
    assert first_event["id"] != second_event["id"]
    assert second_event["detail"]["object"]["sequencer"] > obj["sequencer"]


# --- 6. per-request work remembered ----------------------------------------------------------------


def test_backend_for_a_host_is_worked_out_once(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    app = DomainDispatcherApplication(create_backend_app)
    host = "bedrock-runtime.us-east-1.amazonaws.com"
    assert app.get_backend_for_host(host) == "bedrockruntime"
    monkeypatch.setattr(moto_backends, "list_of_moto_modules", lambda: pytest.fail("worked out again"))
    assert app.get_backend_for_host(host) == "bedrockruntime"


def test_runtime_and_control_plane_requests_still_reach_their_services(aws: EmbeddedAws) -> None:
    """Both signed `bedrock`: the runtime shortcut and moto's own inference for the control plane."""
    reply = aws.client("bedrock-runtime").converse(
        modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "Hello?"}]}]
    )
    assert reply["output"]["message"]["role"] == "assistant"
    assert "modelSummaries" in aws.client("bedrock").list_custom_models()
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        aws.client("bedrock").get_custom_model_deployment(customModelDeploymentIdentifier="missing")


def test_bedrock_runtime_paths_begin_where_no_other_bedrock_signed_service_goes() -> None:
    """What makes the runtime shortcut safe: no other service signed `bedrock` shares a first segment."""
    session = botocore.session.get_session()
    runtime = request_overhead._runtime_first_segments()
    assert {"model", "guardrail", "async-invoke"} <= runtime
    others = [
        name
        for name in session.get_available_services()
        if name != "bedrock-runtime" and session.get_service_model(name).signing_name == "bedrock"
    ]
    assert {"bedrock", "bedrock-agent"} <= set(others)
    for name in others:
        model = session.get_service_model(name)
        segments = {
            request_overhead._first_segment(model.operation_model(op).http["requestUri"])
            for op in model.operation_names
        }
        assert not segments & runtime, name


def test_step_functions_tasks_reuse_one_client_per_service_and_endpoint(aws: EmbeddedAws) -> None:
    lambda_client = sfn_boto_client.boto_client_for(region="us-east-1", service="lambda")
    assert sfn_boto_client.boto_client_for(region="us-east-1", service="lambda") is lambda_client
    assert sfn_boto_client.boto_client_for(region="us-east-1", service="s3") is not lambda_client
    assert lambda_client.meta.config.retries["total_max_attempts"] == 1  # moto's own settings kept
    assert lambda_client.list_functions()["Functions"] is not None


def test_parsed_json_paths_and_method_names_are_cached(aws: EmbeddedAws) -> None:
    assert json_path.parse("$.shard.index") is json_path.parse("$.shard.index")
    assert json_path.extract_json("$.shard.index", {"shard": {"index": 3}}) == 3
    names = moto_responses.method_names_from_class(BedrockRuntimeStandInResponse)
    assert {"converse", "invoke_model"} <= names
    assert moto_responses.method_names_from_class(BedrockRuntimeStandInResponse) is names


# --- install / uninstall ----------------------------------------------------------------------------


def test_every_patched_internal_exists_in_this_moto() -> None:
    """The names each adapter replaces or reads; a moto upgrade that moves one fails here first."""
    assert callable(preprocessor.state_task_for)
    assert "function_name" in inspect.signature(LambdaSimpleBackend.invoke).parameters
    assert callable(LambdaBackend.create_event_source_mapping)
    assert isinstance(state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK, float)
    assert callable(retrier_decl.time.sleep)
    assert callable(WaitFunction._wait_interval)
    assert callable(s3_notifications._send_event_bridge_message)
    assert callable(s3_notifications._detail_type)
    assert callable(DomainDispatcherApplication.get_backend_for_host)
    assert "path" in inspect.signature(DomainDispatcherApplication.infer_service_region_host).parameters
    assert callable(BaseResponse._get_action)
    assert callable(moto_responses.method_names_from_class)
    assert callable(sfn_boto_client.boto3.client)
    assert callable(json_path.parse)
    assert callable(StateTaskService.from_state_props)
    assert callable(StateTaskService._before_eval_execution)
    assert "timeout" in inspect.signature(CallbackEndpoint.wait).parameters
    assert "heartbeat_seconds" in inspect.signature(HeartbeatEndpoint.__init__).parameters
    assert callable(Timeout._eval_body) and callable(Heartbeat._eval_body)
    # BedrockCustomizationJobTask gives each attempt a fresh callback endpoint.
    assert (
        "state_credentials"
        in inspect.signature(
            state_task_service_callback.StateTaskServiceCallback._eval_integration_pattern
        ).parameters
    )
    assert callable(ContextObject.update_task_token)
    assert callable(CallbackPoolManager.add)
    assert callable(DynamoHandler.call_action)
    assert callable(DynamoDBBackend.transact_write_items) and callable(DynamoDBBackend.get_item)


def test_installing_again_only_changes_the_time_scale(aws: EmbeddedAws) -> None:
    patched = (
        preprocessor.state_task_for,
        LambdaSimpleBackend.invoke,
        retrier_decl.time,
        WaitFunction._wait_interval,
    )
    try:
        adapters.install_adapters(0.25)
        assert (
            preprocessor.state_task_for,
            LambdaSimpleBackend.invoke,
            retrier_decl.time,
            WaitFunction._wait_interval,
        ) == patched
        assert adapters.scaled(10) == 2.5
        assert pytest.approx(0.125) == state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK
    finally:
        adapters.install_adapters(TIME_SCALE)
