"""Helpers shared by the tests that read the synthesized template."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.app_builder import SynthResult, synth_stack
from stacks.config import CONFIG_DIR, load_config

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CONFIG_DIR = ROOT / "tests" / "fixtures" / "config"
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


# One synth per environment for the whole run ----------------------------------------------------------

SYNTH_CACHE = ROOT / ".pytest_cache" / "iterft-synth"
"""Synthesized assemblies (their files, not the staged assets), by a hash of all a synth reads.
ITERFT_SYNTH_CACHE=0 turns it off; `make clean` removes it with .pytest_cache."""
_SYNTH_INPUTS = ("stacks", "config", "lambda", "tests/fixtures/config", "cdk.json", "constraints.txt")
_SYNTH_PACKAGES = ("aws-cdk-lib", "cdk-nag", "constructs", "jsii")
_RESULTS: dict[str, SynthResult] = {}
_TEMPLATES: dict[str, Template] = {}


def synth_key(environment: str) -> str:
    """What a synth of `environment` depends on: the sources it reads, the CDK packages that run it,
    the layer build (its asset hash is in the template), the date the capability table is checked
    against, and the environment variables that pick a default account and region."""
    digest = hashlib.sha256(environment.encode())
    for name in _SYNTH_INPUTS:
        top = ROOT / name
        for path in sorted([top] if top.is_file() else top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(f"\0{path.relative_to(ROOT)}\0".encode())
                digest.update(path.read_bytes())
    for package in _SYNTH_PACKAGES:
        digest.update(f"\0{package}=={metadata.version(package)}".encode())
    layer = ROOT / "build" / "layer" / ".built"
    digest.update(f"\0layer {layer.stat().st_mtime_ns if layer.exists() else None}".encode())
    digest.update(f"\0today {datetime.now(UTC).date().isoformat()}".encode())
    for variable in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
        digest.update(f"\0{variable}={os.environ.get(variable)}".encode())
    return digest.hexdigest()[:32]


def synthesized(environment: str, tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """`environment` synthesized (cdk-nag's checks included) once per test process, and across
    processes (xdist workers, later runs) while nothing it depends on changed (`synth_key`): every
    synth takes seconds, and the template, cdk-nag and state machine tests all read the same ones.

    A cached result's `assembly_dir` holds the assembly's files (template, manifest, metadata, cdk-nag's
    report) but not the staged assets; a test that needs those synthesizes with `synth_stack` itself.
    """
    if environment in _RESULTS:
        return _RESULTS[environment]
    use_cache = os.environ.get("ITERFT_SYNTH_CACHE", "1") != "0"
    cached = SYNTH_CACHE / synth_key(environment) if use_cache else None
    if cached is not None and (cached / "manifest.json").is_file():
        config = load_config(environment, config_dir(environment))
        template = json.loads((cached / f"{config.stack_name}.template.json").read_text())
        result = SynthResult(
            template=template, assembly_dir=cached, stack_name=config.stack_name, config=config
        )
    else:
        result = synth_stack(environment, tmp_path_factory.mktemp(environment), config_dir(environment))
        if cached is not None:
            _store(result.assembly_dir, cached)
    _RESULTS[environment] = result
    return result


def _store(assembly_dir: Path, cached: Path) -> None:
    """Copy the assembly's files (no asset folders) into the cache, whole or not at all: written
    aside, then renamed into place; another worker's copy that got there first is kept."""
    staging = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for path in assembly_dir.iterdir():
        if path.is_file():
            shutil.copy2(path, staging / path.name)
    try:
        staging.rename(cached)
    except OSError:  # already there (another worker's): the same files
        shutil.rmtree(staging, ignore_errors=True)


class Synths:
    """The environments' synths and assertion templates, shared by every test module of the process
    (`synthesized`); each made on first use."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory

    def result(self, environment: str) -> SynthResult:
        return synthesized(environment, self._tmp_path_factory)

    def template(self, environment: str) -> Template:
        if environment not in _TEMPLATES:
            _TEMPLATES[environment] = Template.from_json(self.result(environment).template)
        return _TEMPLATES[environment]


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
