"""The Bedrock stand-in of the embedded default: the control plane the pipeline uses, and a runtime.

This is a stand-in, not Amazon Bedrock and not an LLM. Its "models" are the small retrieval and
bigram models of `iterft.local.standin_model`: a customization job really trains one on the job's
JSONL (read from moto's S3), starting from its base model's accumulated state, and writes the loss
figures that training measured where Bedrock writes them. Converse on a deployed custom model
answers from what that model learned; a foundation model knows none of the lineage's data, but
replies to a judge prompt (the judge metric's rubric prompt) with a grade it computes from how
similar the answer in the prompt is to the reference in it (`standin_model.judge_reply`).

It is registered into moto 5.2.5 by `install_bedrock_standin()`, so plain boto3 `bedrock` and
`bedrock-runtime` clients work against moto's server and under `mock_aws`. Its state lives in a
moto `BackendDict`, one `BedrockStandIn` per account and region, reset whenever moto resets.

Implemented (request and response members as in botocore's bedrock 2023-04-20 and bedrock-runtime
2023-09-30 models): model customization jobs (create, get by name or ARN, list, stop), custom models
(get, list, delete), custom model deployments and provisioned throughput (create, get, list, update,
delete), automated model evaluation jobs (create, get, list, stop: task type QuestionAndAnswer, the
built-in metrics Accuracy, Robustness and Toxicity, scored by `iterft.local.standin_evaluation`), tags
on those resources, and the runtime's Converse and InvokeModel. Every operation is
also a Python method of `BedrockStandIn` that takes the API request (camelCase) and returns the API
response, so an emulator adapter can call it directly.

What Bedrock refuses by model and region, it refuses by the same capability table synth checks
configs against (`iterft_runtime.models.capabilities`), in the backend's region and as of its date
(`set_today`, default today): a customization job whose base model cannot be customized (by that
customization type) in the region, or is past its end of life; a custom model deployment for a model
whose base has no on-demand deployment in the region, or that was customized before 2025-07-16;
provisioned throughput for a model without it in the region; an on-demand call to a foundation model
past its end of life. Capacity bought before an end of life keeps answering (the guide is silent).

Lifecycles, so pollers see real transitions: a job reports InProgress until the first
GetModelCustomizationJob (or as many as `set_job_polls_in_progress` says), which trains the model
and reports Completed or Failed. An evaluation job likewise runs on the first GetEvaluationJob (or
after `set_evaluation_job_polls_in_progress` polls): every model answers every prompt through the
serving path Converse uses, and the scored answers are written where Bedrock writes them; a stopped
job reports Stopping until the next Get, then Stopped. A deployment reports Creating on its first
Get and Active from the second; an update reports Updating once, then UpdateCompleted. Provisioned
throughput reports Creating (or Updating) once, then InService.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import moto.bedrock.urls as bedrock_urls
import moto.bedrockruntime.urls as bedrockruntime_urls
from botocore.exceptions import ClientError
from iterft_runtime.logic.hyperparameters import check_hyperparameters
from iterft_runtime.logic.managed_evaluation import MAX_PROMPTS
from iterft_runtime.models import capabilities
from iterft_runtime.models.capabilities import (
    EVALUABLE_MODEL_ID,
    CustomizationType,
    ModelCapabilities,
)
from iterft_runtime.models.families import ModelFamily, family_for_model
from moto.bedrock.responses import BedrockResponse
from moto.bedrockruntime.responses import BedrockRuntimeResponse
from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends

from iterft.local.account_standin import account_backend, install_service_quotas_standin
from iterft.local.iam import AccessDenied, Principal, acting_as, authorize_assume_role, check_as_current
from iterft.local.standin_evaluation import METRIC_NAMES, score_record
from iterft.local.standin_model import (
    DataFormatError,
    Pair,
    StandInModel,
    TrainingReport,
    first_tokens,
    judge_reply,
    pairs_from_jsonl,
    token_count,
)

DEFAULT_BATCH_SIZE = 8
"""Batch size of the stand-in's training for families without a batchSize hyperparameter (Nova)."""

TRAINING_METRICS_KEY = "model-customization-job-{job_id}/training_artifacts/step_wise_training_metrics.csv"
VALIDATION_METRICS_KEY = (
    "model-customization-job-{job_id}/validation_artifacts/post_fine_tuning_validation/validation/"
    "validation_metrics.csv"
)

EVALUATION_OUTPUT_KEY = (
    "{job_name}/{job_id}/models/{model}/taskTypes/{task_type}/datasets/{dataset}/{file_id}_output.jsonl"
)

