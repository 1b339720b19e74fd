"""Environment configs (`config/<env>.yaml`): parsed and validated once, at synth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import yaml
from iterft_runtime import naming
from iterft_runtime.logic.evaluation import INLINE_MAX_SHARDS, EvaluationSetError, parse_evaluation_set
from iterft_runtime.logic.paired import power_warning, yardstick_power
from iterft_runtime.logic.serving import serving_capacity_kind
from iterft_runtime.models import capabilities
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.metrics import REFERENCE_METRICS
from iterft_runtime.models.strategy import Strategy
from iterft_runtime.models.traffic import InvocationLogsConfig
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator, model_validator

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

# The retention periods CloudWatch Logs accepts; any other value would fail only at deploy time.
# fmt: off
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)
# fmt: on


class ConfigError(ValueError):
    """A config that cannot be deployed; the message names the file and the field."""


class NotificationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    emails: list[EmailStr] = Field(default_factory=list)


class RetentionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    log_days: int = 90
    noncurrent_object_days: Annotated[int, Field(ge=1, le=3650)] = 90
    destroy_data_on_delete: bool = False
    """Only for throwaway environments: delete buckets and the registry with the stack."""

    @field_validator("log_days")
    @classmethod
    def _cloudwatch_retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch Logs retention; use one of {LOG_RETENTION_DAYS}")
        return value


class EvaluationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: Annotated[int, Field(ge=1, le=40)] = 8
    """Score shard iterations in flight at once: fast on large sets, gentle on Bedrock's request quotas
    (40 is the most an inline Map runs at once)."""
    distributed_above_shards: Annotated[int, Field(ge=1, le=INLINE_MAX_SHARDS)] = 40
    """A plan with more shards than this is scored by a Distributed Map (child executions, each with its
    own history) instead of the inline Map; at most INLINE_MAX_SHARDS, the inline Map's history limit."""


class DeploymentConfig(BaseModel):
    """Everything one environment's stack is built from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,15}$")]
    account: Annotated[str | None, Field(pattern=r"^\d{12}$")] = None
    """Unset: the account of the credentials `cdk deploy` runs with."""
    region: Annotated[str | None, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")] = None
    notifications: NotificationConfig = Field(default_factory=NotificationConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    lineages: Annotated[list[LineageConfig], Field(min_length=1)]
    invocation_logs: InvocationLogsConfig | None = None
    """Where the account's Bedrock model invocation logs are (or: enable them when none exist); needed by
    lineages with `traffic` (docs/flywheel.md)."""

    @model_validator(mode="after")
    def _traffic_has_logs(self) -> DeploymentConfig:
        curating = [lineage.name for lineage in self.lineages if lineage.traffic is not None]
        if curating and self.invocation_logs is None:
            raise ValueError(
                f"lineages {', '.join(curating)} set traffic: set invocation_logs (s3_uri of the account's "
                "logging destination, or enable_if_absent: true)"
            )
        return self

    @field_validator("lineages")
    @classmethod
    def _unique_lineages(cls, lineages: list[LineageConfig]) -> list[LineageConfig]:
        names = [lineage.name for lineage in lineages]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"lineage names must be unique; repeated: {', '.join(duplicates)}")
        return lineages

    @property
    def stack_name(self) -> str:
        return f"iterft-{self.environment}"

    def lineage(self, name: str) -> LineageConfig:
        return next(lineage for lineage in self.lineages if lineage.name == name)

    def strategies(self) -> frozenset[Strategy]:
        """Every strategy some lineage's rounds can use (what the workflow needs a job task for)."""
        return frozenset(s for lineage in self.lineages for s in lineage.strategies.configured())


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid config"]
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  {where}: {problem['msg']}")
    return "\n".join(lines)


def parse_config(data: object, source: str) -> DeploymentConfig:
    try:
        return DeploymentConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from None


def available_environments(config_dir: Path = CONFIG_DIR) -> str:
    """The environments that have a config file, for error messages."""
    return ", ".join(sorted(p.stem for p in config_dir.glob("*.yaml"))) or "none"


