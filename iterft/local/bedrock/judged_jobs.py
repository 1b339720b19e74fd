"""What the evaluation-job stand-in checks of a judged (LLM-as-a-judge) job's request as Bedrock does, and
where such a job's answers and outputs are: the evaluator, custom metrics, judge metric names, the
precomputed responses (`modelResponses`) of its dataset."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from iterft_runtime.models import capabilities
from iterft_runtime.models.metrics import BUILTIN_METRICS

from iterft.local.bedrock.requests import JobDataError, invalid, required, required_pattern
from iterft.local.standin_evaluation import JUDGED_METRIC_NAMES, METRIC_NAMES

METRIC_NAME_PATTERN = re.compile(r"[0-9a-zA-Z-_.]+")
EVALUATOR_MODEL_ID = re.compile(
    r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:((:foundation-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}"
    r"([.:]?[a-z0-9-]{1,63}))|([0-9]{12}:inference-profile/(([a-z-]{2,8}.)[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}"
    r"([.:]?[a-z0-9-]{1,63})))))$|(^[a-z0-9-]+[.][a-z0-9-]+([.][a-z0-9-]+)*(:[a-z0-9-]+)?$)|^[a-z0-9-]{1,63}"
    r"[.]{1}[a-z0-9-]{1,63}([a-z0-9-]{1,63}[.]){0,2}[a-z0-9-]{1,63}([:][a-z0-9-]{1,63}){0,2}(/[a-z0-9]{12}|)"
)
ALL_JUDGED = frozenset(metric.builtin for metric in BUILTIN_METRICS.values() if metric.judged)


def judged_config(config: Mapping[str, Any]) -> bool:
    """Whether the job is judged (an evaluator model grades): refuses what the stand-in does not run."""
    if "automated" not in config:
        raise invalid("The stand-in implements automated evaluation jobs only (evaluationConfig.automated).")
    automated = config["automated"]
    return bool(automated.get("evaluatorModelConfig") or automated.get("customMetricConfig"))


def check_evaluator(config: Mapping[str, Any] | None, kind: str) -> None:
    """One evaluator model (botocore: exactly one), matching botocore's pattern, and one Bedrock's
    evaluation-judge page lists for `kind` (builtin or custom metrics)."""
    models = (config or {}).get("bedrockEvaluatorModels") or []
    where = "customMetricConfig.evaluatorModelConfig" if kind == "custom" else "evaluatorModelConfig"
    if len(models) != 1:
        raise invalid(
            f"{where}.bedrockEvaluatorModels must hold exactly 1 evaluator model, not {len(models)}."
        )
    identifier = required(models[0], f"{where}.bedrockEvaluatorModels.modelIdentifier", key="modelIdentifier")
    if (
        not isinstance(identifier, str)
        or len(identifier) > 2048
        or not EVALUATOR_MODEL_ID.fullmatch(identifier)
    ):
        raise invalid(
            f"1 validation error detected: Value '{identifier}' at '{where}.bedrockEvaluatorModels."
            f"modelIdentifier' failed to satisfy constraint: Member must satisfy regular expression pattern: "
            f"{EVALUATOR_MODEL_ID.pattern}."
        )
    model_id = identifier.rsplit("/", 1)[-1] if identifier.startswith("arn:") else identifier
    evaluator = capabilities.evaluator(model_id)
    if evaluator is None or not (evaluator.custom if kind == "custom" else evaluator.builtin):
        metrics = "custom metrics" if kind == "custom" else "built-in metrics"
        raise invalid(f"The model {identifier} is not supported as an evaluator model for {metrics}.")


def check_custom_metric(item: Mapping[str, Any]) -> str:
    """One custom metric (a union: `customMetricDefinition`), within botocore's limits; its name."""
    if set(item) != {"customMetricDefinition"}:
        raise invalid("customMetrics: each item is exactly one customMetricDefinition.")
    definition = item["customMetricDefinition"]
    name = required_pattern(definition, "name", METRIC_NAME_PATTERN)
    instructions = required(definition, "customMetricDefinition.instructions", key="instructions")
    if not isinstance(instructions, str) or not 1 <= len(instructions) <= 5000:
        raise invalid(
            f"1 validation error detected: Value at 'customMetricDefinition.instructions' of metric {name} "
            "failed to satisfy constraint: Member must have length less than or equal to 5000."
        )
    scale = definition.get("ratingScale")
    if scale is None:
        raise invalid(
            f"The stand-in needs a rating scale for custom metric {name}: without one Bedrock reports "
            "explanations only, which the stand-in does not write (a stand-in limitation)."
        )
    if not 1 <= len(scale) <= 10:
        raise invalid(f"The rating scale of custom metric {name} must hold 1 to 10 items, not {len(scale)}.")
    for level in scale:
        definition_text = required(level, "ratingScale.definition", key="definition")
        if not isinstance(definition_text, str) or len(definition_text) > 100:
            raise invalid(f"A rating definition of custom metric {name} is longer than 100 characters.")
        value = required(level, "ratingScale.value", key="value")
        if len(value) != 1 or not {"floatValue", "stringValue"} >= set(value):
            raise invalid(
                f"A rating value of custom metric {name} is exactly one of floatValue and stringValue."
            )
        if "stringValue" in value:
            raise invalid(
                f"The stand-in grades numeric rating scales only (floatValue): custom metric {name} uses "
                "stringValue (a stand-in limitation)."
            )
    return str(name)


