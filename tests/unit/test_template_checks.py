"""The synthesized dev and prod stacks, checked by tools we did not write.

- asl-validator (npm, pinned in package-lock.json) on every state machine definition, Distributed Map
  item processors included, in one node process (tests/unit/asl_validate.js);
- cfn-lint (PyPI, pinned) on every template, in-process;
- botocore's service models (the Lambda layer's) on every Task state's service integration: the
  operation exists, and its Parameters fit the operation's input shape (tests/unit/task_parameters.py).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from task_parameters import TaskCall, problems, service_calls
from template_support import SYNTHESIZED, Synths, all_states, deploy_region, state_machine_definitions

from stacks.functions import REPO_ROOT

ENVIRONMENTS = SYNTHESIZED
ASL_VALIDATOR = REPO_ROOT / "node_modules" / "asl-validator"
ASL_SCRIPT = Path(__file__).with_name("asl_validate.js")
BROKEN_PROCESSOR = "control: an item processor state whose Next names no state"
CFN_LINT_ACCEPTED = {
    # W3005 "dependency already enforced by a GetAtt": CDK writes DependsOn on a function's (or the state
    # machine's) role and the role's default policy, and also Fn::GetAtt's that role. The DependsOn on
    # the role is redundant, not wrong (a warning); accepted on those two resource types only.
    ("W3005", "AWS::Lambda::Function"),
    ("W3005", "AWS::StepFunctions::StateMachine"),
}


@pytest.fixture(scope="module")
def synths(tmp_path_factory: pytest.TempPathFactory) -> Synths:
    return Synths(tmp_path_factory)


@pytest.fixture(scope="module")
def definitions(synths: Synths) -> dict[str, dict[str, dict[str, Any]]]:
    """Each environment's state machine definitions (by logical id), intrinsics resolved."""
    return {
        environment: state_machine_definitions(synths.result(environment)) for environment in ENVIRONMENTS
    }


# asl-validator -------------------------------------------------------------------------------------


def _broken_processor(definition: dict[str, Any]) -> dict[str, Any]:
    """`definition` with the first state inside a Map item processor sent to a state that is not there."""
    broken = copy.deepcopy(definition)
    for path, state in all_states(broken["States"]):
        if "/" in path:
            state.pop("End", None)
            state["Next"] = "No such state"
            return broken
    raise AssertionError("the definition has no Map item processor to break")


