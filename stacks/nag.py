"""cdk-nag AwsSolutions over the stack, and every finding the stack keeps, each with its reason.

cdk-nag 3 runs as a CDK validation plugin: synth fails on any finding not acknowledged here.
Each acknowledgment sits on the one construct it concerns and names the exact finding (for
IAM5, the exact wildcard resource), so a new wildcard anywhere still fails the synth.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct
from iterft_runtime import naming

from stacks.evaluation_role import (
    MANAGED_EVALUATION_OBJECTS,
    PRECOMPUTED_ANSWERS_OBJECTS,
    BedrockEvaluationRole,
)
from stacks.iterft_stack import IterftStack
from stacks.traffic import gap_analysis_keys
from stacks.workflow import grants, shard_lists_pattern

XRAY = "X-Ray's PutTraceSegments/PutTelemetryRecords (added by CDK for active tracing) accept no resource ARN"


def check(app: cdk.App, stack: IterftStack) -> None:
    """Run AwsSolutions on every synth, with this stack's acknowledgments."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    acknowledge(stack)


def acknowledge(stack: IterftStack) -> None:
    """Every finding the stack keeps, on the construct it concerns, grouped by principal."""
    storage, workflow, trigger = stack.storage, stack.workflow, stack.trigger
    steps = workflow.functions

    def bucket_objects(prefix: str) -> str:
        return _resource_finding(stack, storage.data_bucket.arn_for_objects(f"{prefix}*"))

    deployments = _resource_finding(stack, workflow.deployment_arns)
    throughputs = _resource_finding(stack, workflow.throughput_arns)
    custom_models = _resource_finding(stack, workflow.custom_model_arns)

    bedrock_role = stack.bedrock_role.role
    _ack(
        bedrock_role,
        bucket_objects(naming.VALIDATED_PREFIX),
        "Bedrock's customization role reads each round's validated training file, "
        "validated/<lineage>/<iteration>/train.jsonl, a key that exists only once the round runs.",
    )
    _ack(
        bedrock_role,
        bucket_objects(naming.JOB_OUTPUT_PREFIX),
        "Bedrock's customization role writes each job's artifacts under jobs/<lineage>/<iteration>/, "
        "in folders Bedrock names after the job id it assigns at run time.",
    )
    for grant in stack.strategy_grants:
        for arn, reason in grant.wildcards.items():
            _ack(bedrock_role, _resource_finding(stack, arn), reason)

    # The step functions' wildcard grants: acknowledged with the reasons of the grants table
    # (stacks/workflow/grants.py), which the roles' policies are made from.
    managed = workflow.has_managed_jobs
    for step, function in [*steps.items(), ("trigger", trigger.function)]:
        _ack(
            function,
            "AwsSolutions-L1",
            f"The {step} function runs Python 3.11 on purpose: the layer in build/layer is built for "
            "cp311 (make setup) and the runtime package is tested on 3.11.",
        )
        reasons = (
            grants.wildcard_reasons(step, workflow.resources, managed_jobs=managed) if step in steps else {}
        )
        anything = reasons.pop("*", None)
        reason = f"The {step} function's role: {XRAY}" + (f"; and {anything}" if anything else ".")
        _ack(_role(function), "AwsSolutions-IAM5[Resource::*]", reason)
        title = step.replace("_", " ").capitalize()
        for arn, why in reasons.items():
            _ack(_role(function), _resource_finding(stack, arn), f"{title} {why}")
    _acknowledge_stack_resources(stack)
    if workflow.evaluation_role is not None:
        _acknowledge_managed_evaluation(stack, workflow.evaluation_role, bucket_objects, throughputs)
    _ack(
        _role(trigger.function),
        _resource_finding(stack, trigger.lineage_parameter_arns),
        "The trigger reads the lineage named by the upload's key from /iterft/<stack>/lineages/<name>; a "
        "prefix grant makes an unknown lineage ParameterNotFound rather than AccessDenied.",
    )

    _ack(
        _role(trigger.function),
        bucket_objects(naming.INCOMING_PREFIX),
        "At dispatch the trigger checks (HeadObject) that the queued object version, wherever under "
        "incoming/<lineage>/ the team put it, still exists: a deleted version is withdrawn, not trained.",
    )
    for name in (lineage.name for lineage in stack.config.lineages if lineage.traffic is not None):
        _ack(
            _role(trigger.function),
            bucket_objects(f"feedback/{name}/"),
            "The trigger checks each feedback file as it arrives under feedback/<lineage>/ (named by the "
            "team at run time), every problem with its line.",
        )
        _ack(
            _role(trigger.function),
            bucket_objects(f"{naming.FEEDBACK_REPORT_PREFIX}{name}/"),
            "The trigger records its check of a feedback file as feedback-reports/<lineage>/<name>"
            ".report.json, named after the file at run time.",
        )
    _ack(
        _role(trigger.function),
        _resource_finding(stack, trigger.execution_arns),
        "The trigger describes an execution of this stack's state machine by the name it derived (a "
        "redelivered dispatch finds its round already started); execution names exist only at run time.",
    )

    _acknowledge_reconciler(stack, deployments, throughputs, custom_models)
    _acknowledge_traffic(stack, bucket_objects)
    for function in stack.graders.functions:
        _ack(
            function,
            "AwsSolutions-L1",
            "The default grader runs Python 3.11 on purpose, like every iterft function: the layer is built "
            "for cp311.",
        )
        _ack(_role(function), "AwsSolutions-IAM5[Resource::*]", f"The default grader's role: {XRAY}.")

    machine_role = workflow.state_machine.role
    for step, function in steps.items():
        _ack(
            machine_role,
            f"AwsSolutions-IAM5[Resource::{_render(stack.resolve(function.function_arn))}:*]",
            f"tasks.LambdaInvoke grants lambda:InvokeFunction on the {step} function and on its "
            "versions/aliases (<arn>:*); it names no other function.",
        )
    _ack(
        machine_role,
        "AwsSolutions-IAM5[Resource::*]",
        f"The state machine's role: {XRAY}, and the CloudWatch Logs log-delivery actions CDK adds for "
        "execution logging (CreateLogDelivery, DescribeResourcePolicies, ...) support none either.",
    )
    _ack(
        machine_role,
        _resource_finding(stack, storage.data_bucket.arn_for_objects(shard_lists_pattern())),
        "Score shards (distributed) reads its items from the round's shard list, "
        "evaluations/<lineage>/<iteration>/shard-list.json, written by Plan evaluation at run time.",
    )
    # CDK adds this policy for the Distributed Map: its child executions are named at run time.
    distributed_map_policy = cast(iam.Policy, workflow.state_machine.node.find_child("DistributedMapPolicy"))
    for statement in stack.resolve(distributed_map_policy.document)["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        rendered = _render(statement["Resource"])
        if "*" in rendered:
            _ack(
                distributed_map_policy,
                f"AwsSolutions-IAM5[Resource::{rendered}]",
                f"Score shards (distributed) runs each shard in a child execution of this state machine; "
                f"{', '.join(actions)} name those executions, which get their names at run time.",
            )
    for arn, reason in grants.wildcard_reasons(
        grants.STATE_MACHINE, workflow.resources, managed_jobs=managed
    ).items():
        _ack(machine_role, _resource_finding(stack, arn), reason)
    _ack(
        machine_role,
        "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        "tasks.SqsSendMessage ('Start next queued upload') adds kms:GenerateDataKey* for the KMS-encrypted "
        "upload queue, on the stack's own key only.",
    )


def _acknowledge_reconciler(
    stack: IterftStack, deployments: str, throughputs: str, custom_models: str
) -> None:
    """The scheduled reconciler's function and its role."""
    reconciler = stack.reconciler
    role = _role(reconciler.function)
    _ack(
        reconciler.function,
        "AwsSolutions-L1",
        "The reconcile function runs Python 3.11 on purpose, like every iterft function: the layer is "
        "built for cp311.",
    )
    _ack(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        f"The reconcile function's role: {XRAY}; and bedrock:ListCustomModels, ListCustomModelDeployments "
        "and ListProvisionedModelThroughputs, which take no resource ARN.",
    )
    for arns, what in (
        (deployments, "custom model deployments"),
        (throughputs, "provisioned throughput"),
        (custom_models, "custom models"),
    ):
        _ack(
            role,
            arns,
            f"The reconciler deletes {what} the stack's rounds left behind (names it matches against the "
            "registry); their ARNs are assigned by Bedrock at run time. The same grant as retention's and "
            "Discard's (Workflow.grant_delete_models / grant_delete_capacity).",
        )
    _ack(
        role,
        _resource_finding(stack, stack.trigger.execution_arns),
        "The reconciler describes the execution of the iteration holding a lineage's lock (recorded in the "
        "registry); execution names exist only at run time.",
    )


def _acknowledge_traffic(stack: IterftStack, bucket_objects: Callable[[str], str]) -> None:
    """The curate function (stacks/traffic.py): per-lineage prefixes, and this region's invocation logs."""
    traffic = stack.traffic
    if traffic is None:
        return
    function, role = traffic.function, _role(traffic.function)
    _ack(
        function,
        "AwsSolutions-L1",
        "The curate function runs Python 3.11 on purpose, like every iterft function: the layer is built "
        "for cp311.",
    )
    redacting = any(
        lineage.traffic is not None and lineage.traffic.curation.redact_pii
        for lineage in stack.config.lineages
    )
    comprehend = "; and comprehend:DetectPiiEntities, which has no resource type" if redacting else ""
    _ack(role, "AwsSolutions-IAM5[Resource::*]", f"The curate function's role: {XRAY}{comprehend}.")
    curating = [lineage.name for lineage in stack.config.lineages if lineage.traffic is not None]
    for name in curating:
        for prefix, why in (
            (f"feedback/{name}/", "reads the lineage's feedback files, named by the team"),
            (f"validated/{name}/", "reads what earlier rounds trained on (validated/<lineage>/<iteration>/)"),
            (naming.incoming_prefix(name), "reads earlier curated datasets and writes new ones there"),
            (f"{naming.EVALUATION_SET_PREFIX}{name}/", "reads the evaluation set (its categories)"),
        ):
            _ack(role, bucket_objects(prefix), f"Curation {why}; keys exist only at run time.")
        for key in gap_analysis_keys(name):
            _ack(
                role,
                _resource_finding(stack, stack.storage.data_bucket.arn_for_objects(key)),
                "Curation aims at the weakest categories of the gap analysis (dal/gaps.lineage_gaps), which "
                f"reads each evaluated round's {key.rsplit('/', 1)[1]}; the iteration folder (*) exists "
                "only at run time.",
            )
    for statement in stack.resolve(role.node.find_child("DefaultPolicy").document)["Statement"]:  # type: ignore[attr-defined]  # iam.Role's DefaultPolicy is an iam.Policy
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for resource in resources:
            rendered = _render(resource)
            if "BedrockModelInvocationLogs" in rendered:
                _ack(
                    role,
                    f"AwsSolutions-IAM5[Resource::{rendered}]",
                    "Curation reads the invocation log objects of the stack's region only "
                    "(<keyPrefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/), "
                    "which Bedrock names at delivery time.",
                )


def _acknowledge_stack_resources(stack: IterftStack) -> None:
    """The custom resources' function (serving pointers; in throwaway stacks, the teardown)."""
    pointers = stack.serving_pointers
    function = pointers.function
    if function is None:
        raise ValueError("the serving pointers' custom resources were not created")
    role = _role(function)
    _ack(
        function,
        "AwsSolutions-L1",
        "The stack resources function runs Python 3.11 on purpose: the layer in build/layer is built for "
        "cp311 (make setup) and the runtime package is tested on 3.11.",
    )
    logging = (
        "; and bedrock:GetModelInvocationLoggingConfiguration / PutModelInvocationLoggingConfiguration "
        "(invocation_logs.enable_if_absent: logging is put only when the region has none), whose Service "
        "Authorization Reference entries name no resource type: the configuration is the account's, "
        "per region"
        if stack.traffic is not None
        and stack.config.invocation_logs
        and stack.config.invocation_logs.enable_if_absent
        else ""
    )
    _ack(role, "AwsSolutions-IAM5[Resource::*]", f"The stack resources function's role: {XRAY}{logging}.")
    _ack(
        role,
        _resource_finding(stack, pointers.parameter_arns),
        "The custom resource creates each lineage's serving pointer, /iterft/<stack>/serving/<name>, once "
        "(PutParameter without overwrite), for the lineages of the config at each deploy; every such "
        "parameter is this stack's.",
    )
    if not stack.config.retention.destroy_data_on_delete:
        return
    storage = stack.storage
    for bucket in (storage.data_bucket, storage.log_bucket):
        _ack(
            role,
            _resource_finding(stack, bucket.arn_for_objects("*")),
            "Throwaway stacks only (retention.destroy_data_on_delete): when the stack is deleted, the "
            "teardown deletes every object version of the stack's buckets so that CloudFormation can "
            "delete them.",
        )
    for arn, kind in zip(
        pointers.capacity_arns, ("custom model deployment", "provisioned throughput"), strict=True
    ):
        _ack(
            role,
            _resource_finding(stack, arn),
            f"Throwaway stacks only: when the stack is deleted, the teardown deletes each lineage's serving "
            f"capacity ({kind}), which a promotion created; each {kind} ARN is assigned by Bedrock at "
            "run time.",
        )


def _acknowledge_managed_evaluation(
    stack: IterftStack,
    evaluation_role: BedrockEvaluationRole,
    bucket_objects: Callable[[str], str],
    throughputs: str,
) -> None:
    """Bedrock evaluation jobs' role (`evaluation.managed_job`); the steps that run them: grants table."""
    folder = "evaluations/<lineage>/<iteration>/managed-evaluation/"
    dataset = _resource_finding(
        stack, stack.storage.data_bucket.arn_for_objects(f"{MANAGED_EVALUATION_OBJECTS}dataset.jsonl")
    )
    _ack(
        evaluation_role.role,
        dataset,
        f"Bedrock's evaluation role reads each round's prompt dataset, {folder}dataset.jsonl, a key that "
        "exists only once the round runs.",
    )
    _ack(
        evaluation_role.role,
        bucket_objects(f"{MANAGED_EVALUATION_OBJECTS}output/"),
        f"Bedrock's evaluation role writes each job's results under {folder}output/, in folders Bedrock "
        "names after the job id it assigns at run time.",
    )
    _ack(
        evaluation_role.role,
        throughputs,
        "Bedrock's evaluation role invokes the round's evaluation capacity (and the provisioned throughput "
        "serving the champion), provisioned throughput whose ARNs Bedrock assigns at run time.",
    )
    if evaluation_role.judged:
        answers = stack.storage.data_bucket.arn_for_objects(PRECOMPUTED_ANSWERS_OBJECTS)
        _ack(
            evaluation_role.role,
            _resource_finding(stack, answers),
            f"Bedrock's evaluation role reads each round's judged-job datasets, {folder}<role>-answers.jsonl "
            "(the candidate's and the champion's answers), keys that exist only once the round runs.",
        )
    for arn in evaluation_role.evaluators:
        if "*" in arn:
            _ack(
                evaluation_role.role,
                _resource_finding(stack, arn),
                "Bedrock's evaluation role invokes the judged jobs' evaluator through its cross-Region "
                "inference profile, which routes to the foundation model in any Region of its geography.",
            )


def _ack(construct: IConstruct, finding: str, reason: str) -> None:
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))


def _role(function: lambda_.Function) -> iam.IRole:
    role = function.role
    if role is None:
        raise ValueError(f"{function.node.path} has no role")
    return role


def _resource_finding(stack: cdk.Stack, arn: str) -> str:
    return f"AwsSolutions-IAM5[Resource::{_render(stack.resolve(arn))}]"


def _render(value: Any) -> str:
    """An intrinsic as cdk-nag prints it: `<LogicalId.Attr>` for GetAtt, `<Name>` for Ref, joins joined."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_render(part) for part in parts)
    if "Fn::Select" in value:
        return json.dumps(value, separators=(",", ":"))
    raise ValueError(f"cannot render {value!r} as cdk-nag does")
