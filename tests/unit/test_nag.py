"""cdk-nag AwsSolutions: the stack synthesizes with zero unacknowledged findings, no acknowledgment is
stale, and each one says specifically why."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks
from template_support import SYNTHESIZED, config_dir, synthesized

from stacks.app_builder import add_stack, feature_flags, synth_stack
from stacks.config import load_config

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
GENERIC = re.compile(
    r"^\W*(ok|fine|n/?a|none|todo|tbd|fixme|not needed|not applicable|acceptable|by design|as designed|"
    r"false positive|suppressed|required|needed|intended|expected|wildcard (is )?(needed|required|ok))\W*$",
    re.IGNORECASE,
)
# What an acknowledgment of each kind of finding must mention to be about that finding.
MUST_MENTION = [
    (re.compile(r"^AwsSolutions-L1$"), "Python 3.11"),
    (re.compile(r"^AwsSolutions-IAM5\[Resource::\*\]$"), "X-Ray"),
    (re.compile(r"^AwsSolutions-IAM5\[Action::kms:GenerateDataKey\*\]$"), "SqsSendMessage"),
    (re.compile(r"^AwsSolutions-IAM5\[Resource::<\w+\.Arn>:\*\]$"), "lambda:InvokeFunction"),
    (re.compile(r"model-customization-job/\*\]$"), "customization job"),
    (re.compile(r"custom-model-deployment/\*\]$"), "deployment"),
    (re.compile(r":custom-model/\*\]$"), "custom model"),
    (re.compile(r"parameter/iterft/.*\]$"), "/iterft/"),
]
S3_PREFIX = re.compile(r"^AwsSolutions-IAM5\[Resource::<StorageDataBucket\w+\.Arn>/([\w-]+/)\*\]$")


def _acknowledgments(assembly_dir: Path, stack_name: str) -> dict[tuple[str, str], str]:
    """(construct path, finding) -> reason, as recorded in the cloud assembly."""
    metadata = json.loads((assembly_dir / f"{stack_name}.metadata.json").read_text())
    found = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == ACKNOWLEDGED:
                for finding, reason in entry["data"].items():
                    found[(path.lstrip("/"), finding.removeprefix("Annotation::"))] = reason
    return found


def _findings_without_acknowledgments(environment: str, outdir: Path) -> set[tuple[str, str]]:
    """(construct path, finding) for every finding AwsSolutions reports on the bare stack."""
    app = cdk.App(outdir=str(outdir), context=feature_flags())
    add_stack(app, load_config(environment, config_dir(environment)))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((outdir / "validation-report.json").read_text())
    return {
        (construct["constructPath"], violation["ruleName"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }


def _synth_acknowledgments(
    environment: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], str]:
    """Synthesizing with the checks on raises on any unacknowledged finding (the shared synth of the
    template tests: a cached one passed them with the same sources)."""
    result = synthesized(environment, tmp_path_factory)
    return _acknowledgments(result.assembly_dir, result.stack_name)


@pytest.fixture(scope="module")
def cache() -> dict[str, dict[tuple[str, str], str]]:
    """Each environment's acknowledgments, synthesized once per module (and per xdist worker)."""
    return {}


@pytest.fixture(params=SYNTHESIZED)
def acknowledgments(
    request: pytest.FixtureRequest, cache: dict, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], str]:
    environment = request.param
    if environment not in cache:
        cache[environment] = _synth_acknowledgments(environment, tmp_path_factory)
    return cache[environment]


@pytest.fixture(scope="module")
def bare_cache() -> dict[str, set[tuple[str, str]]]:
    return {}


@pytest.fixture
def bare_findings(
    request: pytest.FixtureRequest, bare_cache: dict, tmp_path_factory: pytest.TempPathFactory
) -> set[tuple[str, str]]:
    """The bare stack's findings, for the environment the test's acknowledgments are of."""
    environment = request.node.callspec.params["acknowledgments"]
    if environment not in bare_cache:
        bare_cache[environment] = _findings_without_acknowledgments(
            environment, tmp_path_factory.mktemp(f"bare-{environment}")
        )
    return bare_cache[environment]


def test_synth_passes_the_checks_with_acknowledged_findings_only(acknowledgments: dict) -> None:
    """Reaching here means the synth (with the checks on) did not raise."""
    assert acknowledgments


# prod has the most lineages and serving modes; oregon the managed evaluation job's role and steps.
@pytest.mark.parametrize("acknowledgments", ["prod", "oregon"], indirect=True)
def test_every_acknowledgment_answers_a_finding_on_its_construct(
    acknowledgments: dict[tuple[str, str], str], bare_findings: set[tuple[str, str]]
) -> None:
    """No stale acknowledgment, and every finding of the bare stack is acknowledged at or above it."""
    acknowledged = acknowledgments
    assert bare_findings
    for path, finding in acknowledged:
        assert any(
            found == finding and (where == path or where.startswith(f"{path}/"))
            for where, found in bare_findings
        ), f"stale acknowledgment {finding} on {path}"
    for where, finding in bare_findings:
        assert any(
            found == finding and (where == path or where.startswith(f"{path}/"))
            for path, found in acknowledged
        ), f"unacknowledged {finding} at {where}"


def test_every_reason_is_specific(acknowledgments: dict) -> None:
    for (path, finding), reason in acknowledgments.items():
        where = f"{finding} on {path}"
        assert len(reason.strip()) > 40, where
        assert not GENERIC.match(reason), where
        for pattern, mention in MUST_MENTION:
            if pattern.search(finding):
                assert mention in reason, f"{where}: the reason should mention {mention!r}"
        prefix = S3_PREFIX.match(finding)
        if prefix:
            assert prefix.group(1) in reason, f"{where}: the reason should name {prefix.group(1)}"


def test_no_finding_is_acknowledged_for_the_whole_stack(acknowledgments: dict) -> None:
    stack_paths = {f"iterft-{environment}" for environment in SYNTHESIZED}
    assert not [key for key in acknowledgments if key[0] in stack_paths]


GRADED = {
    "environment": "graded",
    "region": "us-east-1",
    "lineages": [
        {
            "name": "rft",
            "base_model": "amazon.nova-2-lite-v1:0:256k",
            "strategies": {"default": "reinforcement", "reinforcement": {"grader": "default"}},
        }
    ],
}


def test_a_default_grader_synthesizes_with_its_findings_acknowledged(tmp_path: Path) -> None:
    """No shipped or synthesized config deploys a default grader (Nova 2 Lite is customized in us-east-1
    only, by reinforcement): its function and role are checked here, on a config of their own."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "graded.yaml").write_text(json.dumps(GRADED))  # JSON is YAML
    result = synth_stack("graded", tmp_path / "assembly", config)  # raises on an unacknowledged finding
    graders = {
        (path, finding): reason
        for (path, finding), reason in _acknowledgments(result.assembly_dir, result.stack_name).items()
        if path.startswith(f"{result.stack_name}/Graders/")
    }
    assert {(path.split("/")[2], finding) for path, finding in graders} == {
        ("Grader-rft", "AwsSolutions-L1"),
        ("Grader-rftRole", "AwsSolutions-IAM5[Resource::*]"),
    }
    for (_, finding), reason in graders.items():
        assert ("Python 3.11" if finding == "AwsSolutions-L1" else "X-Ray") in reason