_EVALUATION_JOB_NAME = re.compile(r"[a-z0-9](-*[a-z0-9]){0,62}")
_EVALUATION_JOB_ARN = re.compile(
    r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:evaluation-job/[a-z0-9]{12}"
)
_EVALUATION_DATASET_NAME = re.compile(r"[0-9a-zA-Z-_.]+")
_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*")
_RESOURCE_NAME = re.compile(r"([0-9a-zA-Z][_-]?){1,63}")
_PROVISIONED_NAME = re.compile(r"([0-9a-zA-Z][_-]?)+")
_ROLE_ARN = re.compile(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+")
_S3_URI = re.compile(r"s3://([a-z0-9][-.a-z0-9]{1,61}[a-z0-9])(?:/(.*))?")
_FOUNDATION_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:[a-z0-9-]+::foundation-model/(.+)")
_CHAT_TEMPLATE_TOKEN = re.compile(r"<\|[^|>]*\|>")
_COMMITMENT_DAYS = {"OneMonth": 30, "SixMonths": 182}
_EMPTY_MODEL = StandInModel()
_INJECTED_MESSAGES = {
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ServiceQuotaExceededException": "The request would exceed a service quota of this account.",
    "InternalServerException": "An internal server error occurred. Retry your request.",
    "ServiceUnavailableException": "The service isn't currently available. Try again later.",
}

T = TypeVar("T")


class BedrockError(ServiceException):
    """An error as the service returns it: `code` is the exception's shape name in botocore's model."""


def _invalid(message: str) -> BedrockError:
    return BedrockError("ValidationException", message)


def _lookup(store: Mapping[str, T], identifier: str, other_id: Callable[[T], str]) -> T | None:
    """A resource by its key in `store`, else by its other identifier (the API takes either)."""
    return store.get(identifier) or next(
        (item for item in store.values() if other_id(item) == identifier), None
    )


def _job_role(request: Mapping[str, Any], kind: str, name: str) -> Principal:
    """Bedrock acting for a job, through the service role the job was given."""
    return Principal(str(request["roleArn"]), f"Bedrock, as the service role of {kind} {name}")


def _error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", error))


def _not_found(message: str) -> BedrockError:
    return BedrockError("ResourceNotFoundException", message)


def _conflict(message: str) -> BedrockError:
    return BedrockError("ConflictException", message)


END_OF_LIFE_MESSAGE = "This model version has reached the end of its life."
"""What Bedrock answers (ResourceNotFoundException) for a model past its end of life (its model card)."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Job:
    name: str
    arn: str
    job_id: str
    request: dict[str, Any]
    family: ModelFamily
    foundation_model_id: str
    base_arn: str
    parent: _CustomModel | None
    model_name: str
    model_arn: str
    created: datetime
    polls_left: int
    injected_failure: str | None
    status: str = "InProgress"
    last_modified: datetime | None = None
    ended: datetime | None = None
    failure_message: str | None = None
    report: TrainingReport | None = None

    def describe(self) -> dict[str, Any]:
        response: dict[str, Any] = {
            "jobArn": self.arn,
            "jobName": self.name,
            "outputModelName": self.model_name,
            "roleArn": self.request["roleArn"],
            "status": self.status,
            "creationTime": self.created,
            "lastModifiedTime": self.last_modified or self.created,
            "baseModelArn": self.base_arn,
            "hyperParameters": dict(self.request.get("hyperParameters") or {}),
            "trainingDataConfig": self.request["trainingDataConfig"],
            "validationDataConfig": self.request.get("validationDataConfig") or {"validators": []},
            "outputDataConfig": self.request["outputDataConfig"],
            "customizationType": self.request.get("customizationType", "FINE_TUNING"),
        }
        optional = {
            "clientRequestToken": self.request.get("clientRequestToken"),
            "vpcConfig": self.request.get("vpcConfig"),
            "failureMessage": self.failure_message,
            "endTime": self.ended,
        }
        response.update({key: value for key, value in optional.items() if value is not None})
        if self.status == "Completed" and self.report is not None:
            response["outputModelArn"] = self.model_arn
            response.update(_metrics(self.report))
        return response

    def summary(self) -> dict[str, Any]:
        described = self.describe()
        summary = {key: described[key] for key in ("jobArn", "baseModelArn", "jobName", "status")}
        summary.update(
            creationTime=self.created,
            lastModifiedTime=described["lastModifiedTime"],
            customModelName=self.model_name,
            customizationType=described["customizationType"],
        )
        if "endTime" in described:
            summary["endTime"] = described["endTime"]
        if "outputModelArn" in described:
            summary["customModelArn"] = described["outputModelArn"]
        return summary


@dataclass
class _CustomModel:
    name: str
    arn: str
    job: _Job
    model: StandInModel
    created: datetime
    customized_on: date
    """The stand-in's date when it was customized (on-demand deployment takes models from 2025-07-16)."""

    @property
    def foundation_model_id(self) -> str:
        return self.job.foundation_model_id

    @property
    def family(self) -> ModelFamily:
        return self.job.family

    def describe(self) -> dict[str, Any]:
        request = self.job.request
        response: dict[str, Any] = {
            "modelArn": self.arn,
            "modelName": self.name,
            "jobName": self.job.name,
            "jobArn": self.job.arn,
            "baseModelArn": self.job.base_arn,
            "customizationType": request.get("customizationType", "FINE_TUNING"),
            "hyperParameters": dict(request.get("hyperParameters") or {}),
            "trainingDataConfig": request["trainingDataConfig"],
            "outputDataConfig": request["outputDataConfig"],
            "creationTime": self.created,
            "modelStatus": "Active",
        }
        if request.get("validationDataConfig"):
            response["validationDataConfig"] = request["validationDataConfig"]
        if self.job.report is not None:
            response.update(_metrics(self.job.report))
        return response

    def summary(self, account_id: str) -> dict[str, Any]:
        parent = self.job.parent
        return {
            "modelArn": self.arn,
            "modelName": self.name,
            "creationTime": self.created,
            "baseModelArn": self.job.base_arn,
            "baseModelName": parent.name if parent else self.foundation_model_id,
            "customizationType": self.job.request.get("customizationType", "FINE_TUNING"),
            "ownerAccountId": account_id,
            "modelStatus": "Active",
        }


@dataclass
class _Deployment:
    name: str
    arn: str
    model_arn: str
    created: datetime
    client_request_token: str | None
    description: str | None
    status: str = "Creating"
    polls_left: int = 1
    updated: datetime | None = None
    update_model_arn: str | None = None
    update_status: str | None = None
    failure: str | None = None
    """Set by `fail_next_capacity`: the deployment ends Failed with this message instead of Active."""

    def advance(self) -> None:
        if self.status == "Creating":
            if self.polls_left:
                self.polls_left -= 1
            elif self.failure:
                self.status, self.updated = "Failed", _now()
            else:
                self.status, self.updated = "Active", _now()
        elif self.update_status == "Updating":
            if self.polls_left:
                self.polls_left -= 1
            else:
                assert self.update_model_arn is not None
                self.model_arn, self.update_status, self.updated = (
                    self.update_model_arn,
                    "UpdateCompleted",
                    _now(),
                )

    def describe(self) -> dict[str, Any]:
        response: dict[str, Any] = {
            "customModelDeploymentArn": self.arn,
            "modelDeploymentName": self.name,
            "modelArn": self.model_arn,
            "createdAt": self.created,
            "status": self.status,
            "lastUpdatedAt": self.updated or self.created,
        }
        if self.description:
            response["description"] = self.description
        if self.status == "Failed" and self.failure:
            response["failureMessage"] = self.failure
        if self.update_status:
            response["updateDetails"] = {
                "modelArn": self.update_model_arn,
                "updateStatus": self.update_status,
            }
        return response

    def summary(self) -> dict[str, Any]:
        return {
            "customModelDeploymentArn": self.arn,
            "customModelDeploymentName": self.name,
            "modelArn": self.model_arn,
            "createdAt": self.created,
            "status": self.status,
            "lastUpdatedAt": self.updated or self.created,
        }


@dataclass
class _Throughput:
    name: str
    arn: str
    model_arn: str
    foundation_arn: str
    model_units: int
    created: datetime
    client_request_token: str | None
    commitment: str | None
    status: str = "Creating"
    polls_left: int = 1
    desired_model_arn: str | None = None
    updated: datetime | None = None
    failure: str | None = None
    """Set by `fail_next_capacity`: the throughput ends Failed with this message instead of InService."""

    @property
    def commitment_expires(self) -> datetime | None:
        return self.created + timedelta(days=_COMMITMENT_DAYS[self.commitment]) if self.commitment else None

    def advance(self) -> None:
        if self.status in ("Creating", "Updating"):
            if self.polls_left:
                self.polls_left -= 1
            elif self.failure and self.status == "Creating":
                self.status, self.updated = "Failed", _now()
            else:
                self.model_arn = self.desired_model_arn or self.model_arn
                self.status, self.desired_model_arn, self.updated = "InService", None, _now()

    def summary(self) -> dict[str, Any]:
        response: dict[str, Any] = {
            "provisionedModelName": self.name,
            "provisionedModelArn": self.arn,
            "modelArn": self.model_arn,
            "desiredModelArn": self.desired_model_arn or self.model_arn,
            "foundationModelArn": self.foundation_arn,
            "modelUnits": self.model_units,
            "desiredModelUnits": self.model_units,
            "status": self.status,
            "creationTime": self.created,
            "lastModifiedTime": self.updated or self.created,
        }
        if self.commitment:
            response["commitmentDuration"] = self.commitment
            response["commitmentExpirationTime"] = self.commitment_expires
        if self.status == "Failed" and self.failure:
            response["failureMessage"] = self.failure
        return response


@dataclass
class _EvaluationJob:
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
            model["bedrockModel"]["modelIdentifier"] for model in self.request["inferenceConfig"]["models"]
        ]

    @property
    def metric_configs(self) -> list[dict[str, Any]]:
        return self.request["evaluationConfig"]["automated"]["datasetMetricConfigs"]

    def end(self, status: str, failure_messages: list[str] | None = None) -> None:
        self.status, self.failure_messages, self.last_modified = status, failure_messages, _now()

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
                "modelConfigSummary": {"bedrockModelIdentifiers": self.model_identifiers}
            },
            "applicationType": "ModelEvaluation",
        }


def _take_failure(injected: list[tuple[str, str]], name: str) -> str | None:
    """The message of the first injected failure whose match is in `name`, removed from `injected`."""
    for index, (match, message) in enumerate(injected):
        if match in name:
            del injected[index]
            return message
    return None


def _due(job: _Job | _EvaluationJob) -> bool:
    """Whether an InProgress job runs on this poll: once the polls it reports InProgress are used up."""
    if job.polls_left:
        job.polls_left -= 1
        return False
    return True


def _metrics(report: TrainingReport) -> dict[str, Any]:
    metrics: dict[str, Any] = {"trainingMetrics": {"trainingLoss": report.training_loss}}
    if report.validation_loss is not None:
        metrics["validationMetrics"] = [{"validationLoss": report.validation_loss}]
    return metrics


