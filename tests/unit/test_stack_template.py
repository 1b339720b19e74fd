"""The synthesized template: every resource with its security properties, IAM scoping, the workflow."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from iterft_runtime import naming
from iterft_runtime.models.families import invocable_foundation_model_id
from template_support import SYNTHESIZED, Synths, readable

from stacks.app_builder import SynthResult, synth_stack
from stacks.trigger import TRIGGER_TIMEOUT_SECONDS
from stacks.version import code_version
from stacks.workflow import LONG_RUNNING_STEPS, grants

# The happy path of docs/architecture.md, state by state.
FLOW = [
    "Rollback?",
    "Validate dataset",
    "Dataset valid?",
    "Begin iteration",
    "Fine-tune candidate",
    "Collect training metrics",
    "Plan evaluation",
    "Provision evaluation capacity",
    "Start evaluation capacity polls",
    "Check evaluation capacity",
    "Evaluation capacity ready?",
    "Distributed evaluation?",
    "Score shards",
    "Aggregate evaluation",
    "Decide",
    "Promote?",
    "Prepare promotion",
    "Swap serving model",
    "Start serving capacity polls",
    "Check serving capacity",
    "Serving capacity ready?",
    "Promote candidate",
    "Record outcome",
    "Apply retention",
    "Finish iteration",
    "Start next queued upload",
    "Round failed?",
    "Round complete",
]
MANAGED_EVALUATION_FLOW = {
    # Lineages with evaluation.managed_job: the job starts before the shards, is awaited after them.
    "Distributed evaluation?": ["Managed evaluation?", "Start managed evaluation"],
    "Aggregate evaluation": [
        "Managed evaluation started?",
        "Start managed evaluation polls",
        "Check managed evaluation",
        "Managed evaluation ready?",
    ],
}
RESULT_PATHS = {
    "Validate dataset": "$.validation",
    "Mark invalid": "$.outcome",
    "Begin iteration": "$.round",
    "Fine-tune candidate": "$.job",
    "Collect training metrics": "$.training",
    "Plan evaluation": "$.evaluation_plan",
    "Provision evaluation capacity": "$.capacity",
    "Start evaluation capacity polls": "$.polls",
    "Check evaluation capacity": "$.capacity_check",
    "Count evaluation capacity poll": "$.polls",
    "Score shards": None,
    "Aggregate evaluation": "$.evaluation",
    "Decide": "$.decision",
    "Prepare promotion": "$.promotion",
    "Swap serving model": "$.swap",
    "Check serving capacity": "$.capacity_check",
    "Promote candidate": "$.promoted",
    "Discard candidate": None,
    "Apply retention": "$.retention",
    "Record outcome": "$.outcome",
    "Clean up failed round": "$.outcome",
    "Finish iteration": "$.finish",
    "Start next queued upload": None,
}
CAUGHT = [
    "Begin rollback",
    "Validate dataset",
    "Begin iteration",
    "Fine-tune candidate",
    "Collect training metrics",
    "Plan evaluation",
    "Provision evaluation capacity",
    "Check evaluation capacity",
    "Score shards",
    "Score shards (distributed)",
    "Aggregate evaluation",
    "Decide",
    "Swap serving model",
    "Check serving capacity",
    "Promote candidate",
    "Discard candidate",
]
LAMBDA_STEPS = {
    "Begin rollback": "begin_rollback",
    "Validate dataset": "validate",
    "Begin iteration": "begin",
    "Collect training metrics": "collect_metrics",
    "Plan evaluation": "plan_evaluation",
    "Provision evaluation capacity": "provision_capacity",
    "Check evaluation capacity": "capacity_status",
    "Aggregate evaluation": "aggregate_evaluation",
    "Decide": "decide",
    "Swap serving model": "swap_serving",
    "Check serving capacity": "capacity_status",
    "Promote candidate": "promote",
    "Discard candidate": "release_capacity",
    "Clean up failed round": "clean_up",
    "Apply retention": "retain_models",
    "Finish iteration": "finish",
}
SHARED_ENV = {
    naming.ENV_STACK_NAME,
    naming.ENV_TABLE,
    naming.ENV_BUCKET,
    naming.ENV_TOPIC_ARN,
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
}
FORBIDDEN_ON_STAR = re.compile(r"^bedrock:(create|update|delete|stop|put)", re.IGNORECASE)


@pytest.fixture(scope="module")
def synths(tmp_path_factory: pytest.TempPathFactory) -> Synths:
    return Synths(tmp_path_factory)


@pytest.fixture(params=SYNTHESIZED)
def synth(request: pytest.FixtureRequest, synths: Synths) -> SynthResult:
    return synths.result(request.param)


@pytest.fixture
def template(synth: SynthResult, synths: Synths) -> Template:
    return synths.template(synth.config.environment)


# Helpers over the raw template ----------------------------------------------------------------


def _resources(synth: SynthResult, kind: str) -> dict[str, dict]:
    return {
        logical_id: resource
        for logical_id, resource in synth.template["Resources"].items()
        if resource["Type"] == kind
    }


def _only(synth: SynthResult, kind: str, **properties: Any) -> tuple[str, dict]:
    matches = [
        (logical_id, resource["Properties"])
        for logical_id, resource in _resources(synth, kind).items()
        if all(resource["Properties"].get(key) == value for key, value in properties.items())
    ]
    assert len(matches) == 1, f"expected one {kind} with {properties}, found {len(matches)}"
    return matches[0]


def _statements(synth: SynthResult) -> list[dict]:
    """Every identity-policy statement of the stack (policies, managed policies, inline role policies)."""
    found = []
    for resource in synth.template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found += properties["PolicyDocument"]["Statement"]
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                found += policy["PolicyDocument"]["Statement"]
    return [readable(statement) for statement in found]


def _listify(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _role_statements(synth: SynthResult, role_logical_id: str) -> list[dict]:
    found = []
    for resource in _resources(synth, "AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in resource["Properties"]["Roles"]:
            found += resource["Properties"]["PolicyDocument"]["Statement"]
    return [readable(statement) for statement in found]


def _allows(statements: list[dict], action: str, resource: str) -> list[dict]:
    """The statements granting `action` on exactly `resource` (one of their resources)."""
    return [
        statement
        for statement in statements
        if statement["Effect"] == "Allow"
        and action in _listify(statement["Action"])
        and resource in _listify(statement["Resource"])
    ]


def _functions(synth: SynthResult) -> dict[str, dict]:
    """Function properties by step name (taken from the handler)."""
    functions = {}
    for properties in (r["Properties"] for r in _resources(synth, "AWS::Lambda::Function").values()):
        match = re.fullmatch(r"iterft_runtime\.handlers\.(\w+)\.handler", properties["Handler"])
        if match:
            functions[match.group(1)] = properties
    return functions


def _function_role(synth: SynthResult, step: str) -> str:
    return _functions(synth)[step]["Role"]["Fn::GetAtt"][0]


def _has_managed_jobs(synth: SynthResult) -> bool:
    return any(lineage.evaluation.managed_job is not None for lineage in synth.config.lineages)


def _steps(synth: SynthResult) -> set[str]:
    """The steps this stack has functions for: the managed evaluation job's only when a lineage uses it;
    and the custom resources' function (naming.STACK_RESOURCES), packaged like them."""
    if _has_managed_jobs(synth):
        return {*naming.STEPS, naming.STACK_RESOURCES}
    return {*naming.STEPS, naming.STACK_RESOURCES} - set(naming.MANAGED_EVALUATION_STEPS)


