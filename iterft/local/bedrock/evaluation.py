"""Automated model evaluation jobs of the Bedrock stand-in: Create, Get (by ARN), List, Stop.

Programmatic jobs: task type QuestionAndAnswer, the built-in metrics Accuracy, Robustness and Toxicity.
Judged (LLM-as-a-judge) jobs: task type General, an evaluator model, the built-in judge metrics the
stand-in grades and custom metrics, over a Bedrock model or precomputed inference (the dataset's
`modelResponses`). Scores by `iterft.local.standin_evaluation`. A job runs on its first Get (or after
`set_evaluation_job_polls_in_progress` polls): every model answers every prompt through the serving path
Converse uses (a precomputed source's answers are read from the dataset), and the scored answers are
written where Bedrock writes them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from iterft_runtime.logic.managed_evaluation import MAX_PROMPTS
from iterft_runtime.models.capabilities import EVALUABLE_MODEL_ID

from iterft.local.bedrock.core import StandInCore
from iterft.local.bedrock.judged_jobs import (
    ALL_JUDGED,
    check_custom_metric,
    check_evaluator,
    check_judged_metric_names,
    judged_config,
    precomputed_responses,
)
from iterft.local.bedrock.requests import (
    FOUNDATION_ARN,
    ROLE_ARN,
    BedrockError,
    JobDataError,
    conflict,
    due,
    error_message,
    filtered,
    invalid,
    not_found,
    now,
    paged,
    required,
    required_pattern,
    take_failure,
    with_token,
)
from iterft.local.bedrock.runtime import reply
from iterft.local.iam import acting_as, check_as_current
from iterft.local.standin_evaluation import (
    METRIC_NAMES,
    judged_scores,
    score_record,
)
from iterft.local.standin_model import StandInModel

EVALUATION_OUTPUT_KEY = (
    "{job_name}/{job_id}/models/{model}/taskTypes/{task_type}/datasets/{dataset}/{file_id}_output.jsonl"
)

_EVALUATION_JOB_NAME = re.compile(r"[a-z0-9](-*[a-z0-9]){0,62}")
_EVALUATION_JOB_ARN = re.compile(
    r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:evaluation-job/[a-z0-9]{12}"
)
_EVALUATION_DATASET_NAME = re.compile(r"[0-9a-zA-Z-_.]+")
_SOURCE_IDENTIFIER = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9._-]){0,255}")
"""botocore's EvaluatorModelIdentifier pattern, verbatim."""
"""Every built-in judge metric Bedrock documents (botocore's metricNames documentation)."""
JUDGED_TASK_TYPE = "General"