@pytest.fixture(scope="module")
def asl_results(definitions: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """asl-validator's verdict on every definition, by `<environment>/<logical id>`, from one node run;
    plus a deliberately broken copy of dev's, which it must refuse."""
    if shutil.which("node") is None or not ASL_VALIDATOR.is_dir():
        pytest.fail(f"node and {ASL_VALIDATOR} are needed: run `make setup` (npm ci)")
    requests = [
        {"name": f"{environment}/{logical_id}", "definition": definition}
        for environment, machines in definitions.items()
        for logical_id, definition in machines.items()
    ]
    requests.append({"name": BROKEN_PROCESSOR, "definition": _broken_processor(requests[0]["definition"])})
    run = subprocess.run(
        ["node", str(ASL_SCRIPT)], input=json.dumps(requests), capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, f"asl_validate.js failed: {run.stderr}"
    return {result["name"]: result for result in json.loads(run.stdout)}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_asl_validator_accepts_every_state_machine_definition(
    environment: str, asl_results: dict[str, dict[str, Any]]
) -> None:
    results = [result for name, result in asl_results.items() if name.startswith(f"{environment}/")]
    assert results, f"no state machine in the {environment} template"
    refused = {
        result["name"]: [error.get("Message", error) for error in result["errors"]]
        for result in results
        if not result["isValid"]
    }
    assert not refused, f"asl-validator refuses: {json.dumps(refused, indent=1)}"


def test_asl_validator_checks_inside_item_processors(asl_results: dict[str, dict[str, Any]]) -> None:
    control = asl_results[BROKEN_PROCESSOR]
    assert not control["isValid"]
    assert "MISSING_TRANSITION_TARGET" in {error.get("Error code") for error in control["errors"]}


# cfn-lint ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_cfn_lint_finds_nothing_wrong_in_the_template(environment: str, synths: Synths) -> None:
    synth = synths.result(environment)
    resources = synth.template["Resources"]
    matches = lint(json.dumps(synth.template), config=ManualArgs(regions=[deploy_region(synth)]))
    findings = [
        f"{match.rule.id} {'/'.join(map(str, match.path))}: {match.message}"
        for match in matches
        if (match.rule.id, _resource_type(match.path, resources)) not in CFN_LINT_ACCEPTED
    ]
    assert not findings, "cfn-lint:\n" + "\n".join(findings)


def _resource_type(path: list[Any], resources: dict[str, Any]) -> str | None:
    """The type of the resource a finding is in (`Resources/<id>/...`), None elsewhere."""
    if len(path) > 1 and path[0] == "Resources" and path[1] in resources:
        return str(resources[path[1]]["Type"])
    return None


# Task states against botocore's input shapes -----------------------------------------------------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_service_integration_fits_its_botocore_operation(
    environment: str, definitions: dict[str, dict[str, dict[str, Any]]]
) -> None:
    calls = [call for definition in definitions[environment].values() for call in service_calls(definition)]
    resources = {call.resource for call in calls}
    assert "arn:aws:states:::bedrock:createModelCustomizationJob.sync" in resources
    found = [problem for call in calls for problem in problems(call)]
    assert not found, "\n".join(found)


def _job(**parameters: Any) -> TaskCall:
    return TaskCall("Train", "arn:aws:states:::bedrock:createModelCustomizationJob.sync", parameters)


VALID_JOB = {
    "JobName.$": "$.name",
    "CustomModelName": "m",
    "RoleArn": "arn:aws:iam::123456789012:role/r",
    "BaseModelIdentifier.$": "$.base",
    "TrainingDataConfig": {"S3Uri.$": "$.data"},
    "OutputDataConfig": {"S3Uri": "s3://b/out/"},
}
SHAPE_PROBLEMS = [
    (
        {**VALID_JOB, "JobNme": "x"},
        "state 'Train': JobNme is not a member of CreateModelCustomizationJobRequest",
    ),
    ({k: v for k, v in VALID_JOB.items() if k != "RoleArn"}, "requires roleArn, which is missing"),
    ({**VALID_JOB, "TrainingDataConfig": {"Uri": "s3://b/x"}}, "TrainingDataConfig: Uri is not a member"),
    (
        {**VALID_JOB, "OutputDataConfig": {}},
        "OutputDataConfig: OutputDataConfig requires s3Uri, which is missing",
    ),
    (
        {**VALID_JOB, "ValidationDataConfig": {"Validators": [{"S3Uri": "s3://b/v"}, {"Uri": "s3://b/w"}]}},
        "ValidationDataConfig: Validators[1]: Uri is not a member of Validator",
    ),
]


def test_a_valid_customization_job_passes() -> None:
    assert problems(_job(**VALID_JOB)) == []
    assert problems(_job(**{**VALID_JOB, "jobTags": [{"Key": "k", "Value": "v"}]})) == []


@pytest.mark.parametrize("parameters, expected", SHAPE_PROBLEMS)
def test_parameters_off_the_input_shape_are_refused(parameters: dict[str, Any], expected: str) -> None:
    found = problems(_job(**parameters))
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize(
    "resource, expected",
    [
        ("arn:aws:states:::aws-sdk:bedrock:createCustomModelDeploymentz", "CreateCustomModelDeploymentz"),
        ("arn:aws:states:::aws-sdk:nosuchservice:doIt", "no botocore service"),
        ("arn:aws:states:::bedrock:createModelCustomizationJob.nope", "not a Step Functions service"),
    ],
)
def test_unknown_operations_and_services_are_refused(resource: str, expected: str) -> None:
    found = problems(TaskCall("Call", resource, {}))
    assert any(expected in problem for problem in found), found


def test_sdk_integrations_map_to_botocore_services_and_literals_nest() -> None:
    call = TaskCall(
        "Deploy",
        "arn:aws:states:::aws-sdk:bedrock:createCustomModelDeployment",
        {"ModelDeploymentName": "d", "ModelArn.$": "$.model", "Tags": [{"Key": "k", "Valu": "v"}]},
    )
    assert problems(call) == [
        "state 'Deploy': Tags[0]: Valu is not a member of Tag (members: key, value)",
        "state 'Deploy': Tags[0]: Tag requires value, which is missing",
    ]
    converse = TaskCall("Ask", "arn:aws:states:::aws-sdk:bedrockruntime:converse", {"ModelId": "m"})
    assert problems(converse) == []
