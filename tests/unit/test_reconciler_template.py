"""The reconciler in the synthesized template: its schedule (rate, target, retries, dead-letter queue), the
schedule's role (Scheduler for this account only; lambda:InvokeFunction on that one function), and the
function's grants (Bedrock lists on `*`, deletes scoped to the resource types, no mutation on `*`)."""

from __future__ import annotations

from typing import Any

import pytest
from iterft_runtime import naming
from template_support import readable

from stacks.app_builder import SynthResult, synth_stack
from stacks.reconciler import MAX_EVENT_AGE_SECONDS, RETRY_ATTEMPTS, SCHEDULE_EXPRESSION

pytestmark = pytest.mark.xdist_group("reconciler-template")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synth_stack("dev", tmp_path_factory.mktemp("dev"))


def _resources(synth: SynthResult, kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in synth.template["Resources"].items()
        if resource["Type"] == kind
    }


def _reconcile_function(synth: SynthResult) -> tuple[str, dict[str, Any]]:
    handler = f"{naming.HANDLER_MODULE.format(step='reconcile')}.handler"
    [found] = [
        (logical_id, resource["Properties"])
        for logical_id, resource in _resources(synth, "AWS::Lambda::Function").items()
        if resource["Properties"]["Handler"] == handler
    ]
    return found


def _statements_of(synth: SynthResult, role_logical_id: str) -> list[dict[str, Any]]:
    found = []
    for resource in _resources(synth, "AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in resource["Properties"]["Roles"]:
            found += resource["Properties"]["PolicyDocument"]["Statement"]
    return [readable(statement) for statement in found]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_a_schedule_invokes_the_reconciler_every_few_minutes_with_retries_and_a_dead_letter_queue(
    synth: SynthResult,
) -> None:
    function_id, _ = _reconcile_function(synth)
    [schedule] = [readable(r["Properties"]) for r in _resources(synth, "AWS::Scheduler::Schedule").values()]
    target = schedule["Target"]

    assert schedule["ScheduleExpression"] == SCHEDULE_EXPRESSION == "rate(5 minutes)"
    assert schedule["State"] == "ENABLED" and schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert target["Arn"] == f"<{function_id}.Arn>" and target["Input"] == "{}"
    assert target["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS,
        "MaximumRetryAttempts": RETRY_ATTEMPTS,
    }
    # The stack's one dead-letter queue, whose alarm notifies (test_monitoring_and_policies.py).
    dead_letter_id = target["DeadLetterConfig"]["Arn"].strip("<>").split(".")[0]
    assert dead_letter_id.startswith("UploadQueueDeadLetterQueue")


def test_the_schedule_role_may_only_invoke_the_reconciler_and_fill_its_dead_letter_queue(
    synth: SynthResult,
) -> None:
    function_id, _ = _reconcile_function(synth)
    [schedule] = [readable(r["Properties"]) for r in _resources(synth, "AWS::Scheduler::Schedule").values()]
    role_id = schedule["Target"]["RoleArn"].strip("<>").split(".")[0]
    role = readable(synth.template["Resources"][role_id]["Properties"])
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]

    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "<AWS::AccountId>"}}
    statements = _statements_of(synth, role_id)
    actions = sorted(action for statement in statements for action in _listed(statement["Action"]))
    assert actions == ["kms:Decrypt", "kms:GenerateDataKey", "lambda:InvokeFunction", "sqs:SendMessage"]
    [invoke] = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    assert invoke["Resource"] == f"<{function_id}.Arn>"


def test_the_reconciler_mutates_nothing_on_a_wildcard_and_deletes_only_bedrock_resource_types(
    synth: SynthResult,
) -> None:
    _, function = _reconcile_function(synth)
    role_id = function["Role"]["Fn::GetAtt"][0]
    statements = _statements_of(synth, role_id)
    on_everything = {
        action
        for statement in statements
        if "*" in _listed(statement["Resource"])
        for action in _listed(statement["Action"])
    }

    assert {action for action in on_everything if action.startswith("bedrock:")} == {
        "bedrock:ListCustomModels",
        "bedrock:ListCustomModelDeployments",
        "bedrock:ListProvisionedModelThroughputs",
    }
    deletes = {
        action: sorted(str(resource).rsplit(":", 1)[1] for resource in _listed(statement["Resource"]))
        for statement in statements
        for action in _listed(statement["Action"])
        if action.startswith("bedrock:Delete")
    }
    assert deletes == {
        "bedrock:DeleteCustomModel": ["custom-model/*"],
        "bedrock:DeleteCustomModelDeployment": ["custom-model-deployment/*", "provisioned-model/*"],
        "bedrock:DeleteProvisionedModelThroughput": ["custom-model-deployment/*", "provisioned-model/*"],
    }
    assert not [a for a in on_everything if not a.startswith(("bedrock:List", "xray:"))]


def test_the_stack_outputs_the_reconciler_function_name(synth: SynthResult) -> None:
    function_id, _ = _reconcile_function(synth)
    assert synth.template["Outputs"]["ReconcilerFunctionName"]["Value"] == {"Ref": function_id}