@dataclass
class EvaluationJob:
    name: str
    arn: str
    job_id: str
    request: dict[str, Any]
    created: datetime
    polls_left: int
    injected_failure: str | None
    status: str = "InProgress"
    last_modified: datetime | None = None
    failure_messages: list[str] | None = None

    @property
    def model_identifiers(self) -> list[str]:
        return [
            model["bedrockModel"]["modelIdentifier"]
            for model in self.request["inferenceConfig"]["models"]
            if "bedrockModel" in model
        ]

    @property
    def precomputed_sources(self) -> list[str]:
        return [
            model["precomputedInferenceSource"]["inferenceSourceIdentifier"]
            for model in self.request["inferenceConfig"]["models"]
            if "precomputedInferenceSource" in model
        ]

    @property
    def automated(self) -> dict[str, Any]:
        automated: dict[str, Any] = self.request["evaluationConfig"]["automated"]
        return automated

    @property
    def evaluators(self) -> dict[str, str]:
        """The evaluator model of the built-in judge metrics and of the custom metrics (when set)."""
        found = {}
        for kind, config in (
            ("builtin", self.automated.get("evaluatorModelConfig")),
            ("custom", (self.automated.get("customMetricConfig") or {}).get("evaluatorModelConfig")),
        ):
            if config:
                found[kind] = str(config["bedrockEvaluatorModels"][0]["modelIdentifier"])
        return found

    @property
    def custom_metrics(self) -> dict[str, dict[str, Any]]:
        metrics = (self.automated.get("customMetricConfig") or {}).get("customMetrics") or []
        return {item["customMetricDefinition"]["name"]: item["customMetricDefinition"] for item in metrics}

    @property
    def metric_configs(self) -> list[dict[str, Any]]:
        configs: list[dict[str, Any]] = self.request["evaluationConfig"]["automated"]["datasetMetricConfigs"]
        return configs

    def end(self, status: str, failure_messages: list[str] | None = None) -> None:
        self.status, self.failure_messages, self.last_modified = status, failure_messages, now()

    def describe(self) -> dict[str, Any]:
        response: dict[str, Any] = {
            "jobArn": self.arn,
            "jobName": self.name,
            "roleArn": self.request["roleArn"],
            "status": self.status,
            "jobType": "Automated",
            "applicationType": "ModelEvaluation",
            "evaluationConfig": self.request["evaluationConfig"],
            "inferenceConfig": self.request["inferenceConfig"],
            "outputDataConfig": self.request["outputDataConfig"],
            "creationTime": self.created,
            "lastModifiedTime": self.last_modified or self.created,
        }
        optional = {
            "jobDescription": self.request.get("jobDescription"),
            "customerEncryptionKeyId": self.request.get("customerEncryptionKeyId"),
            "failureMessages": self.failure_messages if self.status == "Failed" else None,
        }
        response.update({key: value for key, value in optional.items() if value is not None})
        return response

    def summary(self) -> dict[str, Any]:
        return {
            "jobArn": self.arn,
            "jobName": self.name,
            "status": self.status,
            "creationTime": self.created,
            "jobType": "Automated",
            "evaluationTaskTypes": sorted({config["taskType"] for config in self.metric_configs}),
            "modelIdentifiers": self.model_identifiers,
            "inferenceConfigSummary": {
                "modelConfigSummary": {
                    "bedrockModelIdentifiers": self.model_identifiers,
                    "precomputedInferenceSourceIdentifiers": self.precomputed_sources,
                }
            },
            "applicationType": "ModelEvaluation",
        }


