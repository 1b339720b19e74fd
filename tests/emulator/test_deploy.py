"""The embedded AWS's lifecycle and the deployer, on a small CDK stack shaped like the app's.

The stack has what the pipeline relies on offline: a versioned, EventBridge-enabled bucket (through its
own NotificationConfiguration, as stacks/storage.py does), a table, a topic, a queue with a dead-letter
queue and policies, a rule from S3 to the queue, a Lambda function fed by the queue and a state machine
calling another function.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import emulator_fixture_handlers as handlers
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from moto.awslambda_simple.models import LambdaSimpleBackend

from iterft.local import adapters, server
from iterft.local.deploy import (
    DeployedStack,
    DeployError,
    FunctionInfo,
    _function_environment,
    _refuse_what_cannot_run,
    deploy_stack,
)
from iterft.local.server import EmbeddedAws

FIXTURES = Path(__file__).parent / "fixtures"
STACK = "EmulatorSmall"


@dataclass(frozen=True)
class Synthesized:
    template: dict[str, Any]
    assembly_dir: Path
    stack_name: str


def small_app(outdir: Path) -> Synthesized:
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, STACK, env=cdk.Environment(region="us-east-1"))
    bucket = s3.Bucket(stack, "Data", versioned=True)
    cfn_bucket = bucket.node.default_child
    assert isinstance(cfn_bucket, s3.CfnBucket)
    cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
        event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
    )
    table = dynamodb.Table(
        stack,
        "Registry",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
    )
    topic = sns.Topic(stack, "Topic")
    dead_letters = sqs.Queue(stack, "DeadLetters")
    queue = sqs.Queue(
        stack,
        "Uploads",
        visibility_timeout=cdk.Duration.seconds(60),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=3),
    )
    events.Rule(
        stack,
        "UploadRule",
        event_pattern=events.EventPattern(
            source=["aws.s3"],
            detail_type=["Object Created"],
            detail={"bucket": {"name": [bucket.bucket_name]}, "object": {"key": [{"prefix": "incoming/"}]}},
        ),
        targets=[targets.SqsQueue(queue)],
    )
    code = lambda_.Code.from_asset(str(FIXTURES), exclude=["__pycache__"])
    environment = {"FIXTURE_BUCKET": bucket.bucket_name, "FIXTURE_TABLE": table.table_name}
    trigger = lambda_.Function(
        stack,
        "Trigger",
        runtime=lambda_.Runtime.PYTHON_3_11,
        handler="emulator_fixture_handlers.record_s3_event",
        code=code,
        environment=environment,
    )
    trigger.add_event_source(event_sources.SqsEventSource(queue, report_batch_item_failures=True))
    table.grant_write_data(trigger)  # record_s3_event writes its event there (IAM is checked)
    step = lambda_.Function(
        stack,
        "Step",
        runtime=lambda_.Runtime.PYTHON_3_11,
        handler="emulator_fixture_handlers.describe_context",
        code=code,
        environment=environment,
    )
    pause = sfn.Wait(stack, "Pause", time=sfn.WaitTime.duration(cdk.Duration.minutes(5)))
    call = tasks.LambdaInvoke(stack, "Call", lambda_function=step, payload_response_only=True)
    machine = sfn.StateMachine(
        stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(pause.next(call))
    )
    outputs = {
        "DataBucketName": bucket.bucket_name,
        "RegistryTableName": table.table_name,
        "StateMachineArn": machine.state_machine_arn,
        "TopicArn": topic.topic_arn,
        "TriggerQueueUrl": queue.queue_url,
    }
    for name, value in outputs.items():
        cdk.CfnOutput(stack, name, value=value)
    assembly = app.synth()
    return Synthesized(assembly.get_stack_by_name(STACK).template, Path(assembly.directory), STACK)


@pytest.fixture(scope="session")  # once per process: xdist may interleave this module with others
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return small_app(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(time_scale=0.001) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def deployed(aws: EmbeddedAws, synthesized: Synthesized) -> Iterator[DeployedStack]:
    stack = deploy_stack(synthesized, aws.endpoint, aws.region)
    yield stack
    stack.restore_environment()


# These two run first, before the module's server starts: moto's backends are process-wide.
def test_embedded_aws_points_the_process_at_itself_and_restores_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "a-real-account")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://s3.example.com")
    environment_before = dict(os.environ)
    invoke_before = LambdaSimpleBackend.invoke

    with EmbeddedAws() as embedded:
        assert os.environ["AWS_ENDPOINT_URL"] == embedded.endpoint
        assert "AWS_PROFILE" not in os.environ and "AWS_ENDPOINT_URL_S3" not in os.environ
        boto3.client("s3").create_bucket(Bucket="reached-through-defaults")
        assert [b["Name"] for b in embedded.client("s3").list_buckets()["Buckets"]] == [
            "reached-through-defaults"
        ]
        assert LambdaSimpleBackend.invoke is not invoke_before

    assert dict(os.environ) == environment_before
    assert LambdaSimpleBackend.invoke is invoke_before
    with EmbeddedAws() as embedded:
        assert embedded.client("s3").list_buckets()["Buckets"] == []  # each start is a fresh account


def test_a_taken_port_moves_the_server_instead_of_hanging_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(EmbeddedAws, "_last_port", port)
        monkeypatch.setattr(server, "_is_free", lambda _port: True)  # as if taken between probe and bind

        with EmbeddedAws() as embedded:
            assert not embedded.endpoint.endswith(f":{port}")
            assert embedded.client("s3").list_buckets()["Buckets"] == []


def test_the_stack_is_created_with_its_outputs_and_in_process_functions(deployed: DeployedStack) -> None:
    assert deployed.data_bucket.startswith("emulatorsmall-data")
    assert deployed.trigger_queue_url.startswith("https://sqs.us-east-1.amazonaws.com/123456789012/")
    assert deployed.state_machine_arn.startswith("arn:aws:states:us-east-1:123456789012:stateMachine:")
    assert sorted(f.handler for f in deployed.functions.values()) == [
        "emulator_fixture_handlers.describe_context",
        "emulator_fixture_handlers.record_s3_event",
    ]
    assert os.environ["FIXTURE_BUCKET"] == deployed.data_bucket
    assert os.environ["FIXTURE_TABLE"] == deployed.registry_table
    assert "AWS::SQS::QueuePolicy" in set(deployed.skipped.values())  # moto enforces no resource policies


def test_settings_moto_ignores_are_applied(aws: EmbeddedAws, deployed: DeployedStack) -> None:
    s3_client = aws.client("s3")
    assert s3_client.get_bucket_versioning(Bucket=deployed.data_bucket)["Status"] == "Enabled"
    # moto's CloudFormation ignores NotificationConfiguration and moto cannot read an EventBridge
    # configuration back: the upload test below shows the deployer applied it.
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=deployed.trigger_queue_url, AttributeNames=["All"]
    )["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 3
    assert attributes["VisibilityTimeout"] == "60"


def test_an_upload_reaches_the_in_process_handler_through_s3_eventbridge_and_sqs(
    aws: EmbeddedAws, deployed: DeployedStack
) -> None:
    put = aws.client("s3").put_object(Bucket=deployed.data_bucket, Key="incoming/x/a.jsonl", Body=b"{}\n")
    aws.client("s3").put_object(Bucket=deployed.data_bucket, Key="elsewhere/b.jsonl", Body=b"{}\n")
    adapters.wait_for_quiet(timeout=30)

    [delivered] = [call["s3_event"] for call in handlers.calls("record_s3_event")]
    assert delivered["source"] == "aws.s3" and delivered["detail-type"] == "Object Created"
    assert delivered["detail"]["object"]["key"] == "incoming/x/a.jsonl"
    assert delivered["detail"]["object"]["version-id"] == put["VersionId"]
    item = aws.client("dynamodb").get_item(
        TableName=deployed.registry_table,
        Key={"pk": {"S": "incoming/x/a.jsonl"}, "sk": {"S": delivered["id"]}},
    )
    assert "Item" in item  # the handler found its table through the environment the deployer set


def test_the_state_machine_executes_with_the_definition_cloudformation_resolved(
    aws: EmbeddedAws, deployed: DeployedStack, run_to_end: Any
) -> None:
    execution = run_to_end(aws.client("stepfunctions"), deployed.state_machine_arn, {"key": "k"})

    assert execution["status"] == "SUCCEEDED"  # a 5-minute Wait, scaled, then the in-process handler
    step = next(f for f in deployed.functions.values() if f.handler.endswith("describe_context"))
    assert execution["output"]["function_name"] == step.name
    assert execution["output"]["event"] == {"key": "k"}


def _one_function_template(handler: str, code: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A template of one Python function and its role: what the deployer's failure tests break."""
    return {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}},
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.11",
                    "Handler": handler,
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": code,
                    **extra,
                },
            },
        }
    }