def check_judged_metric_names(
    metric_names: list[str], custom: set[str], automated: Mapping[str, Any]
) -> None:
    """A judged job's metric names: Bedrock's built-in judge metrics (with their evaluator), the custom
    metrics it defines (with theirs); the stand-in grades only some built-in judge metrics."""
    for name in metric_names:
        if name in custom:
            continue
        if name in METRIC_NAMES:
            raise invalid(
                f"{name} is a metric of programmatic model evaluation jobs; a job with an evaluator model "
                "takes the judge metrics (Builtin.Correctness, ...) and its custom metrics."
            )
        if name not in ALL_JUDGED:
            raise invalid(
                f"Unknown metric {name}: no built-in judge metric, and no custom metric of the job has it."
            )
        if not automated.get("evaluatorModelConfig"):
            raise invalid(
                f"{name} needs evaluationConfig.automated.evaluatorModelConfig (its evaluator model)."
            )
        if name not in JUDGED_METRIC_NAMES:
            raise invalid(
                f"The stand-in's evaluator does not grade {name}; it grades {', '.join(JUDGED_METRIC_NAMES)} "
                "(a stand-in limitation, not Bedrock's)."
            )


def precomputed_responses(records: list[dict[str, Any]], source: str, uri: str) -> list[str]:
    """Each record's own response for a precomputed source: `modelResponses` holds exactly one response
    (a judged job takes one response a prompt), named by the job's one `inferenceSourceIdentifier`
    (model-evaluation-prompt-datasets-judge); a record that does not fails the job, naming its line."""
    responses = []
    for number, record in enumerate(records, start=1):
        given = record.get("modelResponses")
        if not isinstance(given, list) or len(given) != 1 or not isinstance(given[0], dict):
            raise JobDataError(
                f"Line {number} of the prompt dataset {uri} needs modelResponses with exactly one response: "
                "an "
                "evaluation job that uses a model as a judge takes one model response for each prompt."
            )
        response, identifier = given[0].get("response"), given[0].get("modelIdentifier")
        if not isinstance(response, str):
            raise JobDataError(f'Line {number} of the prompt dataset {uri} has no "response" string.')
        if identifier != source:
            raise JobDataError(
                f"Line {number} of the prompt dataset {uri} names modelIdentifier {identifier!r}; the job's "
                f"precomputed inference source is {source!r}: every prompt must use that one identifier."
            )
        responses.append(response)
    return responses