class BedrockStandIn(BaseBackend):
    """One account and region of the stand-in. Thread-safe: every operation holds the backend's lock."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self._lock = threading.RLock()
        self._jobs: dict[str, _Job] = {}
        self._models: dict[str, _CustomModel] = {}
        self._deployments: dict[str, _Deployment] = {}
        self._throughputs: dict[str, _Throughput] = {}
        self._tags: dict[str, dict[str, str]] = {}
        self._failures: list[tuple[str, str]] = []
        self._capacity_failures: list[tuple[str, str]] = []
        self._throttles: dict[str, list[str]] = {}
        self._lost_responses: dict[str, list[str]] = {}
        self._latency = 0.0
        self._job_polls_in_progress = 0
        self._remember_job_tokens = True
        self._evaluation_jobs: dict[str, _EvaluationJob] = {}
        self._evaluation_failures: list[tuple[str, str]] = []
        self._evaluation_polls_in_progress = 0
        self._deployment_polls_creating = 1
        self._sequence = 0
        self._today: date | None = None

    # Settings and fault injection -------------------------------------------------------------

    def reset(self) -> None:
        """Forget every resource and setting (moto does the same when it resets its backends)."""
        with self._lock:
            super().reset()

    def set_latency(self, seconds: float) -> None:
        """Make every runtime call take at least this long more (for latency benchmarks)."""
        if seconds < 0:
            raise ValueError("latency cannot be negative")
        with self._lock:
            self._latency = seconds

    def set_today(self, day: date | None) -> None:
        """The date end-of-life dates are checked against (None, the default: today, UTC)."""
        with self._lock:
            self._today = day

    def today(self) -> date:
        return self._today or _now().date()

    def set_job_polls_in_progress(self, polls: int) -> None:
        """How many GetModelCustomizationJob calls report InProgress before a new job trains (default 0)."""
        if polls < 0:
            raise ValueError("polls cannot be negative")
        with self._lock:
            self._job_polls_in_progress = polls

    def forget_job_tokens(self, forget: bool = True) -> None:
        """Whether CreateModelCustomizationJob stops recognising earlier client request tokens (default:
        it recognises them). Bedrock does not say how long it remembers a token; forgetting them shows what
        a retried create meets when its token is no longer recognised: ConflictException on the job name."""
        with self._lock:
            self._remember_job_tokens = not forget

    def set_evaluation_job_polls_in_progress(self, polls: int) -> None:
        """How many GetEvaluationJob calls report InProgress before a new evaluation job runs (default 0)."""
        if polls < 0:
            raise ValueError("polls cannot be negative")
        with self._lock:
            self._evaluation_polls_in_progress = polls

    def set_deployment_polls_creating(self, polls: int) -> None:
        """How many Get calls report Creating before a new deployment is Active or a new provisioned
        throughput InService (default 1, so pollers see the transition; a large number stands for
        capacity stuck)."""
        if polls < 0:
            raise ValueError("polls cannot be negative")
        with self._lock:
            self._deployment_polls_creating = polls

    def fail_next_job(self, match: str, message: str) -> None:
        """The next job created whose name contains `match` ends Failed with `message` and makes no model."""
        with self._lock:
            self._failures.append((match, message))

    def fail_next_evaluation_job(self, match: str, message: str) -> None:
        """The next evaluation job created whose name contains `match` ends Failed with `message`
        (its only failure message) and writes no output."""
        with self._lock:
            self._evaluation_failures.append((match, message))

    def fail_next_capacity(self, match: str, message: str) -> None:
        """The next custom model deployment or provisioned throughput created whose name contains
        `match` never comes into service: it reports Failed with `message` once its Creating polls end."""
        with self._lock:
            self._capacity_failures.append((match, message))

    def throttle_next(self, operation: str, times: int = 1, error: str = "ThrottlingException") -> None:
        """The next `times` calls of `operation` (an API name such as "Converse") fail with `error`."""
        with self._lock:
            self._throttles.setdefault(operation, []).extend([error] * times)

    def lose_next_response(
        self, operation: str, times: int = 1, error: str = "InternalServerException"
    ) -> None:
        """The next `times` calls of `operation` take effect, then answer `error` (a 5xx after the service
        acted: the caller cannot tell whether it did), unlike `throttle_next`, whose calls have no effect."""
        with self._lock:
            self._lost_responses.setdefault(operation, []).extend([error] * times)

    def check_lost_response(self, operation: str) -> None:
        """Raise the error `lose_next_response` queued for `operation`, if any (the call took effect)."""
        self._raise_injected(self._lost_responses, operation)

    def _check_throttle(self, operation: str) -> None:
        self._raise_injected(self._throttles, operation)

    def _raise_injected(self, queues: dict[str, list[str]], operation: str) -> None:
        with self._lock:
            queued = queues.get(operation)
            if queued:
                error = queued.pop(0)
                raise BedrockError(error, _INJECTED_MESSAGES.get(error, f"{operation} failed: {error}."))

    # Naming -------------------------------------------------------------------------------------

    def _arn(self, resource: str) -> str:
        return f"arn:{self.partition}:bedrock:{self.region_name}:{self.account_id}:{resource}"

    def _foundation_arn(self, model_id: str) -> str:
        return f"arn:{self.partition}:bedrock:{self.region_name}::foundation-model/{model_id}"

    def resource_arn(self, identifier: str) -> str | None:
        """The ARN of this stand-in's job, model or capacity named `identifier` (a name or an ARN), or None:
        what IAM checks a request naming it against."""
        with self._lock:
            for store in (self._jobs, self._models, self._evaluation_jobs):
                found = store.get(identifier)
                if found is not None:
                    return found.arn
            for capacity in (*self._deployments.values(), *self._throughputs.values()):
                if identifier in (capacity.name, capacity.arn):
                    return capacity.arn
        return None

    def served_model_arn(self, capacity_arn: str) -> str | None:
        """The custom model a deployment or provisioned throughput serves."""
        with self._lock:
            found = self._deployments.get(capacity_arn) or self._throughputs.get(capacity_arn)
            return found.model_arn if found is not None else None

    def _new_id(self, kind: str, name: str) -> str:
        """A 12-character resource id, as Bedrock's ARNs end with; deterministic for a given history."""
        self._sequence += 1
        seed = f"{self.account_id}/{self.region_name}/{kind}/{name}/{self._sequence}"
        return hashlib.sha256(seed.encode()).hexdigest()[:12]

    # S3 -----------------------------------------------------------------------------------------

    def _s3(self) -> Any:
        return s3_backends[self.account_id][self.partition]

    def _read(self, uri: str) -> bytes | None:
        """The object, read as the service role the thread acts as (its IAM is checked), or None."""
        bucket, key = _parse_s3_uri(uri)
        if not key:
            return None
        check_as_current("s3", "GetObject", {"Bucket": bucket, "Key": key}, self.region_name)
        try:
            found = self._s3().get_object(bucket, key)
        except MissingBucket:
            return None
        return None if found is None else found.value

    def _bucket_exists(self, uri: str) -> bool:
        try:
            self._s3().get_bucket(_parse_s3_uri(uri)[0])
        except MissingBucket:
            return False
        return True

    def _write(self, uri: str, relative_key: str, body: str) -> None:
        bucket, prefix = _parse_s3_uri(uri)
        prefix = prefix.strip("/")
        key = f"{prefix}/{relative_key}" if prefix else relative_key
        check_as_current("s3", "PutObject", {"Bucket": bucket, "Key": key}, self.region_name)
        self._s3().put_object(bucket, key, body.encode())

    def _service_role(self, request: Mapping[str, Any], kind: str, name: str, arn: str) -> Principal:
        """Bedrock acting as a job's service role: the role's trust policy must let Bedrock assume it for
        this job (aws:SourceAccount, aws:SourceArn), as it does before a job starts on AWS."""
        role_arn = str(request["roleArn"])
        context = {"aws:SourceAccount": self.account_id, "aws:SourceArn": arn}
        try:
            authorize_assume_role("bedrock.amazonaws.com", role_arn, context)
        except AccessDenied as error:
            raise _invalid(f"Bedrock could not assume the service role {role_arn}: {error}") from None
        return _job_role(request, kind, name)

    @contextlib.contextmanager
    def _as_job_role(
        self, request: Mapping[str, Any], kind: str, name: str, fail: Callable[[str], None]
    ) -> Iterator[None]:
        """Run a job's work as its service role: a request the role may not make fails the job, as on AWS."""
        with acting_as(_job_role(request, kind, name)):
            try:
                yield
            except ClientError as error:
                fail(_error_message(error))

    # Model customization jobs -------------------------------------------------------------------

    def create_model_customization_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("CreateModelCustomizationJob")
        request = dict(request)
        with self._lock:
            token = request.get("clientRequestToken") if self._remember_job_tokens else None
            for job in self._jobs.values():
                if token and job.request.get("clientRequestToken") == token:
                    if job.name != request.get("jobName"):
                        raise _conflict(f"Client request token {token} was used for another job, {job.name}.")
                    return {"jobArn": job.arn}
            job_name = _required_pattern(request, "jobName", _JOB_NAME)
            model_name = _required_pattern(request, "customModelName", _RESOURCE_NAME)
            _required_pattern(request, "roleArn", _ROLE_ARN, maximum=2048)
            customization = request.setdefault("customizationType", "FINE_TUNING")
            identifier = _required(request, "baseModelIdentifier")
            foundation_id, base_arn, parent = self._resolve_base(identifier)
            row = self._customizable(identifier, foundation_id, customization)
            if customization != CustomizationType.FINE_TUNING:
                raise _invalid(
                    f"The stand-in supports customizationType FINE_TUNING only, not {customization} (a "
                    "stand-in limitation, not Bedrock's)."
                )
            if row.family is None:
                raise _invalid(
                    f"The stand-in cannot train {row.name}: {row.note} (a stand-in limitation, not "
                    "Bedrock's)."
                )
            family = family_for_model(row.model_id)
            hyperparameters = {
                key: str(value) for key, value in (request.get("hyperParameters") or {}).items()
            }
            request["hyperParameters"] = hyperparameters
            problems = check_hyperparameters(family, hyperparameters)
            if problems:
                raise _invalid("Invalid hyperparameters: " + "; ".join(problems) + ".")
            job_arn_seen_by_iam = self._arn(f"model-customization-job/{foundation_id}/{job_name}")
            role = self._service_role(request, "customization job", job_name, job_arn_seen_by_iam)
            with acting_as(role):
                try:
                    self._check_job_data(request)
                except ClientError as error:
                    raise _invalid(f"Bedrock cannot use the job's data: {_error_message(error)}") from None
            if job_name in self._jobs:
                raise _conflict(f"A model customization job named {job_name} already exists.")
            if model_name in self._models or any(
                job.model_name == model_name and job.status == "InProgress" for job in self._jobs.values()
            ):
                raise _conflict(f"A custom model named {model_name} already exists.")
            job_id = self._new_id("model-customization-job", job_name)
            job = _Job(
                name=job_name,
                arn=self._arn(f"model-customization-job/{foundation_id}/{job_id}"),
                job_id=job_id,
                request=request,
                family=family,
                foundation_model_id=foundation_id,
                base_arn=base_arn,
                parent=parent,
                model_name=model_name,
                model_arn=self._arn(
                    f"custom-model/{foundation_id}/{self._new_id('custom-model', model_name)}"
                ),
                created=_now(),
                polls_left=self._job_polls_in_progress,
                injected_failure=_take_failure(self._failures, job_name),
            )
            self._jobs[job_name] = job
            self._tag(job.arn, request.get("jobTags"))
            return {"jobArn": job.arn}

    def _resolve_base(self, identifier: str) -> tuple[str, str, _CustomModel | None]:
        """(foundation model id, base model ARN, custom base model or None) of a baseModelIdentifier."""
        model = self._find_model(identifier)
        if model is not None:
            return model.foundation_model_id, model.arn, model
        if ":custom-model/" in identifier:
            raise _not_found(f"The base model {identifier} was not found.")
        foundation = _FOUNDATION_ARN.fullmatch(identifier)
        model_id = foundation.group(1) if foundation else identifier
        return model_id, self._foundation_arn(model_id), None

    def _customizable(self, identifier: str, foundation_id: str, customization: str) -> ModelCapabilities:
        """The capability table's row of a job's base model, refusing what Bedrock refuses: a model that
        cannot be customized (by this customization type) in this region, or one past its end of life."""
        row = capabilities.find(foundation_id)
        if row is None:
            raise _invalid(
                f"The base model {identifier} does not support customization. Customizable models: "
                f"{capabilities.known_models()}."
            )
        kinds = {kind.value: kind for kind in CustomizationType}
        kind = kinds.get(customization)
        if kind is None or not row.can_customize(self.region_name, kind):
            where = capabilities.regions_text(row.customization_regions(kind)) if kind else "no region"
            raise _invalid(
                f"The base model {identifier} does not support customization type {customization} in "
                f"{self.region_name}. It is supported in: {where}."
            )
        self._check_end_of_life(row)
        return row

    def _check_end_of_life(self, row: ModelCapabilities) -> None:
        if row.past_end_of_life(self.region_name, self.today()):
            raise BedrockError("ResourceNotFoundException", END_OF_LIFE_MESSAGE)

    def _capabilities_of(self, model: _CustomModel) -> ModelCapabilities:
        row = capabilities.find(model.foundation_model_id)
        assert row is not None, model.foundation_model_id  # the stand-in trained it, so the table knows it
        return row

    def _check_job_data(self, request: Mapping[str, Any]) -> None:
        training_uri = _required(
            request.get("trainingDataConfig") or {}, "trainingDataConfig.s3Uri", key="s3Uri"
        )
        if self._read(training_uri) is None:
            raise _invalid(f"Unable to read the training data at {training_uri}: the object does not exist.")
        validators = (request.get("validationDataConfig") or {}).get("validators") or []
        if len(validators) > 1:
            raise _invalid("Only one validation dataset is supported.")
        for validator in validators:
            uri = _required(validator, "validationDataConfig.validators.s3Uri", key="s3Uri")
            if self._read(uri) is None:
                raise _invalid(f"Unable to read the validation data at {uri}: the object does not exist.")
        output_uri = _required(request.get("outputDataConfig") or {}, "outputDataConfig.s3Uri", key="s3Uri")
        if not self._bucket_exists(output_uri):
            raise _invalid(f"Unable to write to the output location {output_uri}: the bucket does not exist.")

    def _find_job(self, identifier: str) -> _Job:
        job = _lookup(self._jobs, identifier, lambda item: item.arn)
        if job is None:
            raise _not_found(f"Model customization job {identifier} not found.")
        return job

    def get_model_customization_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("GetModelCustomizationJob")
        with self._lock:
            job = self._find_job(_required(request, "jobIdentifier"))
            if job.status == "InProgress" and _due(job):
                self._run(job)
            return job.describe()

    def _run(self, job: _Job) -> None:
        with self._as_job_role(
            job.request, "customization job", job.name, lambda why: self._end(job, "Failed", why)
        ):
            self._train(job)

    def _train(self, job: _Job) -> None:
        """Train the job's model for real, write Bedrock's metric files and register the custom model."""
        if job.injected_failure is not None:
            self._end(job, "Failed", job.injected_failure)
            return
        try:
            pairs = self._job_pairs(job.request["trainingDataConfig"]["s3Uri"], job.family)
            validators = (job.request.get("validationDataConfig") or {}).get("validators") or []
            validation = self._job_pairs(validators[0]["s3Uri"], job.family) if validators else None
        except _JobDataError as error:
            self._end(job, "Failed", str(error))
            return
        parent_model = job.parent.model if job.parent else _EMPTY_MODEL
        model, report = parent_model.train(
            pairs, epochs=_epochs(job), batch_size=_batch_size(job), validation_pairs=validation
        )
        output_uri = job.request["outputDataConfig"]["s3Uri"]
        self._write(
            output_uri,
            TRAINING_METRICS_KEY.format(job_id=job.job_id),
            _csv("training_loss", report.steps),
        )
        if report.validation:
            self._write(
                output_uri,
                VALIDATION_METRICS_KEY.format(job_id=job.job_id),
                _csv("validation_loss", report.validation),
            )
        job.report = report
        self._models[job.model_name] = _CustomModel(
            job.model_name, job.model_arn, job, model, _now(), customized_on=self.today()
        )
        self._tag(job.model_arn, job.request.get("customModelTags"))
        self._end(job, "Completed", None)

    def _job_pairs(self, uri: str, family: ModelFamily) -> list[Pair]:
        data = self._read(uri)
        if data is None:
            raise _JobDataError(f"Unable to read {uri}: the object no longer exists.")
        try:
            return pairs_from_jsonl(data.decode("utf-8"), family.data_format)
        except UnicodeDecodeError:
            raise _JobDataError(f"Data validation failed for {uri}: the file is not UTF-8 text.") from None
        except DataFormatError as error:
            raise _JobDataError(f"Data validation failed for {uri}: {error}.") from None

    @staticmethod
    def _end(job: _Job, status: str, failure_message: str | None) -> None:
        job.status, job.failure_message = status, failure_message
        job.ended = job.last_modified = _now()

    def list_model_customization_jobs(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("ListModelCustomizationJobs")
        with self._lock:
            jobs = _filtered(
                self._jobs.values(),
                request,
                created=lambda job: job.created,
                filters={
                    "statusEquals": lambda job, value: job.status == value,
                    "nameContains": lambda job, value: value in job.name,
                },
            )
            page, token = _page(jobs, request)
            return _with_token({"modelCustomizationJobSummaries": [job.summary() for job in page]}, token)

    def stop_model_customization_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("StopModelCustomizationJob")
        with self._lock:
            job = self._find_job(_required(request, "jobIdentifier"))
            if job.status != "InProgress":
                raise _invalid(f"Job {job.name} cannot be stopped: its status is {job.status}.")
            self._end(job, "Stopped", None)
            return {}

    # Evaluation jobs ----------------------------------------------------------------------------

    def create_evaluation_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """CreateEvaluationJob: automated model evaluation (QuestionAndAnswer, built-in metrics) only."""
        self._check_throttle("CreateEvaluationJob")
        request = dict(request)
        with self._lock:
            name = _required_pattern(request, "jobName", _EVALUATION_JOB_NAME)
            token = request.get("clientRequestToken")
            existing = self._evaluation_jobs.get(name)
            if existing is not None:
                if token and existing.request.get("clientRequestToken") == token:
                    return {"jobArn": existing.arn}
                raise _conflict(f"An evaluation job named {name} already exists.")
            if token and any(
                job.request.get("clientRequestToken") == token for job in self._evaluation_jobs.values()
            ):
                raise _conflict(f"Client request token {token} was used for another evaluation job.")
            _required_pattern(request, "roleArn", _ROLE_ARN, maximum=2048)
            application = request.setdefault("applicationType", "ModelEvaluation")
            if application != "ModelEvaluation":
                raise _invalid(
                    f"The stand-in implements applicationType ModelEvaluation only, not {application}."
                )
            role = self._service_role(request, "evaluation job", name, self._arn(f"evaluation-job/{name}"))
            with acting_as(role):
                try:
                    self._check_evaluation_config(_required(request, "evaluationConfig"))
                except ClientError as error:
                    raise _invalid(f"Bedrock cannot use the job's dataset: {_error_message(error)}") from None
            self._check_evaluation_models(_required(request, "inferenceConfig"))
            output_uri = _required(
                request.get("outputDataConfig") or {}, "outputDataConfig.s3Uri", key="s3Uri"
            )
            if not self._bucket_exists(output_uri):
                raise _invalid(
                    f"Unable to write to the output location {output_uri}: the bucket does not exist."
                )
            job_id = self._new_id("evaluation-job", name)
            job = _EvaluationJob(
                name=name,
                arn=self._arn(f"evaluation-job/{job_id}"),
                job_id=job_id,
                request=request,
                created=_now(),
                polls_left=self._evaluation_polls_in_progress,
                injected_failure=_take_failure(self._evaluation_failures, name),
            )
            self._evaluation_jobs[name] = job
            self._tag(job.arn, request.get("jobTags"))
            return {"jobArn": job.arn}

    def _check_evaluation_config(self, config: Mapping[str, Any]) -> None:
        if "automated" not in config:
            raise _invalid(
                "The stand-in implements automated evaluation jobs only (evaluationConfig.automated)."
            )
        automated = config["automated"]
        for judged in ("evaluatorModelConfig", "customMetricConfig"):
            if automated.get(judged):
                raise _invalid(
                    f"The stand-in implements automated evaluation jobs with built-in metrics only: {judged} "
                    "(metrics judged by an evaluator model) is not implemented."
                )
        metric_configs = automated.get("datasetMetricConfigs") or []
        if not 1 <= len(metric_configs) <= 5:
            raise _invalid("evaluationConfig.automated.datasetMetricConfigs must hold 1 to 5 items.")
        for metric_config in metric_configs:
            task_type = _required(metric_config, "datasetMetricConfigs.taskType", key="taskType")
            if task_type != "QuestionAndAnswer":
                raise _invalid(
                    f"The stand-in evaluates taskType QuestionAndAnswer only, not {task_type} "
                    "(a stand-in limitation, not Bedrock's)."
                )
            dataset = _required(metric_config, "datasetMetricConfigs.dataset", key="dataset")
            _required_pattern(dataset, "name", _EVALUATION_DATASET_NAME)
            uri = (dataset.get("datasetLocation") or {}).get("s3Uri")
            if not uri:
                raise _invalid(
                    f"Dataset {dataset['name']} has no datasetLocation.s3Uri: the stand-in has no built-in "
                    "datasets (Builtin.*), only custom prompt datasets in S3."
                )
            if self._read(uri) is None:
                raise _invalid(f"Unable to read the dataset at {uri}: the object does not exist.")
            metric_names = metric_config.get("metricNames") or []
            if not metric_names:
                raise _invalid("datasetMetricConfigs.metricNames must hold at least one metric.")
            unknown = [name for name in metric_names if name not in METRIC_NAMES]
            if unknown:
                raise _invalid(
                    f"Unknown metric {unknown[0]}: an automated evaluation job's metrics are "
                    f"{', '.join(METRIC_NAMES)}."
                )

    def _check_evaluation_models(self, inference: Mapping[str, Any]) -> None:
        models = inference.get("models") or []
        if len(models) != 1:
            raise _invalid(
                f"inferenceConfig.models holds {len(models)} models: for automated model evaluation jobs, "
                "only a single model is supported."
            )
        for model in models:
            if "bedrockModel" not in model:
                raise _invalid(
                    "The stand-in evaluates Bedrock models only, not precomputed inference sources."
                )
            identifier = _required(
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
                raise _invalid(
                    f"1 validation error detected: Value '{identifier}' at "
                    "'inferenceConfig.models.bedrockModel.modelIdentifier' failed to satisfy constraint: "
                    f"Member must satisfy regular expression pattern: {EVALUABLE_MODEL_ID.pattern}.{hint}"
                )
            if ":provisioned-model/" in identifier:
                if identifier not in self._throughputs:
                    raise _not_found(f"Provisioned model {identifier} not found.")
            elif identifier.startswith("arn:") and not _FOUNDATION_ARN.fullmatch(identifier):
                raise _invalid(
                    f"The stand-in cannot evaluate {identifier}: it evaluates foundation models and "
                    "provisioned throughput only."
                )
            else:
                self._serving(identifier)  # refuses what on-demand inference cannot call

    def _find_evaluation_job(self, identifier: str) -> _EvaluationJob:
        if not _EVALUATION_JOB_ARN.fullmatch(identifier):
            raise _invalid(
                f"1 validation error detected: Value '{identifier}' at 'jobIdentifier' failed to satisfy "
                f"constraint: Member must satisfy regular expression pattern: {_EVALUATION_JOB_ARN.pattern}."
            )
        job = next((job for job in self._evaluation_jobs.values() if job.arn == identifier), None)
        if job is None:
            raise _not_found(f"Evaluation job {identifier} not found.")
        return job

    def get_evaluation_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("GetEvaluationJob")
        with self._lock:
            job = self._find_evaluation_job(_required(request, "jobIdentifier"))
            if job.status == "Stopping":
                job.end("Stopped")
            elif job.status == "InProgress" and _due(job):
                self._run_evaluation(job)
            return job.describe()

    def _run_evaluation(self, job: _EvaluationJob) -> None:
        with self._as_job_role(job.request, "evaluation job", job.name, lambda why: job.end("Failed", [why])):
            self._evaluate(job)

    def _evaluate(self, job: _EvaluationJob) -> None:
        """Answer every prompt with every model, score the answers, write Bedrock's output files."""
        if job.injected_failure is not None:
            job.end("Failed", [job.injected_failure])
            return
        outputs: dict[str, str] = {}
        try:
            for metric_config in job.metric_configs:
                dataset = metric_config["dataset"]
                records = self._evaluation_records(
                    dataset["datasetLocation"]["s3Uri"], metric_config["metricNames"]
                )
                for identifier in job.model_identifiers:
                    check_as_current(
                        "bedrock-runtime", "InvokeModel", {"modelId": identifier}, self.region_name
                    )
                    model = self._evaluation_model(identifier)
                    key = EVALUATION_OUTPUT_KEY.format(
                        job_name=job.name,
                        job_id=job.job_id,
                        model=identifier.rsplit("/", 1)[-1],
                        task_type=metric_config["taskType"],
                        dataset=dataset["name"],
                        file_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{job.arn}/{identifier}/{dataset['name']}"),
                    )
                    outputs[key] = "".join(
                        json.dumps(self._evaluated(record, identifier, model, metric_config["metricNames"]))
                        + "\n"
                        for record in records
                    )
        except _JobDataError as error:
            job.end("Failed", [str(error)])
            return
        for key, body in outputs.items():
            self._write(job.request["outputDataConfig"]["s3Uri"], key, body)
        job.end("Completed")

    def _model_arn(self, identifier: str) -> str:
        """The model as Bedrock's evaluation output names it: its ARN (a foundation model's, for an id)."""
        return identifier if identifier.startswith("arn:") else self._foundation_arn(identifier)

    def _evaluated(
        self, record: dict[str, Any], identifier: str, model: StandInModel, metric_names: list[str]
    ) -> dict[str, Any]:
        """One output line: the record's scores, the record, and the model's answer."""
        answer = _reply(model, record["prompt"])
        scores = score_record(record, answer, metric_names, lambda prompt: _reply(model, prompt))
        return {
            "automatedEvaluationResult": {"scores": scores},
            "inputRecord": record,
            "modelResponses": [{"response": answer, "modelIdentifier": self._model_arn(identifier)}],
        }

    def _evaluation_records(self, uri: str, metric_names: list[str]) -> list[dict[str, Any]]:
        """The prompt dataset's records; a reference response is required by Accuracy and Robustness."""
        data = self._read(uri)
        if data is None:
            raise _JobDataError(f"Unable to read the prompt dataset {uri}: the object no longer exists.")
        try:
            lines = [line for line in data.decode("utf-8").splitlines() if line.strip()]
        except UnicodeDecodeError:
            raise _JobDataError(f"The prompt dataset {uri} is not UTF-8 text.") from None
        if len(lines) > MAX_PROMPTS:
            raise _JobDataError(
                f"The prompt dataset {uri} holds {len(lines)} prompts; at most {MAX_PROMPTS} are allowed."
            )
        needs_reference = any(name != "Builtin.Toxicity" for name in metric_names)
        records = []
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except ValueError:
                raise _JobDataError(f"Line {number} of the prompt dataset {uri} is not valid JSON.") from None
            if (
                not isinstance(record, dict)
                or not isinstance(record.get("prompt"), str)
                or not record["prompt"]
            ):
                raise _JobDataError(f'Line {number} of the prompt dataset {uri} has no "prompt" string.')
            if needs_reference and not isinstance(record.get("referenceResponse"), str):
                raise _JobDataError(
                    f'Line {number} of the prompt dataset {uri} has no "referenceResponse" string, which '
                    "Builtin.Accuracy and Builtin.Robustness need."
                )
            records.append(record)
        return records

    def _evaluation_model(self, identifier: str) -> StandInModel:
        """What answers the job's prompts for `identifier`: the serving path Converse uses."""
        throughput = self._throughputs.get(identifier)
        if ":provisioned-model/" in identifier and throughput is None:
            raise _JobDataError(f"Provisioned model {identifier} no longer exists.")
        if throughput is not None and throughput.status not in ("InService", "Updating"):
            raise _JobDataError(
                f"Provisioned model {identifier} is not in service: its status is {throughput.status}."
            )
        try:
            return self._serving(identifier)[0]
        except BedrockError as error:
            raise _JobDataError(f"Model {identifier} cannot be invoked: {error.message}") from None

    def list_evaluation_jobs(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("ListEvaluationJobs")
        with self._lock:
            sort_by = request.get("sortBy") or "CreationTime"
            if sort_by != "CreationTime":
                raise _invalid(f"Invalid sortBy: {sort_by}.")
            jobs = _filtered(
                self._evaluation_jobs.values(),
                request,
                created=lambda job: job.created,
                filters={
                    "statusEquals": lambda job, value: job.status == value,
                    "nameContains": lambda job, value: value in job.name,
                    "applicationTypeEquals": lambda job, value: value == "ModelEvaluation",
                },
            )
            page, token = _page(jobs, request)
            return _with_token({"jobSummaries": [job.summary() for job in page]}, token)

    def stop_evaluation_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("StopEvaluationJob")
        with self._lock:
            job = self._find_evaluation_job(_required(request, "jobIdentifier"))
            if job.status != "InProgress":
                raise _invalid(f"Evaluation job {job.name} cannot be stopped: its status is {job.status}.")
            job.end("Stopping")
            return {}

    # Custom models ------------------------------------------------------------------------------

    def _find_model(self, identifier: str) -> _CustomModel | None:
        return _lookup(self._models, identifier, lambda item: item.arn)

    def _model(self, identifier: str) -> _CustomModel:
        model = self._find_model(identifier)
        if model is None:
            raise _not_found(f"Custom model {identifier} not found.")
        return model

    def get_custom_model(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("GetCustomModel")
        with self._lock:
            return self._model(_required(request, "modelIdentifier")).describe()

    def list_custom_models(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("ListCustomModels")
        with self._lock:
            models = _filtered(
                self._models.values(),
                request,
                created=lambda model: model.created,
                filters={
                    "nameContains": lambda model, value: value in model.name,
                    "baseModelArnEquals": lambda model, value: model.job.base_arn == value,
                    "foundationModelArnEquals": lambda model, value: (
                        self._foundation_arn(model.foundation_model_id) == value
                    ),
                    "modelStatus": lambda model, value: value == "Active",
                },
            )
            page, token = _page(models, request)
            return _with_token({"modelSummaries": [model.summary(self.account_id) for model in page]}, token)

    def delete_custom_model(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("DeleteCustomModel")
        with self._lock:
            model = self._model(_required(request, "modelIdentifier"))
            users = [
                deployment.arn
                for deployment in self._deployments.values()
                if model.arn in (deployment.model_arn, deployment.update_model_arn)
            ] + [
                throughput.arn
                for throughput in self._throughputs.values()
                if model.arn in (throughput.model_arn, throughput.desired_model_arn)
            ]
            if users:
                raise _conflict(
                    f"Custom model {model.name} is in use by {', '.join(users)}; delete those first."
                )
            del self._models[model.name]
            self._tags.pop(model.arn, None)
            return {}

    # Custom model deployments -------------------------------------------------------------------

    def create_custom_model_deployment(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("CreateCustomModelDeployment")
        with self._lock:
            token = request.get("clientRequestToken")
            existing = next(
                (item for item in self._deployments.values() if token and item.client_request_token == token),
                None,
            )
            if existing is not None:
                return {"customModelDeploymentArn": existing.arn}
            name = _required_pattern(request, "modelDeploymentName", _RESOURCE_NAME)
            model = self._deployable_on_demand(_required(request, "modelArn"))
            if any(item.name == name for item in self._deployments.values()):
                raise _conflict(f"A custom model deployment named {name} already exists.")
            deployment = _Deployment(
                name=name,
                arn=self._arn(f"custom-model-deployment/{self._new_id('custom-model-deployment', name)}"),
                model_arn=model.arn,
                created=_now(),
                client_request_token=token,
                description=request.get("description"),
                polls_left=self._deployment_polls_creating,
                failure=_take_failure(self._capacity_failures, name),
            )
            self._deployments[deployment.arn] = deployment
            self._tag(deployment.arn, request.get("tags"))
            return {"customModelDeploymentArn": deployment.arn}

    def _deployable_on_demand(self, identifier: str) -> _CustomModel:
        """A custom model Bedrock can deploy on demand here: its base model has on-demand deployment in
        this region (the capability table), it was customized on or after 2025-07-16, and its base model
        is not past its end of life."""
        model = self._model(identifier)
        row = self._capabilities_of(model)
        if self.region_name not in row.on_demand:
            raise _invalid(
                f"The model {model.arn} does not support on-demand deployment in {self.region_name}: custom "
                f"models of {row.model_id} can be deployed on demand in "
                f"{capabilities.regions_text(row.on_demand.regions)}. Use provisioned throughput instead."
            )
        since = capabilities.ON_DEMAND_CUSTOMIZED_SINCE
        if model.customized_on < since:
            raise _invalid(
                f"The model {model.arn} was customized before {since.isoformat()} and does not support "
                "on-demand deployment."
            )
        self._check_end_of_life(row)
        return model

    def _deployment(self, identifier: str) -> _Deployment:
        found = _lookup(self._deployments, identifier, lambda item: item.name)
        if found is None:
            raise _not_found(f"Custom model deployment {identifier} not found.")
        return found

    def get_custom_model_deployment(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("GetCustomModelDeployment")
        with self._lock:
            deployment = self._deployment(_required(request, "customModelDeploymentIdentifier"))
            deployment.advance()
            return deployment.describe()

    def list_custom_model_deployments(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("ListCustomModelDeployments")
        with self._lock:
            deployments = _filtered(
                self._deployments.values(),
                request,
                created=lambda item: item.created,
                filters={
                    "statusEquals": lambda item, value: item.status == value,
                    "nameContains": lambda item, value: value in item.name,
                    "modelArnEquals": lambda item, value: item.model_arn == value,
                },
                after="createdAfter",
                before="createdBefore",
            )
            page, token = _page(deployments, request)
            return _with_token({"modelDeploymentSummaries": [item.summary() for item in page]}, token)

    def update_custom_model_deployment(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("UpdateCustomModelDeployment")
        with self._lock:
            deployment = self._deployment(_required(request, "customModelDeploymentIdentifier"))
            model = self._deployable_on_demand(_required(request, "modelArn"))
            if deployment.status != "Active" or deployment.update_status == "Updating":
                state = "Updating" if deployment.update_status == "Updating" else deployment.status
                raise _invalid(f"Custom model deployment {deployment.name} cannot be updated while {state}.")
            deployment.update_model_arn, deployment.update_status = model.arn, "Updating"
            deployment.polls_left, deployment.updated = 1, _now()
            return {"customModelDeploymentArn": deployment.arn}

    def delete_custom_model_deployment(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("DeleteCustomModelDeployment")
        with self._lock:
            deployment = self._deployment(_required(request, "customModelDeploymentIdentifier"))
            del self._deployments[deployment.arn]
            self._tags.pop(deployment.arn, None)
            return {}

    # Provisioned throughput ---------------------------------------------------------------------

    def _throughput_model(self, identifier: str) -> tuple[str, str]:
        """(model ARN, foundation model ARN) of what a provisioned throughput serves, refusing a model
        without provisioned throughput in this region or past its end of life (the capability table)."""
        model = self._find_model(identifier)
        if model is not None:
            row = self._capabilities_of(model)
            arn = model.arn
        elif ":custom-model/" in identifier:
            raise _not_found(f"Custom model {identifier} not found.")
        else:
            foundation = _FOUNDATION_ARN.fullmatch(identifier)
            found = capabilities.find(foundation.group(1) if foundation else identifier)
            if found is None:
                raise _not_found(f"Model {identifier} not found.")
            row, arn = found, self._foundation_arn(found.model_id)
        if self.region_name not in row.provisioned:
            raise _invalid(
                f"Provisioned Throughput is not supported for {identifier} in {self.region_name}: it is for "
                f"{row.model_id} in {capabilities.regions_text(row.provisioned.regions)}."
            )
        self._check_end_of_life(row)
        return arn, self._foundation_arn(row.model_id)

    def create_provisioned_model_throughput(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("CreateProvisionedModelThroughput")
        with self._lock:
            token = request.get("clientRequestToken")
            existing = next(
                (item for item in self._throughputs.values() if token and item.client_request_token == token),
                None,
            )
            if existing is not None:
                return {"provisionedModelArn": existing.arn}
            name = _required_pattern(request, "provisionedModelName", _PROVISIONED_NAME)
            units = request.get("modelUnits")
            if not isinstance(units, int) or units < 1:
                raise _invalid("modelUnits must be a whole number of at least 1.")
            commitment = request.get("commitmentDuration")
            if commitment is not None and commitment not in _COMMITMENT_DAYS:
                raise _invalid(f"commitmentDuration must be one of {', '.join(_COMMITMENT_DAYS)}.")
            model_arn, foundation_arn = self._throughput_model(_required(request, "modelId"))
            if any(item.name == name for item in self._throughputs.values()):
                raise _conflict(f"A provisioned model named {name} already exists.")
            throughput = _Throughput(
                name=name,
                arn=self._arn(f"provisioned-model/{self._new_id('provisioned-model', name)}"),
                model_arn=model_arn,
                foundation_arn=foundation_arn,
                model_units=units,
                created=_now(),
                client_request_token=token,
                commitment=commitment,
                polls_left=self._deployment_polls_creating,
                failure=_take_failure(self._capacity_failures, name),
            )
            self._throughputs[throughput.arn] = throughput
            self._tag(throughput.arn, request.get("tags"))
            return {"provisionedModelArn": throughput.arn}

    def _throughput(self, identifier: str) -> _Throughput:
        found = _lookup(self._throughputs, identifier, lambda item: item.name)
        if found is None:
            raise _not_found(f"Provisioned model {identifier} not found.")
        return found

    def get_provisioned_model_throughput(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("GetProvisionedModelThroughput")
        with self._lock:
            throughput = self._throughput(_required(request, "provisionedModelId"))
            throughput.advance()
            return throughput.summary()

    def list_provisioned_model_throughputs(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("ListProvisionedModelThroughputs")
        with self._lock:
            throughputs = _filtered(
                self._throughputs.values(),
                request,
                created=lambda item: item.created,
                filters={
                    "statusEquals": lambda item, value: item.status == value,
                    "nameContains": lambda item, value: value in item.name,
                    "modelArnEquals": lambda item, value: item.model_arn == value,
                },
            )
            page, token = _page(throughputs, request)
            return _with_token({"provisionedModelSummaries": [item.summary() for item in page]}, token)

    def update_provisioned_model_throughput(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("UpdateProvisionedModelThroughput")
        with self._lock:
            throughput = self._throughput(_required(request, "provisionedModelId"))
            if throughput.status != "InService":
                raise _invalid(
                    f"Provisioned model {throughput.name} cannot be updated while {throughput.status}."
                )
            new_name = request.get("desiredProvisionedModelName")
            if new_name is not None:
                if not _PROVISIONED_NAME.fullmatch(new_name) or len(new_name) > 63:
                    raise _invalid(
                        f"Value '{new_name}' at 'desiredProvisionedModelName' is not a valid name."
                    )
                throughput.name = new_name
            desired = request.get("desiredModelId")
            if desired is not None:
                model = self._model(desired)
                if self._foundation_arn(model.foundation_model_id) != throughput.foundation_arn:
                    raise _invalid(
                        f"Custom model {model.name} was not customized from {throughput.foundation_arn}; "
                        "a provisioned model can only swap in a model of the same base model."
                    )
                throughput.desired_model_arn, throughput.status, throughput.polls_left = (
                    model.arn,
                    "Updating",
                    1,
                )
            throughput.updated = _now()
            return {}

    def delete_provisioned_model_throughput(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("DeleteProvisionedModelThroughput")
        with self._lock:
            throughput = self._throughput(_required(request, "provisionedModelId"))
            expires = throughput.commitment_expires
            if expires is not None and expires > _now():
                raise _invalid(
                    f"Provisioned model {throughput.name} has a commitment term until {expires.isoformat()} "
                    "and cannot be deleted before it ends."
                )
            del self._throughputs[throughput.arn]
            self._tags.pop(throughput.arn, None)
            return {}

    # Tags ---------------------------------------------------------------------------------------

    def _taggable(self, arn: str) -> bool:
        return (
            any(job.arn == arn for job in self._jobs.values())
            or any(model.arn == arn for model in self._models.values())
            or arn in self._deployments
            or arn in self._throughputs
            or any(job.arn == arn for job in self._evaluation_jobs.values())
        )

    def _tag(self, arn: str, tags: Iterable[Mapping[str, str]] | None) -> None:
        if tags:
            self._tags.setdefault(arn, {}).update({tag["key"]: tag["value"] for tag in tags})

    def tag_resource(self, request: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            arn = _required(request, "resourceARN")
            if not self._taggable(arn):
                raise _not_found(f"Resource {arn} not found.")
            self._tag(arn, request.get("tags") or [])
            return {}

    def untag_resource(self, request: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            arn = _required(request, "resourceARN")
            if not self._taggable(arn):
                raise _not_found(f"Resource {arn} not found.")
            for key in request.get("tagKeys") or []:
                self._tags.get(arn, {}).pop(key, None)
            return {}

    def list_tags_for_resource(self, request: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            arn = _required(request, "resourceARN")
            if not self._taggable(arn):
                raise _not_found(f"Resource {arn} not found.")
            return {"tags": [{"key": key, "value": value} for key, value in self._tags.get(arn, {}).items()]}

    # Runtime ------------------------------------------------------------------------------------

    def _serving(self, model_id: str) -> tuple[StandInModel, str]:
        """What answers calls to `model_id`, and its foundation model id; refuses what cannot be invoked."""
        if ":custom-model-deployment/" in model_id:
            deployment = self._deployments.get(model_id)
            if deployment is None:
                raise _not_found(f"Custom model deployment {model_id} not found.")
            if deployment.status != "Active":
                raise _invalid(
                    f"Custom model deployment {model_id} is not ready: its status is {deployment.status}."
                )
            model = self._model(deployment.model_arn)
            return model.model, model.foundation_model_id
        if ":provisioned-model/" in model_id:
            throughput = self._throughputs.get(model_id)
            if throughput is None:
                raise _not_found(f"Provisioned model {model_id} not found.")
            if throughput.status == "Creating":
                raise _invalid(f"Provisioned model {model_id} is not ready: its status is Creating.")
            served = self._find_model(throughput.model_arn)
            if served is not None:
                return served.model, served.foundation_model_id
            return _EMPTY_MODEL, throughput.model_arn.split("foundation-model/", 1)[1]
        if ":custom-model/" in model_id or self._find_model(model_id) is not None:
            raise _invalid(
                f"Custom model {model_id} cannot be invoked directly: it must be deployed first, with a "
                "custom model deployment or provisioned throughput, and called through the deployment's ARN."
            )
        foundation = _FOUNDATION_ARN.fullmatch(model_id)
        foundation_id = foundation.group(1) if foundation else model_id
        row = capabilities.by_inference_id(foundation_id)
        if row is None and capabilities.find(foundation_id) is not None:
            raise _invalid(
                f"Invocation of model ID {foundation_id} with on-demand throughput isn't supported."
            )
        if row is None:
            raise _invalid("The provided model identifier is invalid.")
        self._check_end_of_life(row)
        return _EMPTY_MODEL, foundation_id

    def _serve(self, operation: str, model_id: str) -> tuple[StandInModel, str, float]:
        """(model, its foundation model id, artificial latency) of one runtime call."""
        self._check_throttle(operation)
        with self._lock:
            model, foundation_id = self._serving(model_id)
            return model, foundation_id, self._latency

    def converse(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Converse: the last user turn is the question; the system prompt and earlier turns are ignored."""
        started = time.monotonic()
        model, _, latency = self._serve("Converse", _required(request, "modelId"))
        messages = request.get("messages") or []
        if not messages or messages[-1].get("role") != "user":
            raise _invalid("A conversation must end with a user message.")
        answer = _reply(model, _text(messages[-1].get("content") or []))
        answer, stop_reason = _limit(answer, (request.get("inferenceConfig") or {}).get("maxTokens"))
        texts = [block["text"] for block in request.get("system") or [] if "text" in block]
        texts += [_text(message.get("content") or []) for message in messages]
        input_tokens, output_tokens = sum(token_count(text) for text in texts), token_count(answer)
        if latency:
            time.sleep(latency)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": stop_reason,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": round((time.monotonic() - started) * 1000)},
        }

    def invoke_model(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """InvokeModel with the native body of the served model's provider (Nova, Claude, Llama, Titan)."""
        model, foundation_id, latency = self._serve("InvokeModel", _required(request, "modelId"))
        try:
            body = json.loads(request.get("body") or b"{}")
        except ValueError:
            raise _invalid("The request body is not valid JSON.") from None
        provider = _provider(foundation_id)
        question = provider.question(body)
        answer, stop_reason = _limit(_reply(model, question), provider.max_tokens(body))
        if latency:
            time.sleep(latency)
        payload = provider.response(answer, stop_reason == "max_tokens", token_count(question))
        return {"body": json.dumps(payload).encode(), "contentType": "application/json"}


def _reply(model: StandInModel, question: str) -> str:
    """A foundation model (never fine-tuned) grades judge prompts; every model answers the rest."""
    graded = judge_reply(question) if model is _EMPTY_MODEL else None
    return graded if graded is not None else model.answer(question)


class _JobDataError(Exception):
    """A job's data cannot be used: the job fails with this message."""


@dataclass(frozen=True)
class _Provider:
    """How one provider's InvokeModel body carries the question and the answer."""

    question: Callable[[Mapping[str, Any]], str]
    max_tokens: Callable[[Mapping[str, Any]], int | None]
    response: Callable[[str, bool, int], dict[str, Any]]


def _last_user_turn(body: Mapping[str, Any]) -> str:
    users = [message for message in body.get("messages") or [] if message.get("role") == "user"]
    if not users:
        raise _invalid("The request body holds no user message.")
    return _text(users[-1].get("content") or [])


_PROVIDERS: dict[str, _Provider] = {
    "amazon.nova": _Provider(
        question=_last_user_turn,
        max_tokens=lambda body: (body.get("inferenceConfig") or {}).get("max_new_tokens"),
        response=lambda answer, cut, tokens: {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": "max_tokens" if cut else "end_turn",
            "usage": {
                "inputTokens": tokens,
                "outputTokens": token_count(answer),
                "totalTokens": tokens + token_count(answer),
            },
        },
    ),
    "anthropic": _Provider(
        question=_last_user_turn,
        max_tokens=lambda body: body.get("max_tokens"),
        response=lambda answer, cut, tokens: {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "max_tokens" if cut else "end_turn",
            "usage": {"input_tokens": tokens, "output_tokens": token_count(answer)},
        },
    ),
    "meta": _Provider(
        question=lambda body: _CHAT_TEMPLATE_TOKEN.sub(" ", str(body.get("prompt", ""))),
        max_tokens=lambda body: body.get("max_gen_len"),
        response=lambda answer, cut, tokens: {
            "generation": answer,
            "prompt_token_count": tokens,
            "generation_token_count": token_count(answer),
            "stop_reason": "length" if cut else "stop",
        },
    ),
    "amazon.titan": _Provider(
        question=lambda body: str(body.get("inputText", "")),
        max_tokens=lambda body: (body.get("textGenerationConfig") or {}).get("maxTokenCount"),
        response=lambda answer, cut, tokens: {
            "inputTextTokenCount": tokens,
            "results": [
                {
                    "tokenCount": token_count(answer),
                    "outputText": answer,
                    "completionReason": "LENGTH" if cut else "FINISH",
                }
            ],
        },
    ),
}


def _provider(foundation_id: str) -> _Provider:
    return next(provider for prefix, provider in _PROVIDERS.items() if foundation_id.startswith(prefix))


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the text of its blocks."""
    if isinstance(content, str):
        return content
    return "\n".join(
        str(block["text"]) for block in content if isinstance(block, Mapping) and "text" in block
    )


def _limit(answer: str, max_tokens: int | None) -> tuple[str, str]:
    """The answer within a maximum-token limit, and the stop reason ("max_tokens" when cut)."""
    if max_tokens is not None and token_count(answer) > max_tokens:
        return first_tokens(answer, max_tokens), "max_tokens"
    return answer, "end_turn"


def _epochs(job: _Job) -> int:
    default = job.family.hyperparameters["epochCount"].default
    return int(float(job.request["hyperParameters"].get("epochCount", default)))


def _batch_size(job: _Job) -> int:
    allowed = job.family.hyperparameters.get("batchSize")
    if allowed is None:
        return DEFAULT_BATCH_SIZE
    return int(float(job.request["hyperParameters"].get("batchSize", allowed.default)))


def _csv(loss_column: str, rows: Iterable[Any]) -> str:
    lines = [f"step_number,epoch_number,{loss_column},perplexity"]
    lines += [f"{row.step},{row.epoch},{row.loss:.6f},{row.perplexity:.6f}" for row in rows]
    return "\n".join(lines) + "\n"


def _parse_s3_uri(uri: str) -> tuple[str, str]:
    match = _S3_URI.fullmatch(uri)
    if match is None:
        raise _invalid(f"Value '{uri}' failed to satisfy constraint: Member must be an s3:// URI.")
    return match.group(1), match.group(2) or ""


def _required(request: Mapping[str, Any], name: str, key: str | None = None) -> Any:
    value = request.get(key or name)
    if value is None or value == "":
        raise _invalid(
            f"1 validation error detected: Value null at '{name}' failed to satisfy constraint: "
            "Member must not be null."
        )
    return value


def _required_pattern(
    request: Mapping[str, Any], name: str, pattern: re.Pattern[str], maximum: int = 63
) -> str:
    value = _required(request, name)
    if not isinstance(value, str) or len(value) > maximum or not pattern.fullmatch(value):
        raise _invalid(
            f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern.pattern} "
            f"and have length at most {maximum}."
        )
    return value


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _filtered(
    items: Iterable[T],
    request: Mapping[str, Any],
    *,
    created: Callable[[T], datetime],
    filters: Mapping[str, Callable[[T, Any], bool]],
    after: str = "creationTimeAfter",
    before: str = "creationTimeBefore",
) -> list[T]:
    """A List operation's filtering and sorting (by creation time, newest first unless asked otherwise)."""
    selected = list(items)
    for name, keep in filters.items():
        if request.get(name) is not None:
            selected = [item for item in selected if keep(item, request[name])]
    if request.get(after) is not None:
        selected = [item for item in selected if created(item) > _as_utc(request[after])]
    if request.get(before) is not None:
        selected = [item for item in selected if created(item) < _as_utc(request[before])]
    order = request.get("sortOrder") or "Descending"
    if order not in ("Ascending", "Descending"):
        raise _invalid(f"Invalid sort order: {order}.")
    return sorted(selected, key=created, reverse=order == "Descending")


def _page(items: list[T], request: Mapping[str, Any]) -> tuple[list[T], str | None]:
    try:
        start = int(request.get("nextToken") or 0)
    except ValueError:
        raise _invalid("The pagination token is invalid.") from None
    size = int(request.get("maxResults") or 100)
    end = start + size
    return items[start:end], str(end) if end < len(items) else None


def _with_token(response: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        response["nextToken"] = token
    return response


# moto integration ---------------------------------------------------------------------------------

bedrock_standin_backends: BackendDict[BedrockStandIn] = BackendDict(BedrockStandIn, "bedrock")


def standin_backend(account_id: str, region: str) -> BedrockStandIn:
    """The stand-in of one account and region (created on first use; cleared when moto resets)."""
    return bedrock_standin_backends[account_id][region]


class BedrockStandInResponse(BedrockResponse):
    """Serves the Bedrock control plane from the stand-in; moto parses requests and serializes responses.

    Operations the stand-in does not implement (model invocation logging) fall through to moto's.
    """

    def __init__(self) -> None:
        super().__init__()
        self.automated_parameter_parsing = True

    def _call(self, operation: Callable[[BedrockStandIn, Mapping[str, Any]], dict[str, Any]]) -> ActionResult:
        backend = standin_backend(self.current_account, self.region)
        result = operation(backend, self.params)
        backend.check_lost_response("".join(part.capitalize() for part in operation.__name__.split("_")))
        return ActionResult(result)

    def create_model_customization_job(self) -> ActionResult:
        return self._call(BedrockStandIn.create_model_customization_job)

    def get_model_customization_job(self) -> ActionResult:
        return self._call(BedrockStandIn.get_model_customization_job)

    def list_model_customization_jobs(self) -> ActionResult:
        return self._call(BedrockStandIn.list_model_customization_jobs)

    def create_evaluation_job(self) -> ActionResult:
        return self._call(BedrockStandIn.create_evaluation_job)

    def get_evaluation_job(self) -> ActionResult:
        return self._call(BedrockStandIn.get_evaluation_job)

    def list_evaluation_jobs(self) -> ActionResult:
        return self._call(BedrockStandIn.list_evaluation_jobs)

    def stop_evaluation_job(self) -> ActionResult:
        return self._call(BedrockStandIn.stop_evaluation_job)

    def stop_model_customization_job(self) -> ActionResult:
        return self._call(BedrockStandIn.stop_model_customization_job)

    def get_custom_model(self) -> ActionResult:
        return self._call(BedrockStandIn.get_custom_model)

    def list_custom_models(self) -> ActionResult:
        return self._call(BedrockStandIn.list_custom_models)

    def delete_custom_model(self) -> ActionResult:
        return self._call(BedrockStandIn.delete_custom_model)

    def create_custom_model_deployment(self) -> ActionResult:
        return self._call(BedrockStandIn.create_custom_model_deployment)

    def get_custom_model_deployment(self) -> ActionResult:
        return self._call(BedrockStandIn.get_custom_model_deployment)

    def list_custom_model_deployments(self) -> ActionResult:
        return self._call(BedrockStandIn.list_custom_model_deployments)

    def update_custom_model_deployment(self) -> ActionResult:
        return self._call(BedrockStandIn.update_custom_model_deployment)

    def delete_custom_model_deployment(self) -> ActionResult:
        return self._call(BedrockStandIn.delete_custom_model_deployment)

    def create_provisioned_model_throughput(self) -> ActionResult:
        return self._call(BedrockStandIn.create_provisioned_model_throughput)

    def get_provisioned_model_throughput(self) -> ActionResult:
        return self._call(BedrockStandIn.get_provisioned_model_throughput)

    def list_provisioned_model_throughputs(self) -> ActionResult:
        return self._call(BedrockStandIn.list_provisioned_model_throughputs)

    def update_provisioned_model_throughput(self) -> ActionResult:
        return self._call(BedrockStandIn.update_provisioned_model_throughput)

    def delete_provisioned_model_throughput(self) -> ActionResult:
        return self._call(BedrockStandIn.delete_provisioned_model_throughput)

    def tag_resource(self) -> ActionResult:
        return self._call(BedrockStandIn.tag_resource)

    def untag_resource(self) -> ActionResult:
        return self._call(BedrockStandIn.untag_resource)

    def list_tags_for_resource(self) -> ActionResult:
        return self._call(BedrockStandIn.list_tags_for_resource)

    def get_foundation_model_availability(self) -> ActionResult:
        backend = account_backend(self.current_account, self.region)
        return ActionResult(backend.foundation_model_availability(str(self.params["modelId"])))


class BedrockRuntimeStandInResponse(BedrockRuntimeResponse):
    """Serves Converse and InvokeModel from the stand-in."""

    def converse(self) -> ActionResult:
        return ActionResult(standin_backend(self.current_account, self.region).converse(self.params))

    def invoke_model(self) -> ActionResult:
        return ActionResult(standin_backend(self.current_account, self.region).invoke_model(self.params))


def _reroute(url_paths: dict[str, Any], original: Any, replacement: Any) -> None:
    routes = [path for path, handler in url_paths.items() if handler in (original, replacement)]
    if not routes:
        raise RuntimeError(
            f"moto's routes no longer lead to {original.__self__.__name__}: the Bedrock stand-in cannot be "
            "installed on this moto version (it is written for moto 5.2.5)."
        )
    for path in routes:
        url_paths[path] = replacement


def install_bedrock_standin() -> None:
    """Route moto's Bedrock and Bedrock Runtime requests to the stand-in. Idempotent.

    Call it before the first Bedrock request reaches a moto server (the server builds a service's
    routes once, on its first request). Patch points in moto 5.2.5, each exercised by
    tests/emulator/test_bedrock_standin.py:

    1. `moto.bedrock.urls.url_paths`: every route to `BedrockResponse.dispatch` now leads to
       `BedrockStandInResponse.dispatch` (a subclass of moto's `BedrockResponse`). moto has no
       evaluation-job routes of its own: its catch-all `{0}/.*$` route carries `/evaluation-jobs...`
       and `/evaluation-job/{id}/stop` to the stand-in, and moto picks the operation from botocore's
       model, so methods named after the operations (`create_evaluation_job`, ...) serve them.
    2. `moto.bedrockruntime.urls.url_paths`: every route to `BedrockRuntimeResponse.dispatch` now leads
       to `BedrockRuntimeStandInResponse.dispatch` (a subclass of moto's `BedrockRuntimeResponse`).
    3. `moto.servicequotas.urls.url_paths`: Service Quotas answers Bedrock's quotas
       (`iterft.local.account_standin`, which also holds model access for GetFoundationModelAvailability).

    Also relied on, without patching: moto's request parsing and response serialization from
    botocore's models (`automated_parameter_parsing`, `ActionResult`, `ServiceException`), its
    `BackendDict` (the stand-in's state, reset with moto's), and its S3 backend
    (`moto.s3.models.s3_backends`: `get_object`, `get_bucket`, `put_object`) for job data and outputs.
    """
    _reroute(bedrock_urls.url_paths, BedrockResponse.dispatch, BedrockStandInResponse.dispatch)
    _reroute(
        bedrockruntime_urls.url_paths, BedrockRuntimeResponse.dispatch, BedrockRuntimeStandInResponse.dispatch
    )
    install_service_quotas_standin()  # model access (above, GetFoundationModelAvailability) and quotas


def uninstall_bedrock_standin() -> bool:
    """Route moto's Bedrock and Bedrock Runtime requests back to moto's own responses; whether the
    stand-in was installed. For tests written against moto's Bedrock that share a process with
    the embedded default (install is process-wide)."""
    installed = BedrockStandInResponse.dispatch in bedrock_urls.url_paths.values()
    _reroute(bedrock_urls.url_paths, BedrockStandInResponse.dispatch, BedrockResponse.dispatch)
    _reroute(
        bedrockruntime_urls.url_paths, BedrockRuntimeStandInResponse.dispatch, BedrockRuntimeResponse.dispatch
    )
    return installed
