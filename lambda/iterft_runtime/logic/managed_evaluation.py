"""Bedrock's managed evaluation job (CreateEvaluationJob, automated) as a second evaluator beside the
pipeline's own scoring: a programmatic job (built-in accuracy, robustness, toxicity) or a judged one
(an evaluator model grades with Bedrock's LLM-as-a-judge metrics and the lineage's custom metrics).

Plain logic only: the job's prompt dataset, its request, how its status reads, and how its per-prompt
output becomes metrics. The job's built-in metrics join the lineage's yardstick as `bedrock_<name>`,
each overall and per category like every other metric, so any of them can be the primary metric or a
guard. Bedrock reports Robustness and Toxicity lower-is-better; the gate and the plateau rule read
every metric higher-is-better, so those two are recorded as `1 - result` (`bedrock_robustness`,
`bedrock_non_toxicity`) and Accuracy as it is (`bedrock_accuracy`).

Bedrock evaluates only what it can invoke by the identifiers its evaluation API accepts: foundation
models, inference profiles and provisioned throughput, but no custom model deployment
(`models/capabilities.EVALUABLE_MODEL_ID`). So a lineage may use the managed job only where its
evaluation capacity is provisioned throughput (the capability table's `managed_job_can_evaluate`,
checked at synth for the stack's region). An automated job
evaluates a single model: a round runs one job for the candidate, and one for the champion when the
champion must be scored again.

A judged job invokes no evaluated model: it grades "your own inference responses", the answers the
round's shards already collected, given in its dataset (`modelResponses`, one response a prompt, one
`modelIdentifier` a job, the same as the request's `precomputedInferenceSource.inferenceSourceIdentifier`:
the user guide's model-evaluation-prompt-datasets-judge page). So it works where the evaluation capacity
is an on-demand deployment (Nova), and it judges exactly the answers the other metrics scored. Its
results are 0..1 per built-in metric and the chosen rating's value per custom metric, normalised here over
the metric's scale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iterft_runtime.logic.evaluation import EvaluationItem
from iterft_runtime.models.lineage import ManagedJobConfig
from iterft_runtime.models.metrics import BUILTIN_METRICS

TASK_TYPE = "QuestionAndAnswer"
"""Our evaluation set is questions with reference answers: Bedrock's QuestionAndAnswer task."""
JUDGED_TASK_TYPE = "General"
"""The task type of every LLM-as-a-judge request in Bedrock's user guide (model-evaluation-built-in-metrics,
model-evaluation-custom-metrics-create-job). botocore's EvaluationTaskType enum does not list it
(Summarization, Classification, QuestionAndAnswer, Generation, Custom); botocore does not check enums, and
the guide's judge examples use nothing else."""
DATASET_NAME = "iterft-evaluation-set"
MAX_PROMPTS = 1_000
"""Bedrock's limit on prompts in one automated evaluation job's custom dataset."""
BUILTIN_PREFIX = "Builtin."


class ManagedEvaluationError(ValueError):
    """The managed evaluation cannot run or its output cannot be read; the message says which."""


def check_prompt_count(records: int) -> None:
    """Refuse a set Bedrock's job cannot take: checked by Validate (before training) and by Plan
    evaluation (before capacity), not first when the job is created."""
    if records > MAX_PROMPTS:
        raise ManagedEvaluationError(
            f"the evaluation set has {records} records; a Bedrock evaluation job takes at most "
            f"{MAX_PROMPTS} prompts (use a smaller set, or turn evaluation.managed_job off)"
        )


def dataset_records(items: Sequence[EvaluationItem]) -> list[dict[str, str]]:
    """The prompt dataset, one record per evaluation item in set order, in Bedrock's shape."""
    check_prompt_count(len(items))
    records = []
    for item in items:
        record = {"prompt": item.prompt, "referenceResponse": item.reference}
        if item.category is not None:
            record["category"] = item.category
        records.append(record)
    return records


def precomputed_records(
    items: Sequence[EvaluationItem], answers: Sequence[str], source: str
) -> list[dict[str, Any]]:
    """A judged job's dataset: each item with the answer the model gave it, as Bedrock takes your own
    inference responses (`modelResponses`: one response, named by the job's one `source`)."""
    if len(answers) != len(items):
        raise ManagedEvaluationError(f"{len(answers)} answers for {len(items)} evaluation records")
    records: list[dict[str, Any]] = []
    for record, answer in zip(dataset_records(items), answers, strict=True):
        records.append({**record, "modelResponses": [{"response": answer, "modelIdentifier": source}]})
    return records