def load_config(environment: str, config_dir: Path = CONFIG_DIR) -> DeploymentConfig:
    """Load `config/<environment>.yaml`; every problem is reported with its field path."""
    path = config_dir / f"{environment}.yaml"
    if not path.is_file():
        available = available_environments(config_dir)
        raise ConfigError(f"no config for environment {environment!r} ({path}); available: {available}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    config = parse_config(data, str(path))
    if config.environment != environment:
        raise ConfigError(f"{path}: environment: is {config.environment!r}, expected {environment!r}")
    return config


@dataclass(frozen=True)
class ModelWarning:
    """A model a lineage uses is still available, but not for long."""

    lineage: str
    message: str


def check_models(
    config: DeploymentConfig, region: str | None, today: date, source: str
) -> list[ModelWarning]:
    """Refuse a config whose lineages Bedrock would refuse in the stack's `region` as of `today`, asking
    the capability table (models/capabilities.py): a base model that cannot be fine-tuned there (the
    error names the regions where it can), a serving mode or a managed evaluation job its custom models
    do not have there, a model (or judge) past its end of life, a custom starting point in another
    region. Returns the warnings: an end of life within END_OF_LIFE_WARNING_DAYS."""
    if not region:
        raise ConfigError(
            f"{source}: region: unknown at synth. Which models can be customized, deployed or evaluated "
            "depends on it: set `region` in the config, or a default region for the credentials `cdk` runs "
            "with (CDK_DEFAULT_REGION)"
        )
    problems: list[str] = []
    warnings: list[ModelWarning] = []
    for index, lineage in enumerate(config.lineages):
        where = f"lineages.{index} ({lineage.name})"
        found, warned = _lineage_problems(lineage, region, today, config.stack_name)
        problems += [f"{where}: {problem}" for problem in found]
        warnings += [ModelWarning(lineage.name, f"{where}: {message}") for message in warned]
    if problems:
        raise ConfigError(
            "\n".join([f"{source}: not deployable in {region} as of {today.isoformat()}", *problems])
        )
    return warnings


def check_yardsticks(config: DeploymentConfig, config_dir: Path, source: str) -> list[ModelWarning]:
    """The power of each evaluation set the config points at (`evaluation.set_file`): a warning for each
    set too small to detect its lineage's gate.min_improvement at its confidence (nothing is known of the
    scores yet: the widest spread a 0..1 score can have). A set the config names but that is missing or
    invalid is refused."""
    warnings = []
    for index, lineage in enumerate(config.lineages):
        named = lineage.evaluation.set_file
        if named is None:
            continue
        where = f"lineages.{index} ({lineage.name}): evaluation.set_file"
        path = (config_dir / named).resolve()
        if not path.is_file():
            raise ConfigError(f"{source}: {where}: no file {path}")
        try:
            with path.open("rb") as handle:
                parsed = parse_evaluation_set(iter(lambda: handle.read(CHUNK_BYTES), b""), str(path))
        except EvaluationSetError as error:
            raise ConfigError(f"{source}: {where}: {error}") from None
        gate = lineage.gate
        warning = power_warning(yardstick_power(len(parsed.items), gate.min_improvement, gate.confidence))
        if warning:
            warnings.append(ModelWarning(lineage.name, f"{where}: {warning}"))
    return warnings


CHUNK_BYTES = 1024 * 1024


def _grader_problems(lineage: LineageConfig, stack_name: str) -> list[str]:
    """The default grader rewards with a reference metric, in a function whose name fits Lambda's limit."""
    reinforcement = lineage.strategies.reinforcement
    if reinforcement is None or not reinforcement.uses_default_grader:
        return []
    problems = []
    if lineage.evaluation.metric not in REFERENCE_METRICS:
        problems.append(
            f"strategies.reinforcement.grader: the default grader rewards with a reference metric "
            f"({', '.join(REFERENCE_METRICS)}); the primary metric is {lineage.evaluation.metric!r}: name "
            "your own grader Lambda's ARN"
        )
    name = naming.grader_function_name(stack_name, lineage.name)
    if len(name) > naming.MAX_FUNCTION_NAME:
        problems.append(
            f"strategies.reinforcement.grader: the default grader's function name {name!r} is longer than "
            f"Lambda's {naming.MAX_FUNCTION_NAME} characters: shorten the stack or lineage name"
        )
    return problems


def _evaluator_problems(lineage: LineageConfig) -> list[str]:
    """A judged evaluation job's evaluator must be one Bedrock lets judge what the lineage asks: the
    built-in metrics, the custom metrics (capabilities.EVALUATORS, from capabilities.EVALUATOR_PAGE)."""
    managed = lineage.evaluation.managed_job
    if managed is None or not managed.judged or managed.evaluator_model is None:
        return []
    found = capabilities.evaluator(managed.evaluator_model)
    uses = [("built-in", bool(managed.metrics)), ("custom", bool(managed.custom_metrics))]
    refused = [
        kind
        for kind, used in uses
        if used and (found is None or not (found.builtin if kind == "built-in" else found.custom))
    ]
    if not refused:
        return []
    listed = sorted(
        model
        for model, row in capabilities.EVALUATORS.items()
        if all(row.builtin if kind == "built-in" else row.custom for kind in refused)
    )
    return [
        f"evaluation.managed_job.evaluator_model: {managed.evaluator_model} does not judge "
        f"{' or '.join(refused)} metrics ({capabilities.EVALUATOR_PAGE}); evaluators that do: "
        + ", ".join(listed)
    ]


def _lineage_problems(
    lineage: LineageConfig, region: str, today: date, stack_name: str
) -> tuple[list[str], list[str]]:
    foundation = lineage.foundation_model()
    if foundation is None:
        return [
            f"base_model: {lineage.base_model} does not name its base model, which Bedrock's custom model "
            "ARNs do (custom-model/<base model id>/<id>); the capability table is asked about that base"
        ], []
    problems: list[str] = []
    custom = capabilities.parse_custom_model_arn(lineage.base_model)
    if custom is not None and custom.region != region:
        problems.append(
            f"base_model: the custom model is in {custom.region}, the stack in {region}: Bedrock customizes "
            "a custom model only in its own region (copy it with a model copy job, or deploy the stack there)"
        )
    row = capabilities.model(foundation)
    verdict = capabilities.check_use(
        row,
        region,
        today,
        customization=lineage.strategies.default.customization_type,
        serving=serving_capacity_kind(lineage.serving.mode),
        managed_job=lineage.evaluation.managed_job is not None,
        judged=lineage.evaluation.managed_job is not None and lineage.evaluation.managed_job.judged,
    )
    problems += verdict.problems
    for strategy in lineage.strategies.required():
        kind = strategy.customization_type
        if strategy is not lineage.strategies.default and not row.can_customize(region, kind):
            where = capabilities.regions_text(row.customization_regions(kind))
            problems.append(
                f"strategies.{strategy}: {row.name} cannot be customized by {kind} in {region} (only {where})"
            )
    problems += _grader_problems(lineage, stack_name)
    problems += _evaluator_problems(lineage)
    warnings = list(verdict.warnings)
    graders = [
        (f"evaluation.judge.model: {judge.model}", judge.model)
        for judge in [lineage.evaluation.judge]
        if judge is not None
    ]
    managed = lineage.evaluation.managed_job
    if managed is not None and managed.evaluator_model is not None:
        evaluator = managed.evaluator_model
        graders.append((f"evaluation.managed_job.evaluator_model: {evaluator}", evaluator))
    for subject, model in graders:
        grader = capabilities.by_inference_id(model)
        if grader is not None:
            judged = capabilities.lifecycle_verdict(grader, region, today, subject)
            problems += judged.problems
            warnings += judged.warnings
    return problems, warnings
