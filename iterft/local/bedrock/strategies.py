"""What a CreateModelCustomizationJob request asks of each customization type, checked as Bedrock checks it.

The request members are botocore's (bedrock 2023-04-20): `customizationType`, the `customizationConfig`
union (`distillationConfig.teacherModelConfig`, `rftConfig{graderConfig.lambdaGrader, hyperParameters}`)
and the `trainingDataConfig` union (`s3Uri` or `invocationLogsConfig`). `job_strategy` refuses what the
service refuses (ValidationException), or what no page says it accepts (each such refusal says so in
docs/embedded-default.md), and returns what the job needs to train.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from iterft_runtime.models.capabilities import CustomizationType, ModelCapabilities

from iterft.local.bedrock.requests import FOUNDATION_ARN, invalid, required

TEACHER_IDENTIFIER = re.compile(
    r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:((:foundation-model/([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}"
    r"([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})|(([0-9a-zA-Z][_-]?)+)$)|([0-9]{12}:inference-profile/"
    r"[a-zA-Z0-9-:.]+$)))|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})"
)
"""botocore's TeacherModelIdentifier pattern, verbatim."""
LAMBDA_ARN = re.compile(
    r"arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}(-gov)?-[a-z]+-\d{1}:\d{12}:function:[a-zA-Z0-9-_\.]+"
    r"(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
"""botocore's LambdaArn pattern (LambdaGraderConfig.lambdaArn), verbatim."""
_INFERENCE_PROFILE_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:inference-profile/(.+)")


def _rft_shape_ranges() -> tuple[dict[str, tuple[float | None, float | None, type]], tuple[str, ...]]:
    """botocore's RFTHyperParameters, read from its service model (not copied): per member (minimum,
    maximum, type), and reasoningEffort's enum."""
    shape = botocore.session.get_session().get_service_model("bedrock").shape_for("RFTHyperParameters")
    ranges: dict[str, tuple[float | None, float | None, type]] = {}
    efforts: tuple[str, ...] = ()
    for name, member in shape.members.items():  # type: ignore[attr-defined]  # a StructureShape
        enum = getattr(member, "enum", None)  # a StringShape's
        if enum:
            efforts = tuple(enum)
            continue
        metadata = member.metadata
        kind: type = int if member.type_name in ("integer", "long") else float
        ranges[name] = (metadata.get("min"), metadata.get("max"), kind)
    return ranges, efforts


RFT_HYPERPARAMETERS, REASONING_EFFORTS = _rft_shape_ranges()
"""botocore's RFTHyperParameters: (minimum, maximum, type) per member (maxPromptLength and
inferenceMaxTokens have no range in the model); `reasoningEffort`'s enum."""
RFT_DEFAULTS = {"epochCount": 1, "batchSize": 16, "trainingSamplePerPrompt": 4}
"""The stand-in's values when a job leaves these out: Bedrock does not document its defaults."""


@dataclass(frozen=True)
class LogSource:
    """`trainingDataConfig.invocationLogsConfig`: train on model invocation logs."""

    s3_uri: str
    use_prompt_response: bool
    filters: Mapping[str, Any]


@dataclass(frozen=True)
class JobStrategy:
    """What a job's customization type needs to train, taken from its request."""

    kind: CustomizationType
    teacher: str | None = None
    """DISTILLATION: the teacher's model or inference profile id."""
    max_response_tokens: int | None = None
    """DISTILLATION: `maxResponseLengthForInference`."""
    grader_arn: str | None = None
    """REINFORCEMENT_FINE_TUNING: the grader Lambda function's ARN."""
    rft: dict[str, Any] = field(default_factory=dict)
    """REINFORCEMENT_FINE_TUNING: `rftConfig.hyperParameters`, with the stand-in's defaults filled in."""
    logs: LogSource | None = None
    """The invocation logs to train on (DISTILLATION, REINFORCEMENT_FINE_TUNING), or None: the s3Uri file."""


def customization_type(request: dict[str, Any]) -> str:
    """The request's customizationType, set when it was left out: DISTILLATION when the request carries a
    distillationConfig (submit-model-distillation-job: "set to DISTILLATION by default for distillation
    jobs"), else FINE_TUNING (botocore's default)."""
    config = request.get("customizationConfig") or {}
    default = (
        CustomizationType.DISTILLATION if config.get("distillationConfig") else CustomizationType.FINE_TUNING
    )
    return str(request.setdefault("customizationType", default.value))


def job_strategy(request: Mapping[str, Any], row: ModelCapabilities) -> JobStrategy:
    """The strategy of a job on a base model of `row`; refuses a request Bedrock would not run."""
    kind = CustomizationType(request["customizationType"])
    config = dict(request.get("customizationConfig") or {})
    given = sorted(name for name, value in config.items() if value)
    if len(given) > 1:
        raise invalid(
            f"customizationConfig is a union: set exactly one of its members, not {', '.join(given)}."
        )
    logs = _log_source(request, kind)
    if kind in (CustomizationType.FINE_TUNING, CustomizationType.CONTINUED_PRE_TRAINING):
        if given:
            raise invalid(f"customizationConfig ({given[0]}) is not supported for customization type {kind}.")
        return JobStrategy(kind)
    strategy = (
        _distillation(config, row, logs)
        if kind is CustomizationType.DISTILLATION
        else _reinforcement(config, logs)
    )
    if request.get("hyperParameters"):
        where = "rftConfig.hyperParameters" if kind is CustomizationType.REINFORCEMENT_FINE_TUNING else "none"
        raise invalid(f"hyperParameters are not supported for customization type {kind} (it takes {where}).")
    return strategy


def teacher_model_id(identifier: str) -> str:
    """The model or inference profile id a teacherModelIdentifier names (an id, or an ARN of either)."""
    foundation = FOUNDATION_ARN.fullmatch(identifier)
    if foundation:
        return foundation.group(1)
    profile = _INFERENCE_PROFILE_ARN.fullmatch(identifier)
    return profile.group(1) if profile else identifier


def _log_source(request: Mapping[str, Any], kind: CustomizationType) -> LogSource | None:
    data = request.get("trainingDataConfig") or {}
    logs = data.get("invocationLogsConfig")
    if not logs:
        required(data, "trainingDataConfig.s3Uri", key="s3Uri")
        return None
    if data.get("s3Uri"):
        raise invalid("trainingDataConfig takes either s3Uri or invocationLogsConfig, not both.")
    if kind not in (CustomizationType.DISTILLATION, CustomizationType.REINFORCEMENT_FINE_TUNING):
        raise invalid(
            f"Invocation logs can be used as training data for distillation and reinforcement "
            f"fine-tuning only, not for customization type {kind}."
        )
    source = required(
        logs, "trainingDataConfig.invocationLogsConfig.invocationLogSource", key="invocationLogSource"
    )
    uri = required(source, "trainingDataConfig.invocationLogsConfig.invocationLogSource.s3Uri", key="s3Uri")
    filters = logs.get("requestMetadataFilters") or {}
    _check_filters(filters)
    return LogSource(str(uri), bool(logs.get("usePromptResponse", False)), filters)


def _check_filters(filters: Mapping[str, Any]) -> None:
    """RequestMetadataFilters is a union: one of equals, notEquals (one pair each), andAll or orAll (1 to 16
    filters of equals/notEquals): the user guide's "single operation Boolean operator"."""
    given = [name for name, value in filters.items() if value]
    if len(given) > 1:
        raise invalid("requestMetadataFilters is a union: use one of equals, notEquals, andAll or orAll.")
    for name in given:
        value = filters[name]
        if name in ("equals", "notEquals"):
            _one_pair(name, value)
        elif name in ("andAll", "orAll"):
            if not isinstance(value, list) or not 1 <= len(value) <= 16:
                raise invalid(f"requestMetadataFilters.{name} takes 1 to 16 filters.")
            for base in value:
                members = [key for key in ("equals", "notEquals") if base.get(key)]
                if len(members) != 1:
                    raise invalid(
                        f"Each filter of requestMetadataFilters.{name} takes one of equals or notEquals."
                    )
                _one_pair(f"{name}.{members[0]}", base[members[0]])
        else:
            raise invalid(f"Unknown request metadata filter {name}.")


def _one_pair(name: str, value: Any) -> None:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise invalid(f"requestMetadataFilters.{name} takes exactly one key and value.")


def _distillation(config: Mapping[str, Any], row: ModelCapabilities, logs: LogSource | None) -> JobStrategy:
    settings = config.get("distillationConfig")
    if not settings:
        raise invalid(
            "customizationConfig.distillationConfig is required for customization type DISTILLATION."
        )
    teacher_config = required(
        settings, "customizationConfig.distillationConfig.teacherModelConfig", key="teacherModelConfig"
    )
    identifier = required(teacher_config, "teacherModelIdentifier")
    if not isinstance(identifier, str) or not TEACHER_IDENTIFIER.fullmatch(identifier):
        raise invalid(
            f"1 validation error detected: Value '{identifier}' at 'teacherModelIdentifier' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: "
            f"{TEACHER_IDENTIFIER.pattern}"
        )
    teacher = teacher_model_id(identifier)
    if teacher not in row.teachers:
        supported = ", ".join(row.teachers) or "none"
        raise invalid(
            f"The teacher model {identifier} cannot be distilled into {row.name} ({row.model_id}). "
            f"Supported teacher models: {supported}."
        )
    length = teacher_config.get("maxResponseLengthForInference")
    if length is not None and (not isinstance(length, int) or length < 1):
        raise invalid(f"maxResponseLengthForInference must be a positive number of tokens, not {length}.")
    return JobStrategy(CustomizationType.DISTILLATION, teacher=teacher, max_response_tokens=length, logs=logs)


def _reinforcement(config: Mapping[str, Any], logs: LogSource | None) -> JobStrategy:
    settings = config.get("rftConfig")
    if not settings:
        raise invalid(
            "customizationConfig.rftConfig is required for customization type REINFORCEMENT_FINE_TUNING."
        )
    grader = (settings.get("graderConfig") or {}).get("lambdaGrader")
    if not grader:
        raise invalid(
            "rftConfig.graderConfig.lambdaGrader is required: the grader Lambda function that rewards "
            "the model's responses."
        )
    arn = required(grader, "rftConfig.graderConfig.lambdaGrader.lambdaArn", key="lambdaArn")
    if not isinstance(arn, str) or len(arn) > 512 or not LAMBDA_ARN.fullmatch(arn):
        raise invalid(
            f"1 validation error detected: Value '{arn}' at 'lambdaArn' failed to satisfy constraint: Member "
            f"must satisfy regular expression pattern: {LAMBDA_ARN.pattern}"
        )
    hyper = dict(settings.get("hyperParameters") or {})
    problems = [problem for name, value in hyper.items() if (problem := _rft_problem(name, value))]
    if problems:
        raise invalid("Invalid hyperparameters: " + "; ".join(problems) + ".")
    return JobStrategy(
        CustomizationType.REINFORCEMENT_FINE_TUNING, grader_arn=arn, rft={**RFT_DEFAULTS, **hyper}, logs=logs
    )


def _rft_problem(name: str, value: Any) -> str | None:
    if name == "reasoningEffort":
        return (
            None
            if value in REASONING_EFFORTS
            else f"reasoningEffort must be one of {', '.join(REASONING_EFFORTS)}"
        )
    if name not in RFT_HYPERPARAMETERS:
        return f"{name} is not a reinforcement fine-tuning hyperparameter"
    low, high, kind = RFT_HYPERPARAMETERS[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
        return f"{name} must be {'an integer' if kind is int else 'a number'}, not {value!r}"
    if (low is not None and value < low) or (high is not None and value > high):
        return f"{name}={value} is outside the range {low:g} to {high:g}"
    if low is None and value < 1:
        return f"{name}={value} must be positive"
    return None