def inference_source(job_name: str) -> str:
    """The label of the answers a judged job grades (`inferenceSourceIdentifier`, pattern
    `[a-zA-Z0-9]([a-zA-Z0-9._-]){0,255}`): the job's own name, which says whose answers of which round."""
    return job_name


def _request(
    *, job_name: str, role_arn: str, key_arn: str, output_uri: str, tags: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "jobName": job_name,
        "clientRequestToken": job_name,
        "roleArn": role_arn,
        "customerEncryptionKeyId": key_arn,
        "applicationType": "ModelEvaluation",
        "outputDataConfig": {"s3Uri": output_uri},
        "jobTags": [{"key": key, "value": value} for key, value in tags.items()],
    }


def job_request(
    *,
    job_name: str,
    role_arn: str,
    key_arn: str,
    dataset_uri: str,
    output_uri: str,
    metrics: Sequence[str],
    model: str,
    max_tokens: int,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """CreateEvaluationJob's request for a programmatic job: the set as a QuestionAndAnswer dataset, the
    lineage's built-in metrics, the one model (an automated job evaluates a single model), greedy decoding
    with the lineage's answer length, results encrypted with the stack's key. The job name doubles as the
    client request token, so a retried start returns the same job."""
    inference_params = json.dumps({"inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.0}})
    return {
        **_request(job_name=job_name, role_arn=role_arn, key_arn=key_arn, output_uri=output_uri, tags=tags),
        "evaluationConfig": {
            "automated": {
                "datasetMetricConfigs": [
                    {
                        "taskType": TASK_TYPE,
                        "dataset": {"name": DATASET_NAME, "datasetLocation": {"s3Uri": dataset_uri}},
                        "metricNames": [BUILTIN_METRICS[key].builtin for key in metrics],
                    }
                ]
            }
        },
        "inferenceConfig": {
            "models": [{"bedrockModel": {"modelIdentifier": model, "inferenceParams": inference_params}}]
        },
    }


def judged_job_request(
    *,
    job_name: str,
    role_arn: str,
    key_arn: str,
    dataset_uri: str,
    output_uri: str,
    managed: ManagedJobConfig,
    source: str,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """CreateEvaluationJob's request for a judged job over precomputed answers: the built-in judge metrics
    and the custom metrics by name (a custom metric is defined in `customMetricConfig` and named in
    `metricNames` too), the evaluator model for each (the built-in metrics' `evaluatorModelConfig`, the
    custom metrics' own), and as the one model, the precomputed source the dataset's responses name."""
    if not managed.judged or managed.evaluator_model is None:
        raise ManagedEvaluationError("a judged evaluation job needs an evaluator model and judged metrics")
    evaluators = {"bedrockEvaluatorModels": [{"modelIdentifier": managed.evaluator_model}]}
    automated: dict[str, Any] = {
        "datasetMetricConfigs": [
            {
                "taskType": JUDGED_TASK_TYPE,
                "dataset": {"name": DATASET_NAME, "datasetLocation": {"s3Uri": dataset_uri}},
                "metricNames": [
                    *(BUILTIN_METRICS[key].builtin for key in managed.metrics),
                    *(metric.name for metric in managed.custom_metrics),
                ],
            }
        ]
    }
    if managed.metrics:
        automated["evaluatorModelConfig"] = evaluators
    if managed.custom_metrics:
        automated["customMetricConfig"] = {
            "customMetrics": [
                {
                    "customMetricDefinition": {
                        "name": metric.name,
                        "instructions": metric.instructions,
                        "ratingScale": [
                            {"definition": level.definition, "value": {"floatValue": level.value}}
                            for level in metric.rating_scale
                        ],
                    }
                }
                for metric in managed.custom_metrics
            ],
            "evaluatorModelConfig": evaluators,
        }
    return {
        **_request(job_name=job_name, role_arn=role_arn, key_arn=key_arn, output_uri=output_uri, tags=tags),
        "evaluationConfig": {"automated": automated},
        "inferenceConfig": {
            "models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": source}}]
        },
    }


@dataclass(frozen=True)
class JobProgress:
    """What the poll loop needs: done and usable, ended without results, or still running."""

    ready: bool
    failed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "failed": self.failed, "reason": self.reason}


def jobs_progress(progresses: Sequence[JobProgress]) -> JobProgress:
    """The round's jobs together: ready when all are, failed when one is, else still running."""
    failed = [progress.reason for progress in progresses if progress.failed]
    if failed:
        return JobProgress(False, True, "; ".join(failed))
    pending = [progress.reason for progress in progresses if not progress.ready]
    if pending:
        return JobProgress(False, False, "; ".join(pending))
    return JobProgress(True, False, "; ".join(progress.reason for progress in progresses))