def test_a_resource_moto_cannot_create_is_named(aws: EmbeddedAws, tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps({"artifacts": {"Broken": {"type": "aws:cloudformation:stack"}}})
    )
    template = _one_function_template("index.handler", {"S3Bucket": "no-such-bucket", "S3Key": "code.zip"})

    with pytest.raises(DeployError, match=r"failed at Function \(AWS::Lambda::Function\): .*NoSuchBucket"):
        deploy_stack(Synthesized(template, tmp_path, "Broken"), aws.endpoint, aws.region)


def test_a_handler_this_process_cannot_import_fails_the_deploy_and_leaves_the_environment(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    (tmp_path / "asset.abc").mkdir()
    (tmp_path / "asset.abc" / "index.py").write_text("def handler(event, context):\n    return {}\n")
    destination = {
        "bucketName": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}",
        "objectKey": "abc.zip",
    }
    assets = {
        "files": {
            "abc": {"source": {"path": "asset.abc", "packaging": "zip"}, "destinations": {"d": destination}}
        }
    }
    (tmp_path / "NoHandler.assets.json").write_text(json.dumps(assets))
    manifest = {
        "artifacts": {
            "NoHandler.assets": {
                "type": "cdk:asset-manifest",
                "properties": {"file": "NoHandler.assets.json"},
            },
            "NoHandler": {"type": "aws:cloudformation:stack", "dependencies": ["NoHandler.assets"]},
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    template = _one_function_template(
        "no_such_module.handler",
        {"S3Bucket": {"Fn::Sub": destination["bucketName"]}, "S3Key": "abc.zip"},
        Environment={"Variables": {"ONLY_IN_NO_HANDLER": "set"}},
    )

    with pytest.raises(DeployError, match=r"Function: handler no_such_module\.handler is not importable"):
        deploy_stack(Synthesized(template, tmp_path, "NoHandler"), aws.endpoint, aws.region)
    assert "ONLY_IN_NO_HANDLER" not in os.environ


def test_a_custom_resource_another_provider_serves_is_refused_before_anything_is_created(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps({"artifacts": {"Custom": {"type": "aws:cloudformation:stack"}}})
    )
    template = {
        "Resources": {
            "Thing": {"Type": "Custom::Thing", "Properties": {"ServiceToken": "arn"}},
            "Other": {"Type": "AWS::CloudFormation::CustomResource", "Properties": {"ServiceToken": "arn"}},
            "Queue": {"Type": "AWS::SQS::Queue"},
        }
    }

    with pytest.raises(
        DeployError,
        match=r"custom resources whose provider is not one of the app's Python functions cannot run on the "
        r"embedded AWS: Thing \(Custom::Thing\), Other \(AWS::CloudFormation::CustomResource\)$",
    ):
        deploy_stack(Synthesized(template, tmp_path, "Custom"), aws.endpoint, aws.region)
    stacks = aws.client("cloudformation").list_stacks()["StackSummaries"]
    assert "Custom" not in {stack["StackName"] for stack in stacks}


def test_bucket_notifications_other_than_eventbridge_are_refused() -> None:
    queue = {"Event": "s3:ObjectCreated:*", "Queue": "arn:aws:sqs:us-east-1:123456789012:q"}
    bucket = {
        "Type": "AWS::S3::Bucket",
        "Properties": {
            "NotificationConfiguration": {
                "EventBridgeConfiguration": {"EventBridgeEnabled": True},
                "QueueConfigurations": [queue],
            }
        },
    }
    with pytest.raises(DeployError, match=r"Bucket: bucket notifications \['QueueConfigurations'\]"):
        _refuse_what_cannot_run({"Resources": {"Bucket": bucket}})

    del bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    _refuse_what_cannot_run({"Resources": {"Bucket": bucket}})  # EventBridge alone is applied


def test_one_variable_with_two_values_across_functions_is_refused() -> None:
    functions = {
        name: FunctionInfo(name, name, f"arn:{name}", "m.handler", {"ITERFT_TABLE": table, "SHARED": "same"})
        for name, table in (("Validate", "registry"), ("Finish", "registry-copy"))
    }
    with pytest.raises(
        DeployError, match="ITERFT_TABLE is 'registry' in Validate but 'registry-copy' in Finish"
    ):
        _function_environment(functions)
