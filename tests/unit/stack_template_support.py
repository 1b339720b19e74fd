"""Constants and helpers of the synthesized-template tests (test_stack_template_*.py); their fixtures
are in stack_template_fixtures.py."""

from __future__ import annotations

import json
import re
from typing import Any

from iterft_runtime import naming
from template_support import readable

from stacks.app_builder import SynthResult

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
    steps = {*naming.STEPS, naming.STACK_RESOURCES}
    if synth.config.invocation_logs is None:  # the curate function exists only with invocation logs
        steps.discard("curate")
    if _has_managed_jobs(synth):
        return steps
    return steps - set(naming.MANAGED_EVALUATION_STEPS)


def _flow(synth: SynthResult) -> list[str]:
    """FLOW, with the managed evaluation job's states where a lineage of this stack has one, and the
    `Training strategy?` Choice where a lineage may distil or reinforce (fine-tuning is its default)."""
    flow: list[str] = []
    managed = _has_managed_jobs(synth)
    for name in FLOW:
        if managed:
            flow += MANAGED_EVALUATION_FLOW.get(name, [])
        if name == "Fine-tune candidate" and _has_strategy_tasks(synth):
            flow.append("Training strategy?")
        flow.append(name)
    return flow


def _has_strategy_tasks(synth: SynthResult) -> bool:
    """Some lineage of this stack configures distillation or reinforcement (their own job tasks)."""
    return any(
        lineage.strategies.distillation or lineage.strategies.reinforcement
        for lineage in synth.config.lineages
    )


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
