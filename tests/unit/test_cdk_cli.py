"""`npx cdk synth` as an operator runs it: offline, from the repository, with `-c env=NAME`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _cdk_synth(environment: str, outdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "npx",
            "--no-install",
            "cdk",
            "synth",
            "-c",
            f"env={environment}",
            "--quiet",
            "--output",
            str(outdir),
        ],
        cwd=REPO,
        env={
            **os.environ,
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "CDK_DISABLE_VERSION_CHECK": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_cdk_synth_succeeds(environment: str, tmp_path: Path) -> None:
    result = _cdk_synth(environment, tmp_path)
    assert result.returncode == 0, result.stderr
    template = json.loads((tmp_path / f"iterft-{environment}.template.json").read_text())
    assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in template["Resources"].values())


def test_cdk_synth_of_an_unknown_environment_fails_with_the_config_error(tmp_path: Path) -> None:
    result = _cdk_synth("nope", tmp_path)
    assert result.returncode != 0
    assert "no config for environment 'nope'" in result.stderr
    assert "available: " in result.stderr
