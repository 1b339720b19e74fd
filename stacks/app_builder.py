"""Builds the CDK app for one environment; used by app.py (`cdk synth`) and by tests and the emulator."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from stacks import nag
from stacks.config import (
    CONFIG_DIR,
    ConfigError,
    DeploymentConfig,
    available_environments,
    check_models,
    check_yardsticks,
    load_config,
)
from stacks.iterft_stack import IterftStack

CDK_JSON = CONFIG_DIR.parent / "cdk.json"
TODAY_CONTEXT = "today"
"""`-c today=YYYY-MM-DD`: the date the capability table's end-of-life dates are checked against
(default: today, UTC). For tests and for asking what a config will meet on a later date."""


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
    environment: str | None = None,
    outdir: str | None = None,
    config_dir: Path = CONFIG_DIR,
    today: date | None = None,
) -> cdk.App:
    """The app for `environment` (else `-c env=NAME`) from `config_dir`, checked by cdk-nag AwsSolutions
    and against the capability table as of `today` (else `-c today=YYYY-MM-DD`, else today)."""
    app = cdk.App(outdir=outdir, context=feature_flags())
    environment = environment or app.node.try_get_context("env")
    if not environment:
        raise ConfigError(f"pass -c env=NAME; available: {available_environments(config_dir)}")
    config = load_config(environment, config_dir)
    stack = add_stack(app, config, today, source=str(config_dir / f"{environment}.yaml"))
    nag.check(app, stack)
    return app


def synth_date(app: cdk.App) -> date:
    """`-c today=YYYY-MM-DD` if given, else today's date (UTC)."""
    given = app.node.try_get_context(TODAY_CONTEXT)
    if not given:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(str(given))
    except ValueError:
        raise ConfigError(f"-c {TODAY_CONTEXT}={given}: not a date (YYYY-MM-DD)") from None


def add_stack(
    app: cdk.App, config: DeploymentConfig, today: date | None = None, source: str | None = None
) -> IterftStack:
    """The environment's stack, in its configured account and region (else the CLI's defaults), once the
    capability table accepts its lineages there; an end of life within 90 days is a synth warning, and so
    is an evaluation set the config points at (`evaluation.set_file`) too small for its min_improvement."""
    region = config.region or os.environ.get("CDK_DEFAULT_REGION")
    config_dir = Path(source).parent if source else CONFIG_DIR
    source = source or f"config/{config.environment}.yaml"
    warnings = check_models(config, region, today or synth_date(app), source)
    yardsticks = check_yardsticks(config, config_dir, source)
    stack = IterftStack(
        app,
        config.stack_name,
        config=config,
        stack_name=config.stack_name,
        description=f"iterft ({config.environment}): iterative fine-tuning of Amazon Bedrock custom models",
        env=cdk.Environment(account=config.account or os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region),
    )
    for number, warning in enumerate(warnings, start=1):
        cdk.Annotations.of(stack).add_warning_v2(
            f"iterft:model-end-of-life:{warning.lineage}:{number}", warning.message
        )
    for warning in yardsticks:
        cdk.Annotations.of(stack).add_warning_v2(f"iterft:yardstick-power:{warning.lineage}", warning.message)
    return stack


def synth_stack(
    environment: str, outdir: str | Path, config_dir: Path = CONFIG_DIR, today: date | None = None
) -> SynthResult:
    """Synthesize `environment` into `outdir`; raises if cdk-nag reports an unacknowledged finding."""
    app = build_app(environment, str(outdir), config_dir, today)
    assembly = app.synth()
    stack = next(node for node in app.node.children if isinstance(node, IterftStack))
    return SynthResult(
        template=assembly.get_stack_by_name(stack.stack_name).template,
        assembly_dir=Path(assembly.directory),
        stack_name=stack.stack_name,
        config=stack.config,
    )