def _flow(synth: SynthResult) -> list[str]:
    """FLOW, with the managed evaluation job's states where a lineage of this stack has one."""
    if not _has_managed_jobs(synth):
        return FLOW
    flow: list[str] = []
    for name in FLOW:
        flow += [*MANAGED_EVALUATION_FLOW.get(name, []), name]
    return flow


def _definition(synth: SynthResult) -> dict:
    (properties,) = [r["Properties"] for r in _resources(synth, "AWS::StepFunctions::StateMachine").values()]
    return json.loads(readable(properties["DefinitionString"]))


def _logical_id(synth: SynthResult, kind: str, path_fragment: str) -> str:
    (logical_id,) = [
        logical_id
        for logical_id in _resources(synth, kind)
        if logical_id.startswith(path_fragment) and "Policy" not in logical_id
    ]
    return logical_id


def _arn(region_pattern: str, resource: str) -> str:
    return f"arn:<AWS::Partition>:bedrock:{region_pattern}:<AWS::AccountId>:{resource}"


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


# Bedrock service role -------------------------------------------------------------------------


def test_bedrock_role_trusts_only_this_accounts_customization_jobs(synth: SynthResult) -> None:
    role_id = _logical_id(synth, "AWS::IAM::Role", "BedrockCustomizationRole")
    (trust,) = readable(
        synth.template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    )
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "<AWS::AccountId>"},
        "ArnEquals": {"aws:SourceArn": _arn(synth.config.region, "model-customization-job/*")},
    }


def test_bedrock_role_reads_validated_data_writes_job_output_and_uses_the_key_through_services(
    synth: SynthResult,
) -> None:
    statements = _role_statements(synth, _logical_id(synth, "AWS::IAM::Role", "BedrockCustomizationRole"))
    bucket = f"<{_logical_id(synth, 'AWS::S3::Bucket', 'StorageDataBucket')}.Arn>"
    assert _allows(statements, "s3:GetObject", f"{bucket}/{naming.VALIDATED_PREFIX}*")
    assert not _allows(statements, "s3:PutObject", f"{bucket}/{naming.VALIDATED_PREFIX}*")
    for action in ("s3:GetObject", "s3:PutObject"):
        assert _allows(statements, action, f"{bucket}/{naming.JOB_OUTPUT_PREFIX}*")
    (listing,) = _allows(statements, "s3:ListBucket", bucket)
    assert sorted(listing["Condition"]["StringLike"]["s3:prefix"]) == sorted(
        [f"{naming.VALIDATED_PREFIX}*", f"{naming.JOB_OUTPUT_PREFIX}*"]
    )
    key = f"<{_logical_id(synth, 'AWS::KMS::Key', 'StorageKey')}.Arn>"
    for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"):
        (grant,) = _allows(statements, action, key)
        assert sorted(grant["Condition"]["StringEquals"]["kms:ViaService"]) == [
            f"bedrock.{synth.config.region}.amazonaws.com",
            f"s3.{synth.config.region}.amazonaws.com",
        ]


def test_evaluation_jobs_run_as_a_role_of_their_own_only_where_a_lineage_has_one(synth: SynthResult) -> None:
    roles = [
        logical_id for logical_id in _resources(synth, "AWS::IAM::Role") if "BedrockEvaluation" in logical_id
    ]
    if not _has_managed_jobs(synth):
        assert roles == []
        return
    (role_id,) = roles
    (trust,) = readable(
        synth.template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    )
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "<AWS::AccountId>"},
        "ArnEquals": {"aws:SourceArn": _arn(synth.config.region, "evaluation-job/*")},
    }
    statements = _role_statements(synth, role_id)
    bucket = f"<{_logical_id(synth, 'AWS::S3::Bucket', 'StorageDataBucket')}.Arn>"
    folder = f"{bucket}/{naming.EVALUATION_RESULTS_PREFIX}*/{naming.MANAGED_EVALUATION_DIR}"
    assert _allows(statements, "s3:GetObject", f"{folder}dataset.jsonl")
    assert _allows(statements, "s3:PutObject", f"{folder}output/*")
    object_grants = {
        resource
        for statement in statements
        for resource in _listify(statement["Resource"])
        if str(resource).startswith(f"{bucket}/")
    }
    assert object_grants == {f"{folder}dataset.jsonl", f"{folder}output/*"}
    # It invokes provisioned throughput and each managed lineage's starting point, and creates nothing.
    invoked = {
        resource
        for statement in statements
        if "bedrock:InvokeModel" in _listify(statement["Action"])
        for resource in _listify(statement["Resource"])
    }
    starting_points = {
        f"arn:<AWS::Partition>:bedrock:{synth.config.region}::foundation-model/"
        f"{invocable_foundation_model_id(lineage.base_model)}"
        for lineage in synth.config.lineages
        if lineage.evaluation.managed_job is not None
    }
    assert invoked == {_arn(synth.config.region, "provisioned-model/*"), *starting_points}
    actions = {action for statement in statements for action in _listify(statement["Action"])}
    assert {action for action in actions if action.startswith("bedrock:")} == {
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
    }
    # Bedrock itself may use the stack key for this account's evaluation jobs only (its key policy).
    key_id = _logical_id(synth, "AWS::KMS::Key", "StorageKey")
    key_policy = readable(synth.template["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"])
    (for_bedrock,) = [st for st in key_policy if st.get("Principal") == {"Service": "bedrock.amazonaws.com"}]
    assert sorted(_listify(for_bedrock["Action"])) == [
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GenerateDataKey",
    ]
    assert for_bedrock["Condition"] == {
        "StringLike": {
            "kms:EncryptionContext:evaluationJobArn": _arn(synth.config.region, "evaluation-job/*"),
            "aws:SourceArn": _arn(synth.config.region, "evaluation-job/*"),
        }
    }
    # Only Start managed evaluation passes it, only to Bedrock, and names it to the job; it writes the
    # prompt dataset and nothing else.
    start_statements = _role_statements(synth, _function_role(synth, "start_managed_evaluation"))
    written = {
        resource
        for statement in start_statements
        if "s3:PutObject" in _listify(statement["Action"])
        for resource in _listify(statement["Resource"])
    }
    assert written == {f"{folder}dataset.jsonl"}
    start = _functions(synth)["start_managed_evaluation"]
    assert start["Environment"]["Variables"][naming.ENV_EVALUATION_ROLE_ARN] == {
        "Fn::GetAtt": [role_id, "Arn"]
    }
    (passing,) = _allows(
        _role_statements(synth, _function_role(synth, "start_managed_evaluation")),
        "iam:PassRole",
        f"<{role_id}.Arn>",
    )
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
    jobs = _arn(synth.config.region, "evaluation-job/*")
    start_statements = _role_statements(synth, _function_role(synth, "start_managed_evaluation"))
    # IAM authorizes CreateEvaluationJob against the evaluated models, not the job (emulator/test_iam.py).
    models = _arn(synth.config.region, "custom-model/*")
    assert _allows(start_statements, "bedrock:CreateEvaluationJob", models)
    assert not _allows(start_statements, "bedrock:CreateEvaluationJob", jobs)
    for step, action in (
        ("start_managed_evaluation", "bedrock:TagResource"),
        ("managed_evaluation_status", "bedrock:GetEvaluationJob"),
        ("clean_up", "bedrock:StopEvaluationJob"),
    ):
        assert _allows(_role_statements(synth, _function_role(synth, step)), action, jobs), step
    assert _allows(
        _role_statements(synth, _function_role(synth, "clean_up")), "bedrock:ListEvaluationJobs", "*"
    )