def job_progress(job_name: str, status: str, failure_messages: Sequence[str] = ()) -> JobProgress:
    """Completed is ready; Failed, Stopped (or stopping, deleted) ends the round; InProgress waits."""
    if status == "Completed":
        return JobProgress(True, False, f"evaluation job {job_name} completed")
    if status == "InProgress":
        return JobProgress(False, False, f"evaluation job {job_name} is in progress")
    detail = f": {'; '.join(failure_messages)}" if failure_messages else ""
    return JobProgress(False, True, f"evaluation job {job_name} ended {status}{detail}")


def is_output_key(key: str) -> bool:
    """A results file of a job: Bedrock's documented `<uuid>_output.jsonl`, or any other JSON Lines
    file it writes beside it (its guide also describes one file per metric)."""
    return key.endswith(".jsonl")


def job_output_prefix(output_prefix: str, job_name: str) -> str:
    """Where one job writes under the round's output location: `<output>/<job name>/<job id>/...`."""
    return f"{output_prefix.rstrip('/')}/{job_name}/"


@dataclass(frozen=True)
class ScoredMetric:
    """One metric a job reports: its yardstick name, the names its output may use, and how a result
    becomes a 0..1 higher-is-better score."""

    metric: str
    label: str
    """The name the request asks for it by."""
    names: frozenset[str]
    low: float = 0.0
    high: float = 1.0
    lower_is_better: bool = False

    def value(self, result: float) -> float:
        scaled = (result - self.low) / (self.high - self.low)
        return 1.0 - scaled if self.lower_is_better else scaled


def scored_metrics(managed: ManagedJobConfig) -> list[ScoredMetric]:
    """What the lineage's job reports: each built-in metric (named with or without `Builtin.`), each custom
    metric by its name, its rating normalised over its scale's lowest and highest value."""
    wanted = [
        ScoredMetric(
            builtin.metric,
            builtin.builtin,
            frozenset({builtin.builtin, builtin.builtin.removeprefix(BUILTIN_PREFIX)}),
            lower_is_better=builtin.lower_is_better,
        )
        for builtin in (BUILTIN_METRICS[key] for key in managed.metrics)
    ]
    for metric in managed.custom_metrics:
        values = [level.value for level in metric.rating_scale]
        wanted.append(
            ScoredMetric(metric.metric, metric.name, frozenset({metric.name}), min(values), max(values))
        )
    return wanted


def managed_scores(
    files: Iterable[Iterable[Mapping[str, Any]]], managed: ManagedJobConfig, items: Sequence[EvaluationItem]
) -> dict[str, tuple[float, ...]]:
    """Per metric, one score per evaluation item in item order, from one job's output files (each an
    iterable of records: `automatedEvaluationResult.scores`, `inputRecord`): the same shape as the
    pipeline's own per-item scores, so they are summarized, gated and written per record the same way.

    Within a file, a record is matched to its item by its input (prompt and reference; identical items
    in turn); the scores of the same item in several files are merged, so one file with every metric
    and one file per metric read alike. Every metric on every item is required: a partial job, or a
    result an evaluator left empty (`null`), is an error, not a smaller yardstick.
    """
    wanted = scored_metrics(managed)
    per_item: list[dict[str, float]] = [{} for _ in items]
    for records in files:
        by_input: dict[tuple[str, str], list[dict[str, float]]] = {}
        for record in records:
            results = _results_by_name(record)
            given = record.get("inputRecord") or {}
            key = (str(given.get("prompt")), str(given.get("referenceResponse")))
            scores = {m.metric: m.value(results[name]) for m in wanted for name in m.names if name in results}
            by_input.setdefault(key, []).append(scores)
        for index, item in enumerate(items):
            queue = by_input.get((item.prompt, item.reference))
            if queue:
                per_item[index].update(queue.pop(0))
        extra = sum(len(queue) for queue in by_input.values())
        if extra:
            raise ManagedEvaluationError(f"the job's output has {extra} record(s) beyond the set")
    for item, scores in zip(items, per_item, strict=True):
        missing = [m.label for m in wanted if m.metric not in scores]
        if missing:
            raise ManagedEvaluationError(
                f"the job's output has no {', '.join(missing)} score for line {item.line} of the set"
            )
    return {m.metric: tuple(scores[m.metric] for scores in per_item) for m in wanted}


def _results_by_name(record: Mapping[str, Any]) -> dict[str, float]:
    """`{metricName: result}` as the output names them; a result left null (the evaluator gave none) is
    left out, so it reads as missing."""
    found: dict[str, float] = {}
    for score in (record.get("automatedEvaluationResult") or {}).get("scores") or []:
        name, result = score.get("metricName"), score.get("result")
        if name is None or result is None:
            continue
        found[str(name)] = float(result)
    return found
