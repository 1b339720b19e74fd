"""The synthesized template's storage, registry, notifications and the stack as a whole: every resource
with its security properties."""

from __future__ import annotations

from pathlib import Path

from aws_cdk.assertions import Match, Template
from iterft_runtime import naming
from stack_template_support import (
    _has_managed_jobs,
    _logical_id,
    _resources,
)
from template_support import SYNTHESIZED, Synths, readable

from stacks.app_builder import SynthResult, synth_stack
from stacks.version import code_version

pytest_plugins = ("stack_template_fixtures",)


# Storage --------------------------------------------------------------------------------------


def test_key_rotates_and_has_the_stack_alias(synth: SynthResult, template: Template) -> None:
    template.resource_count_is("AWS::KMS::Key", 1)
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": f"alias/{synth.stack_name}"})


def test_data_bucket_is_kms_encrypted_versioned_private_logged_and_expires_old_versions(
    synth: SynthResult, template: Template
) -> None:
    key = _logical_id(synth, "AWS::KMS::Key", "StorageKey")
    log_bucket = _logical_id(synth, "AWS::S3::Bucket", "StorageAccessLogBucket")
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": {"Fn::GetAtt": [key, "Arn"]},
                        },
                    }
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": log_bucket},
                "LogFilePrefix": Match.any_value(),
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "NoncurrentVersionExpiration": {
                                    "NoncurrentDays": synth.config.retention.noncurrent_object_days
                                },
                                "Status": "Enabled",
                            }
                        )
                    ]
                )
            },
        },
    )


def test_data_bucket_sends_events_to_eventbridge_natively(synth: SynthResult) -> None:
    data_bucket = _logical_id(synth, "AWS::S3::Bucket", "StorageDataBucket")
    properties = synth.template["Resources"][data_bucket]["Properties"]
    assert properties["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    log_bucket = _logical_id(synth, "AWS::S3::Bucket", "StorageAccessLogBucket")
    assert "NotificationConfiguration" not in synth.template["Resources"][log_bucket]["Properties"]


def test_the_only_custom_resources_are_the_apps_own_and_no_cdk_helper_function(synth: SynthResult) -> None:
    """What runs at deploy time is the app's own handler (serving pointers, throwaway teardown): no CDK
    BucketNotificationsHandler, provider framework or AwsCustomResource."""
    resources = synth.template["Resources"]
    custom = {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"].startswith("Custom::")
        or resource["Type"] == "AWS::CloudFormation::CustomResource"
    }
    expected = {"Custom::ServingPointer": len(synth.config.lineages)}
    if synth.config.retention.destroy_data_on_delete:
        expected["Custom::DataTeardown"] = 1
    if synth.config.invocation_logs is not None and synth.config.invocation_logs.enable_if_absent:
        expected["Custom::InvocationLogging"] = 1
    kinds = [resource["Type"] for resource in custom.values()]
    assert {kind: kinds.count(kind) for kind in kinds} == expected
    stack_resources = _logical_id(synth, "AWS::Lambda::Function", "ServingPointersStackResources")
    for resource in custom.values():
        assert resource["Properties"]["ServiceToken"] == {"Fn::GetAtt": [stack_resources, "Arn"]}
    assert not [logical_id for logical_id in resources if "BucketNotificationsHandler" in logical_id]
    app_handlers = {
        f"{naming.HANDLER_MODULE.format(step=step)}.handler"
        for step in (*naming.STEPS, naming.STACK_RESOURCES)
    }
    for logical_id, function in _resources(synth, "AWS::Lambda::Function").items():
        assert function["Properties"]["Handler"] in app_handlers, logical_id


def test_access_log_bucket_is_encrypted_versioned_private_and_owned_by_the_bucket_owner(
    synth: SynthResult, template: Template
) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": Match.object_like(
                {"BlockPublicAcls": True, "BlockPublicPolicy": True}
            ),
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        },
    )
    policies = [readable(p["Properties"]) for p in _resources(synth, "AWS::S3::BucketPolicy").values()]
    log_bucket = _logical_id(synth, "AWS::S3::Bucket", "StorageAccessLogBucket")
    (log_policy,) = [p for p in policies if p["Bucket"] == f"<{log_bucket}>"]
    (delivery,) = [
        s
        for s in log_policy["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
    ]
    assert delivery["Action"] == "s3:PutObject"
    assert "aws:SourceArn" in delivery["Condition"]["ArnLike"]


def test_every_bucket_queue_and_topic_refuses_requests_without_tls(synth: SynthResult) -> None:
    policy_types = {
        "AWS::S3::BucketPolicy": ("Bucket", "AWS::S3::Bucket", 2),
        "AWS::SQS::QueuePolicy": ("Queues", "AWS::SQS::Queue", 2),
        "AWS::SNS::TopicPolicy": ("Topics", "AWS::SNS::Topic", 1),
    }
    for policy_type, (_, resource_type, count) in policy_types.items():
        assert len(_resources(synth, resource_type)) == count
        policies = list(_resources(synth, policy_type).values())
        assert len(policies) == count
        for policy in policies:
            denials = [
                s
                for s in policy["Properties"]["PolicyDocument"]["Statement"]
                if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            ]
            assert denials, f"{policy_type} without a TLS-only statement"


def test_stateful_resources_follow_the_destroy_data_setting(synth: SynthResult) -> None:
    expected = "Delete" if synth.config.retention.destroy_data_on_delete else "Retain"
    for kind in ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::Logs::LogGroup"):
        for logical_id, resource in _resources(synth, kind).items():
            assert resource.get("DeletionPolicy") == expected, logical_id
    assert not _resources(synth, "Custom::S3AutoDeleteObjects")


# Registry and notifications -------------------------------------------------------------------


def test_registry_is_an_on_demand_table_with_pitr_and_the_stack_key(
    synth: SynthResult, template: Template
) -> None:
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.resource_count_is("AWS::DynamoDB::GlobalTable", 0)
    key = _logical_id(synth, "AWS::KMS::Key", "StorageKey")
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {
                "SSEEnabled": True,
                "SSEType": "KMS",
                "KMSMasterKeyId": {"Fn::GetAtt": [key, "Arn"]},
            },
        },
    )


