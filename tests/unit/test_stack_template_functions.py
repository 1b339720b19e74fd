"""The synthesized template's trigger (queue, rule, its permissions), the lineages' parameters and the
steps' functions with their permissions."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match, Template
from iterft_runtime import naming
from iterft_runtime.models.families import invocable_foundation_model_id
from stack_template_support import (
    SHARED_ENV,
    _allows,
    _arn,
    _function_role,
    _functions,
    _has_managed_jobs,
    _listify,
    _logical_id,
    _resources,
    _role_statements,
    _steps,
)
from template_support import readable

from stacks.app_builder import SynthResult
from stacks.trigger import TRIGGER_TIMEOUT_SECONDS
from stacks.workflow import LONG_RUNNING_STEPS, grants

pytest_plugins = ("stack_template_fixtures",)


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
    """And under feedback/ where a lineage curates its traffic: the trigger checks feedback on arrival."""
    data_bucket = _logical_id(synth, "AWS::S3::Bucket", "StorageDataBucket")
    (queue,) = [
        logical_id
        for logical_id, r in _resources(synth, "AWS::SQS::Queue").items()
        if "RedrivePolicy" in r["Properties"]
    ]
    curating = any(lineage.traffic is not None for lineage in synth.config.lineages)
    prefixes = [naming.INCOMING_PREFIX, *(["feedback/"] if curating else [])]
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [{"Ref": data_bucket}]},
                    "object": {"key": [{"prefix": prefix} for prefix in prefixes]},
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
        long_running = step in LONG_RUNNING_STEPS or step == "curate"  # stacks/traffic.TIMEOUT
        assert function["Timeout"] == (900 if long_running else expected_timeout)
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
        "validate": ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "bedrock:", "sns:"),
        "decide": ("dynamodb:", "s3:Put", "s3:Delete", "bedrock:", "sns:"),  # it reads the per-record scores
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