# Trigger --------------------------------------------------------------------------------------


def test_upload_queue_is_encrypted_with_a_dead_letter_queue_and_outlasts_the_trigger(
    synth: SynthResult,
) -> None:
    key = f"<{_logical_id(synth, 'AWS::KMS::Key', 'StorageKey')}.Arn>"
    queues = {
        logical_id: readable(r["Properties"])
        for logical_id, r in _resources(synth, "AWS::SQS::Queue").items()
    }
    assert all(queue["KmsMasterKeyId"] == key for queue in queues.values())
    (main,) = [queue for queue in queues.values() if "RedrivePolicy" in queue]
    (dead_letter_id,) = [logical_id for logical_id, queue in queues.items() if "RedrivePolicy" not in queue]
    assert main["RedrivePolicy"] == {"deadLetterTargetArn": f"<{dead_letter_id}.Arn>", "maxReceiveCount": 5}
    trigger_timeout = _functions(synth)["trigger"]["Timeout"]
    assert trigger_timeout == TRIGGER_TIMEOUT_SECONDS
    assert main["VisibilityTimeout"] >= 6 * trigger_timeout


def test_rule_sends_object_created_under_incoming_to_the_queue(
    synth: SynthResult, template: Template
) -> None:
    data_bucket = _logical_id(synth, "AWS::S3::Bucket", "StorageDataBucket")
    (queue,) = [
        logical_id
        for logical_id, r in _resources(synth, "AWS::SQS::Queue").items()
        if "RedrivePolicy" in r["Properties"]
    ]
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [{"Ref": data_bucket}]},
                    "object": {"key": [{"prefix": naming.INCOMING_PREFIX}]},
                },
            },
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [queue, "Arn"]}})],
        },
    )


def test_trigger_reads_the_queue_reporting_batch_item_failures(
    synth: SynthResult, template: Template
) -> None:
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 1)
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"BatchSize": 10, "FunctionResponseTypes": ["ReportBatchItemFailures"]},
    )


def test_one_parameter_per_lineage_holds_its_config(synth: SynthResult) -> None:
    parameters = {
        r["Properties"]["Name"]: r["Properties"] for r in _resources(synth, "AWS::SSM::Parameter").values()
    }
    lineages = synth.config.lineages
    configs = {naming.lineage_parameter_name(synth.stack_name, lineage.name) for lineage in lineages}
    assert parameters.keys() == configs  # the serving pointers are not CloudFormation-owned values
    for lineage in lineages:
        parameter = parameters[naming.lineage_parameter_name(synth.stack_name, lineage.name)]
        assert parameter["Type"] == "String"
        assert parameter["Value"] == lineage.model_dump_json()


def test_one_serving_pointer_per_lineage_starts_at_the_starting_point(synth: SynthResult) -> None:
    """Created once by the custom resource, with the starting point; deleted only with a throwaway stack."""
    pointers = {
        r["Properties"]["ParameterName"]: r["Properties"]
        for r in _resources(synth, "Custom::ServingPointer").values()
    }
    destroy = str(synth.config.retention.destroy_data_on_delete).lower()
    for lineage in synth.config.lineages:
        pointer = pointers[naming.serving_parameter_name(synth.stack_name, lineage.name)]
        assert pointer["InitialValue"] == invocable_foundation_model_id(lineage.base_model), lineage.name
        assert pointer["DestroyOnStackDelete"] == destroy


def test_the_stack_resources_function_may_create_pointers_but_not_overwrite_other_parameters(
    synth: SynthResult,
) -> None:
    role = _logical_id(synth, "AWS::IAM::Role", "ServingPointersStackResourcesRole")
    statements = _role_statements(synth, role)
    prefix = naming.serving_parameter_prefix(synth.stack_name)
    pointers = f"arn:<AWS::Partition>:ssm:{synth.config.region}:<AWS::AccountId>:parameter{prefix}*"
    assert _allows(statements, "ssm:PutParameter", pointers)
    config = naming.lineage_parameter_prefix(synth.stack_name)
    assert not _allows(
        statements,
        "ssm:PutParameter",
        f"arn:<AWS::Partition>:ssm:{synth.config.region}:<AWS::AccountId>:parameter{config}*",
    )
    assert (
        bool(_allows(statements, "ssm:DeleteParameter", pointers))
        == synth.config.retention.destroy_data_on_delete
    )
    assert _allows(statements, "cloudformation:DescribeStacks", "<AWS::StackId>")


