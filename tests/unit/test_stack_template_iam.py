"""The synthesized template's IAM: the Bedrock service role, the evaluation jobs' roles, and what no role of
the stack may do."""

from __future__ import annotations

import fnmatch

from iterft_runtime import naming
from iterft_runtime.models.families import invocable_foundation_model_id
from stack_template_support import (
    FORBIDDEN_ON_STAR,
    _allows,
    _arn,
    _function_role,
    _functions,
    _has_managed_jobs,
    _listify,
    _logical_id,
    _resources,
    _role_statements,
    _statements,
)
from template_support import readable

from stacks.app_builder import SynthResult

pytest_plugins = ("stack_template_fixtures",)


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


def test_bedrock_role_may_use_exactly_the_teachers_and_invocation_logs_the_lineages_distil_from(
    synth: SynthResult,
) -> None:
    """Invoke only the configured teachers (by ARN, in the stack's region), read only the configured
    invocation-log prefix, invoke no Lambda function unless a lineage reinforces with a grader."""
    statements = _role_statements(synth, _logical_id(synth, "AWS::IAM::Role", "BedrockCustomizationRole"))
    distilling = [lineage.strategies.distillation for lineage in synth.config.lineages]
    teachers = {settings.teacher for settings in distilling if settings is not None}
    invoked = {
        resource
        for statement in statements
        if "bedrock:InvokeModel" in _listify(statement["Action"])
        for resource in _listify(statement["Resource"])
    }
    region = synth.config.region
    assert invoked == {f"arn:<AWS::Partition>:bedrock:{region}::foundation-model/{t}" for t in teachers}
    logs = [s.invocation_logs for s in distilling if s is not None and s.invocation_logs is not None]
    for source in logs:
        bucket, _, prefix = source.s3_uri.removeprefix("s3://").partition("/")
        assert _allows(statements, "s3:GetObject", f"arn:<AWS::Partition>:s3:::{bucket}/{prefix}*")
        (listing,) = _allows(statements, "s3:ListBucket", f"arn:<AWS::Partition>:s3:::{bucket}")
        assert listing["Condition"]["StringLike"]["s3:prefix"] == [f"{prefix}*"]
    assert not _allows(statements, "s3:GetObject", "arn:<AWS::Partition>:s3:::some-other-bucket/AWSLogs/x")
    reinforcing = any(lineage.strategies.reinforcement for lineage in synth.config.lineages)
    assert reinforcing or not [s for s in statements if "lambda:InvokeFunction" in _listify(s["Action"])]


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


# IAM across the stack -------------------------------------------------------------------------


ACCOUNT_SETTINGS = frozenset({"bedrock:PutModelInvocationLoggingConfiguration"})
"""The one mutating Bedrock action with no resource type (the account's per-region logging setting): only
the stack resources function may have it, and only with `invocation_logs.enable_if_absent`."""


def test_no_bedrock_create_update_delete_stop_or_put_on_any_resource(synth: SynthResult) -> None:
    offending = [
        statement
        for statement in _statements(synth)
        if statement["Effect"] == "Allow"
        and "*" in _listify(statement["Resource"])
        and any(
            (FORBIDDEN_ON_STAR.match(action) and action not in ACCOUNT_SETTINGS)
            or action in ("*", "bedrock:*")
            for action in _listify(statement["Action"])
        )
    ]
    assert offending == []
    logs = synth.config.invocation_logs
    holders = {
        role["Ref"]
        for policy in _resources(synth, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if ACCOUNT_SETTINGS & set(_listify(statement["Action"]))
        for role in policy["Properties"]["Roles"]
    }
    expected = (
        {_function_role(synth, "stack_resources")} if logs is not None and logs.enable_if_absent else set()
    )
    assert holders == expected


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


def test_curation_reads_of_evaluations_are_what_the_gap_analysis_reads(synth: SynthResult) -> None:
    """The curate function aims at the gap analysis's weakest categories (dal/gaps.lineage_gaps): of
    evaluations/<lineage>/ it may read each round's metrics.json and results.jsonl, nothing else."""
    curating = [lineage.name for lineage in synth.config.lineages if lineage.traffic is not None]
    if synth.config.invocation_logs is None:
        assert "curate" not in _functions(synth)
        return
    statements = _role_statements(synth, _function_role(synth, "curate"))
    bucket = f"<{_logical_id(synth, 'AWS::S3::Bucket', 'StorageDataBucket')}.Arn>"
    evaluations = {
        resource
        for statement in statements
        for resource in _listify(statement["Resource"])
        if str(resource).startswith(f"{bucket}/{naming.EVALUATION_RESULTS_PREFIX}")
    }
    assert evaluations == {
        f"{bucket}/{naming.EVALUATION_RESULTS_PREFIX}{name}/*/{file}"
        for name in curating
        for file in ("metrics.json", "results.jsonl")
    }

    def readable_by_curation(key: str) -> bool:
        return any(
            fnmatch.fnmatchcase(f"{bucket}/{key}", str(resource))
            for statement in statements
            if statement["Effect"] == "Allow" and "s3:GetObject" in _listify(statement["Action"])
            for resource in _listify(statement["Resource"])
        )

    for name in curating:
        assert readable_by_curation(naming.evaluation_results_key(name, 7))
        assert readable_by_curation(naming.evaluation_metrics_key(name, 12))
        assert not readable_by_curation(naming.evaluation_shard_key(name, 7, 0))
