"""Helpers shared by the tests that read the synthesized template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.app_builder import SynthResult, synth_stack
from stacks.config import CONFIG_DIR

FIXTURE_CONFIG_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "config"
SYNTHESIZED = ["dev", "prod", "oregon"]
"""The environments the template and cdk-nag tests synthesize: the shipped ones, and `oregon`
(tests/fixtures/config), the one with a managed evaluation job, since no shipped config has one."""


def config_dir(environment: str) -> Path:
    """Where `environment`'s config is: config/, else tests/fixtures/config/."""
    return CONFIG_DIR if (CONFIG_DIR / f"{environment}.yaml").is_file() else FIXTURE_CONFIG_DIR


def readable(value: Any) -> Any:
    """Intrinsics rendered readable: Ref -> <Id>, GetAtt -> <Id.Attr>, joins joined."""
    if isinstance(value, list):
        return [readable(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(readable(part)) for part in parts)
    return {key: readable(item) for key, item in value.items()}


class Synths:
    """Each environment synthesized once per test module (and per xdist worker), on first use."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory
        self._results: dict[str, SynthResult] = {}
        self._templates: dict[str, Template] = {}

    def result(self, environment: str) -> SynthResult:
        if environment not in self._results:
            self._results[environment] = synth_stack(
                environment, self._tmp_path_factory.mktemp(environment), config_dir(environment)
            )
        return self._results[environment]

    def template(self, environment: str) -> Template:
        if environment not in self._templates:
            self._templates[environment] = Template.from_json(self.result(environment).template)
        return self._templates[environment]


# Definitions as deployed: intrinsics resolved to values of the shape CloudFormation would give ----------

ACCOUNT = "123456789012"
"""A stand-in account for stacks whose config leaves the account to `cdk deploy`."""
_ARNS = {
    "AWS::Lambda::Function": "arn:{partition}:lambda:{region}:{account}:function:{id}",
    "AWS::IAM::Role": "arn:{partition}:iam::{account}:role/{id}",
    "AWS::KMS::Key": "arn:{partition}:kms:{region}:{account}:key/{id}",
    "AWS::SQS::Queue": "arn:{partition}:sqs:{region}:{account}:{id}",
    "AWS::SNS::Topic": "arn:{partition}:sns:{region}:{account}:{id}",
    "AWS::S3::Bucket": "arn:{partition}:s3:::{bucket}",
    "AWS::DynamoDB::Table": "arn:{partition}:dynamodb:{region}:{account}:table/{id}",
}
"""`Fn::GetAtt [id, Arn]` by resource type."""
_REFS = {
    "AWS::S3::Bucket": "{bucket}",
    "AWS::SQS::Queue": "https://sqs.{region}.amazonaws.com/{account}/{id}",
    "AWS::SNS::Topic": _ARNS["AWS::SNS::Topic"],
    "AWS::Lambda::Function": "{id}",
    "AWS::IAM::Role": "{id}",
    "AWS::DynamoDB::Table": "{id}",
    "AWS::SSM::Parameter": "{id}",
}
"""`Ref` by resource type (what CloudFormation documents each Ref to return)."""


def resolved(value: Any, template: dict[str, Any], region: str, account: str = ACCOUNT) -> Any:
    """`value` with Ref, Fn::GetAtt (Arn) and Fn::Join replaced by well-formed stand-ins: Lambda,
    role, queue... ARNs and names named after the logical id. Any other intrinsic, or a resource type
    not listed above, raises ValueError (add it here rather than let a check see a placeholder)."""
    if isinstance(value, list):
        return [resolved(item, template, region, account) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Fn::Join":
            separator, parts = argument
            return separator.join(str(resolved(part, template, region, account)) for part in parts)
        if key in ("Ref", "Fn::GetAtt"):
            return _intrinsic(key, argument, template, region, account)
        if key.startswith("Fn::"):
            raise ValueError(f"{key} is not resolved by template_support.resolved")
    return {key: resolved(item, template, region, account) for key, item in value.items()}


def _intrinsic(key: str, argument: Any, template: dict[str, Any], region: str, account: str) -> str:
    pseudo = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account}
    if key == "Ref" and argument in pseudo:
        return pseudo[argument]
    logical_id, attribute = (argument, None) if key == "Ref" else argument
    kind = template["Resources"][logical_id]["Type"]
    patterns = _REFS if key == "Ref" else (_ARNS if attribute == "Arn" else {})
    if kind not in patterns:
        raise ValueError(f"{key} {argument} ({kind}) is not resolved by template_support.resolved")
    return patterns[kind].format(
        partition="aws", region=region, account=account, id=logical_id, bucket=logical_id.lower()
    )


def deploy_region(synth: SynthResult) -> str:
    """The stack's configured region, else the one `cdk deploy` would commonly take (us-east-1)."""
    return synth.config.region or "us-east-1"


def state_machine_definitions(synth: SynthResult) -> dict[str, dict[str, Any]]:
    """Each state machine's definition by logical id, intrinsics resolved as CloudFormation would."""
    template = synth.template
    region = deploy_region(synth)
    account = synth.config.account or ACCOUNT
    return {
        logical_id: json.loads(
            resolved(resource["Properties"]["DefinitionString"], template, region, account)
        )
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    }


def all_states(states: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state by path (`Map state/Inner state`), into Map item processors and Parallel branches."""
    for name, state in states.items():
        yield prefix + name, state
        for processor in (state.get("ItemProcessor"), state.get("Iterator")):
            if processor:
                yield from all_states(processor["States"], f"{prefix}{name}/")
        for index, branch in enumerate(state.get("Branches", [])):
            yield from all_states(branch["States"], f"{prefix}{name}[{index}]/")
