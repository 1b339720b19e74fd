"""Builds the CDK app for one environment; used by app.py (`cdk synth`) and by tests and the emulator."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from stacks import nag
from stacks.config import CONFIG_DIR, ConfigError, DeploymentConfig, available_environments, load_config
from stacks.iterft_stack import IterftStack

CDK_JSON = CONFIG_DIR.parent / "cdk.json"


@dataclass(frozen=True)
class SynthResult:
    template: dict[str, Any]
    assembly_dir: Path
    """The cloud assembly: the template, the asset manifest and the staged asset folders."""
    stack_name: str
    config: DeploymentConfig


def feature_flags() -> dict[str, Any]:
    """cdk.json's context, so that a synth outside the CDK CLI gives the CLI's template."""
    return dict(json.loads(CDK_JSON.read_text()).get("context", {}))


def build_app(
    environment: str | None = None, outdir: str | None = None, config_dir: Path = CONFIG_DIR
) -> cdk.App:
    """The app for `environment` (else `-c env=NAME`) from `config_dir`, checked by cdk-nag AwsSolutions."""
    app = cdk.App(outdir=outdir, context=feature_flags())
    environment = environment or app.node.try_get_context("env")
    if not environment:
        raise ConfigError(f"pass -c env=NAME; available: {available_environments(config_dir)}")
    stack = add_stack(app, load_config(environment, config_dir))
    nag.check(app, stack)
    return app


def add_stack(app: cdk.App, config: DeploymentConfig) -> IterftStack:
    """The environment's stack, in its configured account and region (else the CLI's defaults)."""
    return IterftStack(
        app,
        config.stack_name,
        config=config,
        stack_name=config.stack_name,
        description=f"iterft ({config.environment}): iterative fine-tuning of Amazon Bedrock custom models",
        env=cdk.Environment(
            account=config.account or os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=config.region or os.environ.get("CDK_DEFAULT_REGION"),
        ),
    )


def synth_stack(environment: str, outdir: str | Path, config_dir: Path = CONFIG_DIR) -> SynthResult:
    """Synthesize `environment` into `outdir`; raises if cdk-nag reports an unacknowledged finding."""
    app = build_app(environment, str(outdir), config_dir)
    assembly = app.synth()
    stack = next(node for node in app.node.children if isinstance(node, IterftStack))
    return SynthResult(
        template=assembly.get_stack_by_name(stack.stack_name).template,
        assembly_dir=Path(assembly.directory),
        stack_name=stack.stack_name,
        config=stack.config,
    )