def test_trigger_permissions(synth: SynthResult) -> None:
    statements = _role_statements(synth, _function_role(synth, "trigger"))
    prefix = naming.lineage_parameter_prefix(synth.stack_name)
    parameters = f"arn:<AWS::Partition>:ssm:{synth.config.region}:<AWS::AccountId>:parameter{prefix}*"
    assert _allows(statements, "ssm:GetParameter", parameters)
    assert _allows(statements, "ssm:GetParametersByPath", parameters.removesuffix("/*"))
    machine = _logical_id(synth, "AWS::StepFunctions::StateMachine", "WorkflowStateMachine")
    assert _allows(statements, "states:StartExecution", f"<{machine}>")
    executions = (
        f"arn:<AWS::Partition>:states:{synth.config.region}:<AWS::AccountId>:execution:<{machine}.Name>:*"
    )
    assert _allows(statements, "states:DescribeExecution", executions)
    table = f"<{_logical_id(synth, 'AWS::DynamoDB::Table', 'RegistryTable')}.Arn>"
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"):
        assert _allows(statements, action, table)
    topic = f"<{_logical_id(synth, 'AWS::SNS::Topic', 'NotificationsTopic')}>"
    assert _allows(statements, "sns:Publish", topic)
    environment = _functions(synth)["trigger"]["Environment"]["Variables"]
    assert environment[naming.ENV_STATE_MACHINE_ARN] == {"Ref": machine}
    assert environment[naming.ENV_LINEAGE_PARAMETER_PREFIX] == prefix


# Functions ------------------------------------------------------------------------------------


def test_every_step_has_its_function_packaged_alike(synth: SynthResult) -> None:
    functions = _functions(synth)
    assert functions.keys() == _steps(synth)
    (layer,) = _resources(synth, "AWS::Lambda::LayerVersion")
    code_keys = set()
    for step, function in functions.items():
        assert function["Handler"] == f"{naming.HANDLER_MODULE.format(step=step)}.handler"
        assert function["Runtime"] == "python3.11"
        assert function["Architectures"] == ["x86_64"]
        assert function["TracingConfig"] == {"Mode": "Active"}
        assert function["Layers"] == [{"Ref": layer}]
        expected_timeout = 300 if step == naming.STACK_RESOURCES else 60
        assert function["Timeout"] == (900 if step in LONG_RUNNING_STEPS else expected_timeout)
        code_keys.add(function["Code"]["S3Key"])
    assert len(code_keys) == 1, "all functions ship the same lambda/ asset"


def test_every_function_logs_to_its_own_log_group_with_the_configured_retention(synth: SynthResult) -> None:
    log_groups = _resources(synth, "AWS::Logs::LogGroup")
    used = []
    for step, function in _functions(synth).items():
        log_group = function["LoggingConfig"]["LogGroup"]["Ref"]
        used.append(log_group)
        assert log_groups[log_group]["Properties"]["RetentionInDays"] == synth.config.retention.log_days, step
        statements = _role_statements(synth, _function_role(synth, step))
        assert _allows(statements, "logs:PutLogEvents", f"<{log_group}.Arn>")
    assert len(set(used)) == len(_steps(synth))