def test_topic_is_encrypted_and_subscribes_the_configured_addresses(
    synth: SynthResult, template: Template
) -> None:
    key = _logical_id(synth, "AWS::KMS::Key", "StorageKey")
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}})
    subscriptions = [r["Properties"] for r in _resources(synth, "AWS::SNS::Subscription").values()]
    assert sorted(s["Endpoint"] for s in subscriptions) == sorted(synth.config.notifications.emails)
    assert all(s["Protocol"] == "email" for s in subscriptions)


# The stack as a whole -------------------------------------------------------------------------


def test_outputs(synth: SynthResult) -> None:
    assert synth.template["Outputs"].keys() == {
        "DataBucketName",
        "RegistryTableName",
        "StateMachineArn",
        "TopicArn",
        "TriggerQueueUrl",
        "KmsKeyArn",
        "CodeVersion",
        "ReconcilerFunctionName",
        "ServingParameterPrefix",
        *(f"ServingParameter{_pascal(lineage.name)}" for lineage in synth.config.lineages),
        *(
            ["CurateFunctionName", "InvocationLogsDestination", "InvocationLogsMode"]
            if synth.config.invocation_logs is not None
            else []
        ),
    }
    assert (
        synth.template["Outputs"]["CodeVersion"]["Value"] == code_version()
    )  # what `iterft doctor` compares
    prefix = synth.template["Outputs"]["ServingParameterPrefix"]["Value"]
    assert prefix == naming.serving_parameter_prefix(synth.stack_name)


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def test_a_synthesized_environment_has_a_managed_evaluation_job(synths: Synths) -> None:
    """The managed job's resources and states are tested on oregon: no shipped config has one."""
    assert [name for name in SYNTHESIZED if _has_managed_jobs(synths.result(name))] == ["oregon"]


def test_synth_is_deterministic(synths: Synths, tmp_path: Path) -> None:
    prod = synths.result("prod")
    again = synth_stack("prod", tmp_path)
    name = f"{prod.stack_name}.template.json"
    assert (again.assembly_dir / name).read_bytes() == (prod.assembly_dir / name).read_bytes()
