"""How every iterft Lambda function is packaged: one code asset, one layer, one shared environment.

The trigger (trigger.py) and the step functions (workflow/) are built here so that they cannot
drift apart in runtime, handler naming, logging or environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from iterft_runtime import naming

from stacks.config import RetentionConfig
from stacks.storage import removal_policy

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SOURCE = REPO_ROOT / "lambda"
LAYER_DIR = REPO_ROOT / "build" / "layer"

# Nothing that differs between two checkouts of the same code (bytecode, tool caches and other
# dot-folders) may enter an asset, or the template would change without the code changing.
SOURCE_EXCLUDES = ["requirements.txt", "**/__pycache__", "**/*.pyc", "**/.*"]
LAYER_EXCLUDES = [".built", "**/__pycache__", "**/*.pyc", "python/bin"]
"""`python/bin` holds pip's console scripts, whose shebangs name the building machine's Python."""


_RETENTION = logs.RetentionDays
LOG_RETENTION: dict[int, logs.RetentionDays] = {
    1: _RETENTION.ONE_DAY,
    3: _RETENTION.THREE_DAYS,
    5: _RETENTION.FIVE_DAYS,
    7: _RETENTION.ONE_WEEK,
    14: _RETENTION.TWO_WEEKS,
    30: _RETENTION.ONE_MONTH,
    60: _RETENTION.TWO_MONTHS,
    90: _RETENTION.THREE_MONTHS,
    120: _RETENTION.FOUR_MONTHS,
    150: _RETENTION.FIVE_MONTHS,
    180: _RETENTION.SIX_MONTHS,
    365: _RETENTION.ONE_YEAR,
    400: _RETENTION.THIRTEEN_MONTHS,
    545: _RETENTION.EIGHTEEN_MONTHS,
    731: _RETENTION.TWO_YEARS,
    1096: _RETENTION.THREE_YEARS,
    1827: _RETENTION.FIVE_YEARS,
    2192: _RETENTION.SIX_YEARS,
    2557: _RETENTION.SEVEN_YEARS,
    2922: _RETENTION.EIGHT_YEARS,
    3288: _RETENTION.NINE_YEARS,
    3653: _RETENTION.TEN_YEARS,
}
"""config.LOG_RETENTION_DAYS as CDK's enum (jsii enums cannot be built from the number of days)."""


def log_group(scope: Construct, construct_id: str, retention: RetentionConfig) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        construct_id,
        retention=LOG_RETENTION[retention.log_days],
        removal_policy=removal_policy(retention),
    )


def grant_parameter_reads(function: lambda_.Function, parameter_names: Iterable[str]) -> None:
    """ssm:GetParameter on exactly these parameters (`/iterft/<stack>/...` names), none by prefix."""
    names = list(parameter_names)
    if not names:
        return
    stack = cdk.Stack.of(function)
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["ssm:GetParameter"],
            resources=[
                stack.format_arn(service="ssm", resource="parameter", resource_name=name.lstrip("/"))
                for name in names
            ],
        )
    )


class LayerNotBuiltError(FileNotFoundError):
    """The Lambda layer folder does not exist: `make setup` builds it."""


class RuntimePackage(Construct):
    """The `lambda/` code asset, the dependency layer and the environment every function shares."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Mapping[str, str],
        retention: RetentionConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        if not LAYER_DIR.is_dir():
            raise LayerNotBuiltError(
                f"{LAYER_DIR} is missing: run `make setup` (it builds the Lambda layer) and synthesize again"
            )
        self.environment = dict(environment)
        self._retention = retention
        self.code = lambda_.Code.from_asset(str(LAMBDA_SOURCE), exclude=SOURCE_EXCLUDES)
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(LAYER_DIR), exclude=LAYER_EXCLUDES),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="iterft runtime dependencies (lambda/requirements.txt)",
        )

    def function(
        self,
        scope: Construct,
        step: str,
        *,
        timeout: cdk.Duration,
        extra_environment: Mapping[str, str] | None = None,
        construct_id: str | None = None,
        function_name: str | None = None,
    ) -> lambda_.Function:
        """The function of `step` (a name in naming.STEPS, naming.STACK_RESOURCES or naming.GRADER) with
        its own role and log group; `function_name` only where the function must know its own name.

        The role starts with nothing but writing to that log group (and X-Ray, added by CDK for
        active tracing); each construct grants what its step needs.
        """
        if step not in (*naming.STEPS, naming.STACK_RESOURCES, naming.GRADER):
            raise ValueError(f"unknown step {step!r}; steps: {', '.join(naming.STEPS)}")
        construct_id = construct_id or "".join(part.capitalize() for part in step.split("_"))
        function_logs = log_group(scope, f"{construct_id}Logs", self._retention)
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"iterft {step} function",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[function_logs.log_group_arn]
            )
        )
        return lambda_.Function(
            scope,
            construct_id,
            description=f"iterft {step} step",
            function_name=function_name,
            runtime=lambda_.Runtime.PYTHON_3_11,
            architecture=lambda_.Architecture.X86_64,
            code=self.code,
            handler=f"{naming.HANDLER_MODULE.format(step=step)}.handler",
            layers=[self.layer],
            timeout=timeout,
            memory_size=512,
            environment={**self.environment, **(extra_environment or {})},
            tracing=lambda_.Tracing.ACTIVE,
            log_group=function_logs,
            role=role,
        )