def test_functions_share_one_environment(synth: SynthResult) -> None:
    values: dict[str, set[str]] = {}
    for step, function in _functions(synth).items():
        environment = function["Environment"]["Variables"]
        assert environment.keys() >= SHARED_ENV, step
        for name, value in environment.items():
            values.setdefault(name, set()).add(json.dumps(value, sort_keys=True))
    assert {name: found for name, found in values.items() if len(found) > 1} == {}
    functions = _functions(synth)
    assert (
        functions["validate"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        == naming.POWERTOOLS_SERVICE
    )
    assert functions["validate"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "iterft"
    assert {naming.ENV_STATE_MACHINE_ARN, naming.ENV_LINEAGE_PARAMETER_PREFIX} <= functions["trigger"][
        "Environment"
    ]["Variables"].keys()


def test_function_roles_carry_no_managed_policy(synth: SynthResult) -> None:
    for step in _steps(synth):
        role = synth.template["Resources"][_function_role(synth, step)]["Properties"]
        assert "ManagedPolicyArns" not in role, step


def _readable_resources(synth: SynthResult) -> grants.Resources:
    """The grants table's resources as the synthesized policies show them (template_support.readable)."""
    region = synth.config.region
    bucket = f"<{_logical_id(synth, 'AWS::S3::Bucket', 'StorageDataBucket')}.Arn>"
    models = f"arn:<AWS::Partition>:bedrock:{region}::foundation-model/"
    return grants.Resources(
        jobs=_arn(region, "model-customization-job/*"),
        custom_models=_arn(region, "custom-model/*"),
        deployments=_arn(region, "custom-model-deployment/*"),
        throughputs=_arn(region, "provisioned-model/*"),
        serving_pointers=(
            f"arn:<AWS::Partition>:ssm:{region}:<AWS::AccountId>:parameter/iterft/{synth.stack_name}/serving/*"
        ),
        bucket=bucket,
        table=f"<{_logical_id(synth, 'AWS::DynamoDB::Table', 'RegistryTable')}.Arn>",
        key=f"<{_logical_id(synth, 'AWS::KMS::Key', 'StorageKey')}.Arn>",
        topic=f"<{_logical_id(synth, 'AWS::SNS::Topic', 'NotificationsTopic')}>",
        bedrock_role=f"<{_logical_id(synth, 'AWS::IAM::Role', 'BedrockCustomizationRole')}.Arn>",
        bucket_objects=lambda objects: f"{bucket}/{objects}",
        base_models=tuple(
            models + lineage.base_model
            for lineage in synth.config.lineages
            if "arn:" not in lineage.base_model
        ),
        judges=tuple(
            models + lineage.evaluation.judge.model
            for lineage in synth.config.lineages
            if lineage.evaluation.judge is not None
        ),
    )


def test_step_permissions(synth: SynthResult) -> None:
    """Each step's role allows what the grants table (stacks/workflow/grants.py) says it may do."""
    resources = _readable_resources(synth)
    managed = _has_managed_jobs(synth)
    roles = {step: _function_role(synth, step) for step in grants.STEP_GRANTS if step in _functions(synth)}
    roles[grants.STATE_MACHINE] = _logical_id(synth, "AWS::IAM::Role", "WorkflowStateMachineRole")
    for step, role in roles.items():
        statements = _role_statements(synth, role)
        expected = grants.expected_permissions(step, resources, managed_jobs=managed)
        # Resources this test leaves empty (the managed evaluation job's) are checked where they are made.
        for action, resource in [(action, resource) for action, resource in expected if resource]:
            assert _allows(statements, action, resource), f"{step} lacks {action} on {resource}"
    not_granted = {
        "validate": ("dynamodb:", "bedrock:", "sns:"),
        "decide": ("dynamodb:", "s3:", "bedrock:", "sns:", "kms:"),
        "clean_up": ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "s3:"),
        "collect_metrics": ("s3:PutObject", "bedrock:Create", "bedrock:Stop"),
        "plan_evaluation": ("dynamodb:PutItem", "dynamodb:UpdateItem", "bedrock:"),  # it writes shard lists
        "score_shard": ("dynamodb:", "sns:"),
        "aggregate_evaluation": ("bedrock:", "sns:"),
        "capacity_status": ("dynamodb:", "s3:", "sns:", "bedrock:Create", "bedrock:Update", "bedrock:Delete"),
        "release_capacity": ("dynamodb:", "s3:", "sns:", "bedrock:Create", "bedrock:Update"),
        "provision_capacity": ("dynamodb:", "s3:", "sns:", "bedrock:Delete", "bedrock:Update"),
        "retain_models": ("s3:", "sns:", "bedrock:Create", "bedrock:Update", "bedrock:Invoke"),
    }
    for step, prefixes in not_granted.items():
        actions = [
            action
            for statement in _role_statements(synth, _function_role(synth, step))
            for action in _listify(statement["Action"])
        ]
        assert not [a for a in actions if a.startswith(prefixes)], step


def test_score_shard_may_invoke_each_starting_point(synth: SynthResult) -> None:
    statements = _role_statements(synth, _function_role(synth, "score_shard"))
    for lineage in synth.config.lineages:
        model = invocable_foundation_model_id(lineage.base_model)
        arn = f"arn:<AWS::Partition>:bedrock:{synth.config.region}::foundation-model/{model}"
        assert _allows(statements, "bedrock:InvokeModel", arn), lineage.name


def test_score_shard_may_invoke_each_judge_and_no_other_foundation_model(synth: SynthResult) -> None:
    """The judge metric adds exactly its own models; a config without a judge adds nothing."""
    statements = _role_statements(synth, _function_role(synth, "score_shard"))
    invocable = {
        resource
        for statement in statements
        if statement["Effect"] == "Allow" and "bedrock:InvokeModel" in _listify(statement["Action"])
        for resource in _listify(statement["Resource"])
        if "foundation-model/" in resource
    }
    prefix = f"arn:<AWS::Partition>:bedrock:{synth.config.region}::foundation-model/"
    starting_points = {
        prefix + invocable_foundation_model_id(lineage.base_model) for lineage in synth.config.lineages
    }
    judges = {
        prefix + lineage.evaluation.judge.model
        for lineage in synth.config.lineages
        if lineage.evaluation.judge is not None
    }
    assert invocable == starting_points | judges
    assert bool(judges) == (synth.config.environment != "dev")  # prod and oregon each judge a lineage


# IAM across the stack -------------------------------------------------------------------------


def test_no_bedrock_create_update_delete_stop_or_put_on_any_resource(synth: SynthResult) -> None:
    offending = [
        statement
        for statement in _statements(synth)
        if statement["Effect"] == "Allow"
        and "*" in _listify(statement["Resource"])
        and any(
            FORBIDDEN_ON_STAR.match(action) or action in ("*", "bedrock:*")
            for action in _listify(statement["Action"])
        )
    ]
    assert offending == []


def test_every_pass_role_is_limited_to_the_service_it_is_passed_to(synth: SynthResult) -> None:
    passes = [
        statement
        for statement in _statements(synth)
        if any(fnmatch.fnmatch("iam:PassRole", action) for action in _listify(statement["Action"]))
    ]
    assert passes, "the state machine must pass the Bedrock role"
    for statement in passes:
        assert statement["Condition"]["StringEquals"]["iam:PassedToService"] == "bedrock.amazonaws.com"
        assert "*" not in _listify(statement["Resource"])


def test_state_machine_permissions_for_the_sync_customization_job(synth: SynthResult) -> None:
    role = _logical_id(synth, "AWS::IAM::Role", "WorkflowStateMachineRole")
    statements = _role_statements(synth, role)
    region = synth.config.region
    create = ["bedrock:CreateModelCustomizationJob"]
    for lineage in synth.config.lineages:
        base = f"arn:<AWS::Partition>:bedrock:{region}::foundation-model/{lineage.base_model}"
        assert _allows(statements, create[0], base), lineage.name
    for resource in ("custom-model/*", "model-customization-job/*"):
        assert _allows(statements, create[0], _arn(region, resource))
    for action in ("bedrock:GetModelCustomizationJob", "bedrock:StopModelCustomizationJob"):
        assert _allows(statements, action, _arn(region, "model-customization-job/*"))
    bedrock_role = f"<{_logical_id(synth, 'AWS::IAM::Role', 'BedrockCustomizationRole')}.Arn>"
    (pass_role,) = _allows(statements, "iam:PassRole", bedrock_role)
    assert _listify(pass_role["Resource"]) == [bedrock_role]
    # Capacity is the Lambda steps' business: the state machine itself creates or deletes none.
    actions = {action for statement in statements for action in _listify(statement["Action"])}
    assert not [a for a in actions if "Deployment" in a or "ProvisionedModel" in a]
    queue = f"<{_logical_id(synth, 'AWS::SQS::Queue', 'UploadQueue2')}.Arn>"
    assert _allows(statements, "sqs:SendMessage", queue)


# The workflow ---------------------------------------------------------------------------------


def test_state_machine_is_standard_traced_and_logs_everything(synth: SynthResult, template: Template) -> None:
    (machine,) = [r["Properties"] for r in _resources(synth, "AWS::StepFunctions::StateMachine").values()]
    assert machine.get("StateMachineType", "STANDARD") == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    logging = machine["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True
    log_group = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    retention = synth.template["Resources"][log_group]["Properties"]["RetentionInDays"]
    assert retention == synth.config.retention.log_days


def _happy_choice(name: str, state: dict) -> str:
    """Valid data, capacity ready, promote, round not failed."""
    if name.endswith("ready?"):
        return next(c["Next"] for c in state["Choices"] if c["Variable"].endswith("_check.ready"))
    if name == "Promote?":
        return next(c["Next"] for c in state["Choices"] if c.get("BooleanEquals") is True)
    if name in ("Managed evaluation?", "Managed evaluation started?"):
        return state["Choices"][0]["Next"]
    assert name in ("Rollback?", "Dataset valid?", "Distributed evaluation?", "Round failed?"), name
    return state["Default"]


def test_happy_path_visits_the_states_of_the_architecture_in_order(synth: SynthResult) -> None:
    definition = _definition(synth)
    states = definition["States"]
    path, name = [], definition["StartAt"]
    while True:
        path.append(name)
        state = states[name]
        if state["Type"] == "Choice":
            name = _happy_choice(name, state)
        elif state.get("End") or state["Type"] in ("Succeed", "Fail"):
            break
        else:
            name = state["Next"]
    assert path == _flow(synth)
    assert states["Round complete"]["Type"] == "Succeed"


def test_side_paths_join_the_flow_where_the_architecture_says(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    (rollback,) = states["Rollback?"]["Choices"]
    assert rollback == {"Variable": "$.kind", "StringEquals": "rollback", "Next": "Begin rollback"}
    assert states["Begin rollback"]["ResultPath"] == "$"
    assert states["Begin rollback"]["Next"] == "Swap serving model"
    (invalid,) = states["Dataset valid?"]["Choices"]
    assert invalid == {"Variable": "$.validation.valid", "BooleanEquals": False, "Next": "Mark invalid"}
    assert states["Mark invalid"]["Parameters"] == {
        "decision.$": "$.validation.decision",
        "reason.$": "$.validation.reason",
    }
    assert states["Mark invalid"]["Next"] == "Apply retention"
    for label, then in (
        (
            "evaluation capacity",
            "Managed evaluation?" if _has_managed_jobs(synth) else "Distributed evaluation?",
        ),
        ("serving capacity", "Promote candidate"),
    ):
        title = label[0].upper() + label[1:]
        ready = states[f"{title} ready?"]
        choices = {c["Variable"]: c for c in ready["Choices"]}
        assert choices["$.capacity_check.ready"]["Next"] == then
        assert ready["Default"] == f"Count {label} poll"
        assert states[f"Count {label} poll"]["Parameters"] == {"polls.$": "States.MathAdd($.polls.polls, 1)"}
        assert states[f"Count {label} poll"]["Next"] == f"Wait for {label}"
        assert states[f"Wait for {label}"] == {"Type": "Wait", "Seconds": 30, "Next": f"Check {label}"}
        failed = choices["$.capacity_check.failed"]["Next"]
        assert states[failed]["ResultPath"] == "$.error"
        assert states[failed]["Next"] == "Clean up failed round"
        # Capacity that never serves ends the polling after an hour, on the failure path.
        timed_out = choices["$.polls.polls"]
        assert timed_out["NumericGreaterThanEquals"] * states[f"Wait for {label}"]["Seconds"] == 3600
        assert states[timed_out["Next"]]["Parameters"]["Error"] == "CapacityTimeout"
        assert states[timed_out["Next"]]["Next"] == "Clean up failed round"
        assert states[f"Check {label}"]["Parameters"] == {
            "capacities.$": "$.capacity.evaluation" if label.startswith("evaluation") else "$.swap.targets"
        }
    assert states["Prepare promotion"]["Parameters"]["model_arn.$"] == "$.training.output_model_arn"
    assert states["Approved?"]["Choices"][0]["Next"] == "Prepare promotion"
    assert states["Promote?"]["Default"] == "Discard candidate"
    assert states["Discard candidate"]["Next"] == "Record outcome"
    assert states["Record outcome"]["Parameters"] == {
        "decision.$": "$.decision.decision",
        "reason.$": "$.decision.reason",
    }
    assert states["Clean up failed round"]["Next"] == "Apply retention"
    # Retention is best effort: whatever happens, the round reaches Finish (which releases the lock).
    assert states["Apply retention"]["Next"] == "Finish iteration"
    assert states["Apply retention"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.retention", "Next": "Finish iteration"}
    ]
    (round_failed,) = states["Round failed?"]["Choices"]
    assert round_failed == {
        "Variable": "$.outcome.decision",
        "StringEquals": "failed",
        "Next": "Round failed",
    }
    assert states["Round failed"]["Type"] == "Fail"


def test_each_state_writes_its_result_where_the_architecture_says(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    for name, result_path in RESULT_PATHS.items():
        assert states[name]["ResultPath"] == result_path, name


def test_lambda_steps_invoke_their_function(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    functions = {
        step: logical_id
        for logical_id, r in _resources(synth, "AWS::Lambda::Function").items()
        for step in naming.STEPS
        if r["Properties"].get("Handler") == f"{naming.HANDLER_MODULE.format(step=step)}.handler"
    }
    for name, step in LAMBDA_STEPS.items():
        assert states[name]["Resource"] == f"<{functions[step]}.Arn>", name


def _all_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, those of Map item processors and Parallel branches included."""
    for name, state in states.items():
        yield name, state
        for processor in [state.get("ItemProcessor"), *state.get("Branches", [])]:
            if processor:
                yield from _all_states(processor["States"])


def test_every_lambda_step_retries_lambda_service_errors_and_throttling_with_jitter(
    synth: SynthResult,
) -> None:
    """AWS's recommended retry of Lambda's service exceptions (bp-lambda-serviceexception), and its
    `Lambda.TooManyRequestsException`, each with full jitter, first in every Lambda step's Retry."""
    functions = {f"<{logical_id}.Arn>" for logical_id in _resources(synth, "AWS::Lambda::Function")}
    lambda_states = {
        name: state
        for name, state in _all_states(_definition(synth)["States"])
        if state.get("Type") == "Task" and state.get("Resource") in functions
    }
    assert set(LAMBDA_STEPS) | {"Score shard", "Score shard (distributed)"} <= set(lambda_states)
    for name, state in lambda_states.items():
        service, throttling = state["Retry"][:2]
        assert service == {
            "ErrorEquals": [
                "Lambda.ClientExecutionTimeoutException",
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
            ],
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2,
            "JitterStrategy": "FULL",
        }, name
        assert throttling == {
            "ErrorEquals": ["Lambda.TooManyRequestsException"],
            "IntervalSeconds": 2,
            "MaxAttempts": 10,
            "BackoffRate": 2,
            "MaxDelaySeconds": 120,
            "JitterStrategy": "FULL",
        }, name
        assert all(retry["ErrorEquals"] != ["States.ALL"] for retry in state["Retry"][:-1]), name


def test_every_step_from_validate_to_promote_or_discard_takes_the_failure_path(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    for name in CAUGHT:
        assert states[name]["Catch"][-1:] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Clean up failed round"}
        ], name
        assert len(states[name]["Catch"]) == (2 if name == "Fine-tune candidate" else 1), name
    assert "Catch" not in states["Finish iteration"]


def test_score_shards_is_a_bounded_map_retrying_throttled_shards_with_backoff(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    score_shards = states["Score shards"]
    assert score_shards["Type"] == "Map"
    assert score_shards["ItemsPath"] == "$.evaluation_plan.shards"
    assert score_shards["MaxConcurrency"] == synth.config.evaluation.concurrency
    assert score_shards["ItemSelector"]["shard.$"] == "$$.Map.Item.Value"
    assert score_shards["ItemSelector"]["candidate_model.$"] == "$.capacity.candidate_model"
    assert score_shards["ItemSelector"]["champion_model.$"] == "$.capacity.champion_model"
    processor = score_shards["ItemProcessor"]
    shard = processor["States"][processor["StartAt"]]
    assert shard["End"] is True and shard["ResultPath"] is None
    assert shard["OutputPath"] == "$.shard.index"  # the Map's gathered outputs stay small
    (throttled,) = [retry for retry in shard["Retry"] if retry["ErrorEquals"] == ["BedrockThrottled"]]
    assert throttled["BackoffRate"] == 2 and throttled["MaxAttempts"] >= 3
    assert throttled["JitterStrategy"] == "FULL"


def test_a_managed_evaluation_job_runs_beside_the_shards_and_is_polled_to_the_failure_path(
    synth: SynthResult,
) -> None:
    states = _definition(synth)["States"]
    if not _has_managed_jobs(synth):
        assert [name for name in states if "anaged evaluation" in name] == []
        return
    managed_job = "$.lineage.evaluation.managed_job"
    choice = states["Managed evaluation?"]
    assert choice["Choices"] == [
        {
            "And": [{"Variable": managed_job, "IsPresent": True}, {"Variable": managed_job, "IsNull": False}],
            "Next": "Start managed evaluation",
        }
    ]
    assert choice["Default"] == states["Start managed evaluation"]["Next"] == "Distributed evaluation?"
    start = states["Start managed evaluation"]
    assert start["ResultPath"] == "$.managed_evaluation"
    (throttled,) = [retry for retry in start["Retry"] if retry["ErrorEquals"] == ["BedrockThrottled"]]
    assert throttled["BackoffRate"] == 2 and throttled["JitterStrategy"] == "FULL"
    # After the shards: wait for the job only if one was started.
    started = states["Managed evaluation started?"]
    assert started["Choices"] == [
        {"Variable": "$.managed_evaluation", "IsPresent": True, "Next": "Start managed evaluation polls"}
    ]
    assert started["Default"] == "Aggregate evaluation"
    check = states["Check managed evaluation"]
    assert check["Parameters"] == {"job_arns.$": "$.managed_evaluation.job_arns"}
    assert check["ResultPath"] == "$.evaluation_job_check"
    (throttled,) = [retry for retry in check["Retry"] if retry["ErrorEquals"] == ["BedrockThrottled"]]
    assert throttled["BackoffRate"] == 2 and throttled["JitterStrategy"] == "FULL"
    ready = {c["Variable"]: c for c in states["Managed evaluation ready?"]["Choices"]}
    assert ready["$.evaluation_job_check.ready"]["Next"] == "Aggregate evaluation"
    failed = states[ready["$.evaluation_job_check.failed"]["Next"]]
    assert failed["Parameters"]["Error"] == "EvaluationJobFailed"
    assert failed["Next"] == "Clean up failed round"
    # A job still running after six hours is given up on (Clean up stops it).
    timed_out = ready["$.polls.polls"]
    assert (
        timed_out["NumericGreaterThanEquals"] * states["Wait for managed evaluation"]["Seconds"] == 6 * 3600
    )
    assert states[timed_out["Next"]]["Parameters"]["Error"] == "EvaluationJobTimeout"
    assert states[timed_out["Next"]]["Next"] == "Clean up failed round"
    for name in ("Start managed evaluation", "Check managed evaluation"):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Clean up failed round"}
        ], name


def test_large_plans_are_scored_by_a_distributed_map_reading_the_shard_list(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    choice = states["Distributed evaluation?"]
    assert choice["Choices"] == [
        {
            "Variable": "$.evaluation_plan.shard_count",
            "NumericGreaterThan": synth.config.evaluation.distributed_above_shards,
            "Next": "Score shards (distributed)",
        }
    ]
    assert choice["Default"] == "Score shards"
    inline, distributed = states["Score shards"], states["Score shards (distributed)"]
    assert distributed["Type"] == "Map" and "ItemsPath" not in distributed
    bucket = _logical_id(synth, "AWS::S3::Bucket", "StorageDataBucket")
    assert distributed["ItemReader"] == {
        "Resource": "arn:<AWS::Partition>:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": f"<{bucket}>", "Key.$": "$.evaluation_plan.shard_list_key"},
    }
    # The same shard input, concurrency, step, retry and failure path as the inline Map.
    assert distributed["ItemSelector"] == inline["ItemSelector"]
    assert distributed["MaxConcurrency"] == inline["MaxConcurrency"] == synth.config.evaluation.concurrency
    assert distributed["ResultPath"] is None
    scored = "Managed evaluation started?" if _has_managed_jobs(synth) else "Aggregate evaluation"
    assert distributed["Next"] == inline["Next"] == scored
    assert distributed["Catch"] == inline["Catch"]
    processor = distributed["ItemProcessor"]
    assert processor["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    inline_processor = inline["ItemProcessor"]
    assert processor["StartAt"] == "Score shard (distributed)"
    assert (
        processor["States"][processor["StartAt"]] == inline_processor["States"][inline_processor["StartAt"]]
    )


def test_the_distributed_map_may_read_only_shard_lists_and_run_only_its_own_children(
    synth: SynthResult,
) -> None:
    role = _logical_id(synth, "AWS::IAM::Role", "WorkflowStateMachineRole")
    machine = _logical_id(synth, "AWS::StepFunctions::StateMachine", "WorkflowStateMachine")
    statements = _role_statements(synth, role)
    bucket = _logical_id(synth, "AWS::S3::Bucket", "StorageDataBucket")
    reads = [s for s in statements if "s3:GetObject" in _listify(s["Action"])]
    assert [_listify(s["Resource"]) for s in reads] == [[f"<{bucket}.Arn>/evaluations/*/shard-list.json"]]
    (start,) = _allows(statements, "states:StartExecution", f"<{machine}>")
    assert _listify(start["Resource"]) == [f"<{machine}>"]
    children = [s for s in statements if "states:DescribeExecution" in _listify(s["Action"])]
    assert children and all(":execution:" in str(s["Resource"]) for s in children)
    decrypt = [s for s in statements if "kms:Decrypt" in _listify(s["Action"]) and "s3." in str(s)]
    assert decrypt, "the shard list is SSE-KMS encrypted: reading it decrypts through S3"
    plan_role = _function_role(synth, "plan_evaluation")
    assert _allows(_role_statements(synth, plan_role), "s3:PutObject", f"<{bucket}.Arn>/evaluations/*")


def test_finish_retries_any_error_because_it_holds_the_lineage_lock(synth: SynthResult) -> None:
    retries = _definition(synth)["States"]["Finish iteration"]["Retry"]
    assert {
        "ErrorEquals": ["States.ALL"],
        "IntervalSeconds": 5,
        "BackoffRate": 2,
        "MaxAttempts": 4,
    } in retries


def test_fine_tune_is_the_sync_customization_job_with_the_round_parameters(synth: SynthResult) -> None:
    state = _definition(synth)["States"]["Fine-tune candidate"]
    assert state["Type"] == "Task"
    assert state["Resource"] == "arn:<AWS::Partition>:states:::bedrock:createModelCustomizationJob.sync"
    role = _logical_id(synth, "AWS::IAM::Role", "BedrockCustomizationRole")
    key = _logical_id(synth, "AWS::KMS::Key", "StorageKey")
    assert state["Parameters"] == {
        "BaseModelIdentifier.$": "$.round.base_model",
        "CustomModelName.$": "$.round.custom_model_name",
        "JobName.$": "$.round.job_name",
        "ClientRequestToken.$": "$.round.job_name",
        "RoleArn": f"<{role}.Arn>",
        "HyperParameters.$": "$.round.hyperparameters",
        "TrainingDataConfig": {"S3Uri.$": "$.validation.training_data_uri"},
        "OutputDataConfig": {"S3Uri.$": "$.round.output_uri"},
        "CustomModelKmsKeyId": f"<{key}.Arn>",
    }


def test_fine_tune_retries_throttling_and_server_errors_with_jittered_backoff(synth: SynthResult) -> None:
    """Rate and quota refusals, and Bedrock's 5xx on the create or a status poll, are retried for
    minutes with full jitter; errors that cannot heal (validation, access, not found, a real name
    conflict) are not."""
    throttling, server = _definition(synth)["States"]["Fine-tune candidate"]["Retry"]
    assert throttling == {
        "ErrorEquals": [
            "Bedrock.ThrottlingException",
            "Bedrock.ServiceQuotaExceededException",
            "Bedrock.TooManyRequestsException",
        ],
        "IntervalSeconds": 60,
        "BackoffRate": 2,
        "MaxAttempts": 6,
        "JitterStrategy": "FULL",
    }
    assert server == {
        "ErrorEquals": ["Bedrock.InternalServerException", "Bedrock.ServiceUnavailableException"],
        "IntervalSeconds": 30,
        "BackoffRate": 2,
        "MaxAttempts": 6,
        "MaxDelaySeconds": 600,
        "JitterStrategy": "FULL",
    }


def test_a_fine_tune_conflict_finds_the_rounds_job_by_name_and_waits_for_it(synth: SynthResult) -> None:
    """ConflictException (the job exists; its token not recognised) is caught before the catch-all: the
    job is read by the round's deterministic name and polled until it ends; Completed rejoins the flow at
    Collect training metrics, Failed or Stopped (or a read failing past its retries) goes to Clean up."""
    states = _definition(synth)["States"]
    conflict = states["Fine-tune candidate"]["Catch"][0]
    assert conflict == {
        "ErrorEquals": ["Bedrock.ConflictException"],
        "ResultPath": "$.fine_tune_conflict",
        "Next": "Find existing job",
    }
    find = states["Find existing job"]
    assert find["Resource"] == "arn:<AWS::Partition>:states:::aws-sdk:bedrock:getModelCustomizationJob"
    assert find["Parameters"] == {"JobIdentifier.$": "$.round.job_name"}
    assert find["ResultPath"] == "$.job"
    assert [r["ErrorEquals"][0] for r in find["Retry"]] == [
        "Bedrock.ThrottlingException",
        "Bedrock.InternalServerException",
    ]
    assert find["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Clean up failed round"}
    ]
    done = states[find["Next"]]
    targets = {
        choice.get("StringEquals") or tuple(c["StringEquals"] for c in choice["Or"]): choice["Next"]
        for choice in done["Choices"]
    }
    assert targets == {
        ("InProgress", "Stopping"): "Wait for existing job",
        "Completed": "Collect training metrics",
    }
    assert states["Wait for existing job"]["Next"] == "Find existing job"
    failed = states[done["Default"]]
    assert failed["Parameters"]["Error"] == "States.TaskFailed"
    assert failed["ResultPath"] == "$.error" and failed["Next"] == "Clean up failed round"


def test_idempotent_lambda_steps_retry_transient_aws_errors_for_minutes(synth: SynthResult) -> None:
    """Promote, Plan evaluation and every other step safe to run again retry a handler's transient AWS
    error (5xx, throttling, a broken connection: the exception's class name) with jittered backoff of
    minutes; none retries validation, access or not-found errors, or a bare ClientError."""
    states = dict(_all_states(_definition(synth)["States"]))
    for name in ("Promote candidate", "Plan evaluation", "Collect training metrics", "Decide"):
        (transient,) = [r for r in states[name]["Retry"] if "InternalServerException" in r["ErrorEquals"]]
        assert {
            "InternalServerError",
            "ServiceUnavailableException",
            "EndpointConnectionError",
            "TransientServiceError",  # S3's 5xx and SlowDown, named by the data-access layer
        } <= set(transient["ErrorEquals"]), name
        assert (transient["IntervalSeconds"], transient["BackoffRate"], transient["MaxAttempts"]) == (
            15,
            2,
            6,
        ), name
        assert transient["MaxDelaySeconds"] == 300 and transient["JitterStrategy"] == "FULL", name
    never = {"ValidationException", "AccessDeniedException", "ResourceNotFoundException", "ClientError"}
    for name, state in states.items():
        for retry in state.get("Retry", []):
            assert not never & set(retry["ErrorEquals"]), name
    # Clean up is best effort and never raises its own errors: only Lambda's are retried.
    assert all(r["ErrorEquals"][0].startswith("Lambda.") for r in states["Clean up failed round"]["Retry"])


def test_last_step_asks_the_trigger_to_dispatch_the_lineage(synth: SynthResult) -> None:
    state = _definition(synth)["States"]["Start next queued upload"]
    queue = _logical_id(synth, "AWS::SQS::Queue", "UploadQueue2")
    assert state["Resource"] == "arn:<AWS::Partition>:states:::sqs:sendMessage"
    assert state["Parameters"] == {
        "QueueUrl": f"<{queue}>",
        "MessageBody": {"kind": "dispatch", "lineage.$": "$.lineage.name"},
    }


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