class EvaluationJobs(StandInCore):
    """The evaluation job operations."""

    def create_evaluation_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """CreateEvaluationJob: automated model evaluation (QuestionAndAnswer, built-in metrics) only."""
        self._check_throttle("CreateEvaluationJob")
        request = dict(request)
        with self._lock:
            name = required_pattern(request, "jobName", _EVALUATION_JOB_NAME)
            token = request.get("clientRequestToken")
            existing = self._evaluation_jobs.get(name)
            if existing is not None:
                if token and existing.request.get("clientRequestToken") == token:
                    return {"jobArn": existing.arn}
                raise conflict(f"An evaluation job named {name} already exists.")
            if token and any(
                job.request.get("clientRequestToken") == token for job in self._evaluation_jobs.values()
            ):
                raise conflict(f"Client request token {token} was used for another evaluation job.")
            required_pattern(request, "roleArn", ROLE_ARN, maximum=2048)
            application = request.setdefault("applicationType", "ModelEvaluation")
            if application != "ModelEvaluation":
                raise invalid(
                    f"The stand-in implements applicationType ModelEvaluation only, not {application}."
                )
            role = self._service_role(request, "evaluation job", name, self._arn(f"evaluation-job/{name}"))
            config = required(request, "evaluationConfig")
            judged = judged_config(config)
            if judged:
                self._checkjudged_config(config["automated"])
            with acting_as(role):
                try:
                    self._check_evaluation_config(config, judged)
                except ClientError as error:
                    raise invalid(f"Bedrock cannot use the job's dataset: {error_message(error)}") from None
            self._check_evaluation_models(required(request, "inferenceConfig"), judged)
            output_uri = required(
                request.get("outputDataConfig") or {}, "outputDataConfig.s3Uri", key="s3Uri"
            )
            if not self._bucket_exists(output_uri):
                raise invalid(
                    f"Unable to write to the output location {output_uri}: the bucket does not exist."
                )
            job_id = self._new_id("evaluation-job", name)
            job = EvaluationJob(
                name=name,
                arn=self._arn(f"evaluation-job/{job_id}"),
                job_id=job_id,
                request=request,
                created=now(),
                polls_left=self._evaluation_polls_in_progress,
                injected_failure=take_failure(self._evaluation_failures, name),
            )
            self._evaluation_jobs[name] = job
            self._tag(job.arn, request.get("jobTags"))
            return {"jobArn": job.arn}

    def _checkjudged_config(self, automated: Mapping[str, Any]) -> None:
        """An LLM-as-a-judge job: its evaluators (each one model Bedrock lists for what it judges) and its
        custom metric definitions, within botocore's limits."""
        custom_config = automated.get("customMetricConfig")
        if custom_config:
            custom = custom_config.get("customMetrics") or []
            if not 1 <= len(custom) <= 10:
                raise invalid(
                    f"1 validation error detected: Value at 'evaluationConfig.automated.customMetricConfig."
                    f"customMetrics' failed to satisfy constraint: Member must have length between 1 and 10 "
                    f"(it has {len(custom)}): an evaluation job takes up to 10 custom metrics."
                )
            names = [check_custom_metric(item) for item in custom]
            if len(set(names)) != len(names):
                raise invalid("Each custom metric of an evaluation job needs a unique name.")
            check_evaluator(custom_config.get("evaluatorModelConfig"), "custom")
        if automated.get("evaluatorModelConfig"):
            check_evaluator(automated["evaluatorModelConfig"], "builtin")

    def _check_evaluation_config(self, config: Mapping[str, Any], judged: bool) -> None:
        automated = config["automated"]
        custom = {
            item["customMetricDefinition"]["name"]
            for item in (automated.get("customMetricConfig") or {}).get("customMetrics") or []
        }
        metric_configs = automated.get("datasetMetricConfigs") or []
        if not 1 <= len(metric_configs) <= 5:
            raise invalid("evaluationConfig.automated.datasetMetricConfigs must hold 1 to 5 items.")
        for metric_config in metric_configs:
            task_type = required(metric_config, "datasetMetricConfigs.taskType", key="taskType")
            expected = JUDGED_TASK_TYPE if judged else "QuestionAndAnswer"
            if task_type != expected:
                raise invalid(
                    f"The stand-in evaluates taskType {expected} only in a"
                    f"{' judged' if judged else ' programmatic'} job, not {task_type} (a stand-in "
                    "limitation, not Bedrock's)."
                )
            dataset = required(metric_config, "datasetMetricConfigs.dataset", key="dataset")
            required_pattern(dataset, "name", _EVALUATION_DATASET_NAME)
            uri = (dataset.get("datasetLocation") or {}).get("s3Uri")
            if not uri:
                raise invalid(
                    f"Dataset {dataset['name']} has no datasetLocation.s3Uri: the stand-in has no built-in "
                    "datasets (Builtin.*), only custom prompt datasets in S3."
                )
            if self._read(uri) is None:
                raise invalid(f"Unable to read the dataset at {uri}: the object does not exist.")
            metric_names = metric_config.get("metricNames") or []
            if not metric_names:
                raise invalid("datasetMetricConfigs.metricNames must hold at least one metric.")
            if judged:
                check_judged_metric_names(metric_names, custom, automated)
                continue
            unknown = [name for name in metric_names if name not in METRIC_NAMES]
            if unknown:
                judge = " (a judge metric: it needs evaluatorModelConfig)" if unknown[0] in ALL_JUDGED else ""
                raise invalid(
                    f"Unknown metric {unknown[0]}{judge}: an automated evaluation job's metrics are "
                    f"{', '.join(METRIC_NAMES)}."
                )

    def _check_evaluation_models(self, inference: Mapping[str, Any], judged: bool) -> None:
        models = inference.get("models") or []
        if len(models) != 1:
            raise invalid(
                f"inferenceConfig.models holds {len(models)} models: for automated model evaluation jobs, "
                "only a single model is supported."
            )
        for model in models:
            if len(model) != 1:
                raise invalid(
                    "inferenceConfig.models: a model is exactly one of bedrockModel and "
                    "precomputedInferenceSource."
                )
            if "precomputedInferenceSource" in model:
                if not judged:
                    raise invalid(
                        "Precomputed inference (your own inference responses) is graded by a judge: it needs "
                        "evaluatorModelConfig or customMetricConfig, not a programmatic job's metrics."
                    )
                required_pattern(
                    model["precomputedInferenceSource"],
                    "inferenceSourceIdentifier",
                    _SOURCE_IDENTIFIER,
                    maximum=256,
                )
                continue
            if "bedrockModel" not in model:
                raise invalid(
                    "inferenceConfig.models: a model needs bedrockModel or precomputedInferenceSource."
                )
            identifier = required(
                model["bedrockModel"],
                "inferenceConfig.models.bedrockModel.modelIdentifier",
                key="modelIdentifier",
            )
            if (
                not isinstance(identifier, str)
                or len(identifier) > 2048
                or not EVALUABLE_MODEL_ID.fullmatch(identifier)
            ):
                hint = (
                    " A custom model is evaluated through its provisioned throughput's ARN."
                    if ":custom-model" in str(identifier)
                    else ""
                )
                raise invalid(
                    f"1 validation error detected: Value '{identifier}' at "
                    "'inferenceConfig.models.bedrockModel.modelIdentifier' failed to satisfy constraint: "
                    f"Member must satisfy regular expression pattern: {EVALUABLE_MODEL_ID.pattern}.{hint}"
                )
            if ":provisioned-model/" in identifier:
                if identifier not in self._throughputs:
                    raise not_found(f"Provisioned model {identifier} not found.")
            elif identifier.startswith("arn:") and not FOUNDATION_ARN.fullmatch(identifier):
                raise invalid(
                    f"The stand-in cannot evaluate {identifier}: it evaluates foundation models and "
                    "provisioned throughput only."
                )
            else:
                self._serving(identifier)  # refuses what on-demand inference cannot call

    def _find_evaluation_job(self, identifier: str) -> EvaluationJob:
        if not _EVALUATION_JOB_ARN.fullmatch(identifier):
            raise invalid(
                f"1 validation error detected: Value '{identifier}' at 'jobIdentifier' failed to satisfy "
                f"constraint: Member must satisfy regular expression pattern: {_EVALUATION_JOB_ARN.pattern}."
            )
        job = next((job for job in self._evaluation_jobs.values() if job.arn == identifier), None)
        if job is None:
            raise not_found(f"Evaluation job {identifier} not found.")
        return job

    def get_evaluation_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("GetEvaluationJob")
        with self._lock:
            job = self._find_evaluation_job(required(request, "jobIdentifier"))
            if job.status == "Stopping":
                job.end("Stopped")
            elif job.status == "InProgress" and due(job):
                self._run_evaluation(job)
            return job.describe()

    def _run_evaluation(self, job: EvaluationJob) -> None:
        with self._as_job_role(job.request, "evaluation job", job.name, lambda why: job.end("Failed", [why])):
            self._evaluate(job)

    def _evaluate(self, job: EvaluationJob) -> None:
        """Answer every prompt with every model (or read a precomputed source's answers from the dataset),
        score the answers, write Bedrock's output files."""
        if job.injected_failure is not None:
            job.end("Failed", [job.injected_failure])
            return
        outputs: dict[str, str] = {}
        judged = bool(job.evaluators)
        try:
            for evaluator in job.evaluators.values():
                check_as_current("bedrock-runtime", "InvokeModel", {"modelId": evaluator}, self.region_name)
            for metric_config in job.metric_configs:
                dataset, names = metric_config["dataset"], list(metric_config["metricNames"])
                uri = dataset["datasetLocation"]["s3Uri"]
                records = self._evaluation_records(uri, [] if judged else names)

                for identifier in job.model_identifiers:
                    check_as_current(
                        "bedrock-runtime", "InvokeModel", {"modelId": identifier}, self.region_name
                    )
                    model = self._evaluation_model(identifier)
                    outputs[_output_key(job, metric_config, identifier.rsplit("/", 1)[-1])] = "".join(
                        json.dumps(self._evaluated(job, record, identifier, model, names)) + "\n"
                        for record in records
                    )
                for source in job.precomputed_sources:
                    responses = precomputed_responses(records, source, uri)
                    outputs[_output_key(job, metric_config, source)] = "".join(
                        json.dumps(
                            {
                                "automatedEvaluationResult": {
                                    "scores": judged_scores(
                                        record, response, names, job.custom_metrics, job.evaluators
                                    )
                                },
                                "inputRecord": record,
                            }
                        )
                        + "\n"
                        for record, response in zip(records, responses, strict=True)
                    )
        except JobDataError as error:
            job.end("Failed", [str(error)])
            return
        for key, body in outputs.items():
            self._write(job.request["outputDataConfig"]["s3Uri"], key, body)
        job.end("Completed")

    def _model_arn(self, identifier: str) -> str:
        """The model as Bedrock's evaluation output names it: its ARN (a foundation model's, for an id)."""
        return identifier if identifier.startswith("arn:") else self._foundation_arn(identifier)

    def _evaluated(
        self,
        job: EvaluationJob,
        record: dict[str, Any],
        identifier: str,
        model: StandInModel,
        metric_names: list[str],
    ) -> dict[str, Any]:
        """One output line: the record's scores, the record, and the model's answer."""
        answer = reply(model, record["prompt"])
        if job.evaluators:
            scores = judged_scores(record, answer, metric_names, job.custom_metrics, job.evaluators)
        else:
            scores = score_record(record, answer, metric_names, lambda prompt: reply(model, prompt))
        return {
            "automatedEvaluationResult": {"scores": scores},
            "inputRecord": record,
            "modelResponses": [{"response": answer, "modelIdentifier": self._model_arn(identifier)}],
        }

    def _evaluation_records(self, uri: str, metric_names: list[str]) -> list[dict[str, Any]]:
        """The prompt dataset's records; a reference response is required by Accuracy and Robustness."""
        data = self._read(uri)
        if data is None:
            raise JobDataError(f"Unable to read the prompt dataset {uri}: the object no longer exists.")
        try:
            lines = [line for line in data.decode("utf-8").splitlines() if line.strip()]
        except UnicodeDecodeError:
            raise JobDataError(f"The prompt dataset {uri} is not UTF-8 text.") from None
        if len(lines) > MAX_PROMPTS:
            raise JobDataError(
                f"The prompt dataset {uri} holds {len(lines)} prompts; at most {MAX_PROMPTS} are allowed."
            )
        needs_reference = any(name != "Builtin.Toxicity" for name in metric_names)
        records = []
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except ValueError:
                raise JobDataError(f"Line {number} of the prompt dataset {uri} is not valid JSON.") from None
            if (
                not isinstance(record, dict)
                or not isinstance(record.get("prompt"), str)
                or not record["prompt"]
            ):
                raise JobDataError(f'Line {number} of the prompt dataset {uri} has no "prompt" string.')
            if needs_reference and not isinstance(record.get("referenceResponse"), str):
                raise JobDataError(
                    f'Line {number} of the prompt dataset {uri} has no "referenceResponse" string, which '
                    "Builtin.Accuracy and Builtin.Robustness need."
                )
            records.append(record)
        return records

    def _evaluation_model(self, identifier: str) -> StandInModel:
        """What answers the job's prompts for `identifier`: the serving path Converse uses."""
        throughput = self._throughputs.get(identifier)
        if ":provisioned-model/" in identifier and throughput is None:
            raise JobDataError(f"Provisioned model {identifier} no longer exists.")
        if throughput is not None and throughput.status not in ("InService", "Updating"):
            raise JobDataError(
                f"Provisioned model {identifier} is not in service: its status is {throughput.status}."
            )
        try:
            return self._serving(identifier)[0]
        except BedrockError as error:
            raise JobDataError(f"Model {identifier} cannot be invoked: {error.message}") from None

    def list_evaluation_jobs(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("ListEvaluationJobs")
        with self._lock:
            sort_by = request.get("sortBy") or "CreationTime"
            if sort_by != "CreationTime":
                raise invalid(f"Invalid sortBy: {sort_by}.")
            jobs = filtered(
                self._evaluation_jobs.values(),
                request,
                created=lambda job: job.created,
                filters={
                    "statusEquals": lambda job, value: job.status == value,
                    "nameContains": lambda job, value: value in job.name,
                    "applicationTypeEquals": lambda job, value: value == "ModelEvaluation",
                },
            )
            page, token = paged(jobs, request)
            return with_token({"jobSummaries": [job.summary() for job in page]}, token)

    def stop_evaluation_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("StopEvaluationJob")
        with self._lock:
            job = self._find_evaluation_job(required(request, "jobIdentifier"))
            if job.status != "InProgress":
                raise invalid(f"Evaluation job {job.name} cannot be stopped: its status is {job.status}.")
            job.end("Stopping")
            return {}


def _output_key(job: EvaluationJob, metric_config: Mapping[str, Any], model: str) -> str:
    """Where Bedrock writes one model's (or precomputed source's) results for one dataset."""
    dataset = metric_config["dataset"]["name"]
    return EVALUATION_OUTPUT_KEY.format(
        job_name=job.name,
        job_id=job.job_id,
        model=model,
        task_type=metric_config["taskType"],
        dataset=dataset,
        file_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{job.arn}/{model}/{dataset}"),
    )
