"""Model customization jobs of the Bedrock stand-in: Create, Get (by name or ARN), List, Stop.

A job reports InProgress until the first Get (or `set_job_polls_in_progress` Gets), which trains its
model for real (`iterft.local.standin_model`, by customization type: `training`) on the job's data, as
the job's service role, writes Bedrock's metric files and registers the custom model. Training runs
outside the backend's lock (a grader Lambda function may call Bedrock through the embedded server's
threads); other Gets meanwhile report the job InProgress.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from iterft_runtime.models import capabilities
from iterft_runtime.models.capabilities import (
    CustomizationType,
    ModelCapabilities,
)
from iterft_runtime.models.families import ModelFamily, check_hyperparameters, family_for_model

from iterft.local.bedrock.custom_models import CustomModel, training_metrics
from iterft.local.bedrock.requests import (
    FOUNDATION_ARN,
    RESOURCE_NAME,
    ROLE_ARN,
    JobDataError,
    conflict,
    due,
    error_message,
    filtered,
    invalid,
    lookup,
    not_found,
    now,
    paged,
    parse_s3_uri,
    required,
    required_pattern,
    take_failure,
    with_token,
)
from iterft.local.bedrock.strategies import JobStrategy, customization_type, job_strategy
from iterft.local.bedrock.training import Training, metrics_csv
from iterft.local.iam import acting_as, check_as_current
from iterft.local.standin_model import StandInModel, TrainingReport

TRAINING_METRICS_KEY = "model-customization-job-{job_id}/training_artifacts/step_wise_training_metrics.csv"
VALIDATION_METRICS_KEY = (
    "model-customization-job-{job_id}/validation_artifacts/post_fine_tuning_validation/validation/"
    "validation_metrics.csv"
)

_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*")


@dataclass
class CustomizationJob:
    name: str
    arn: str
    job_id: str
    request: dict[str, Any]
    strategy: JobStrategy
    family: ModelFamily | None
    """The training-data family of the base model (None for reinforcement fine-tuning, which has its own
    record format)."""
    foundation_model_id: str
    base_arn: str
    parent: CustomModel | None
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
    training: bool = False
    """A Get is training the job now (outside the backend's lock): other Gets report it InProgress."""

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
            "customizationConfig": self.request.get("customizationConfig") or None,
            "failureMessage": self.failure_message,
            "endTime": self.ended,
        }
        response.update({key: value for key, value in optional.items() if value is not None})
        if self.status == "Completed" and self.report is not None:
            response["outputModelArn"] = self.model_arn
            response.update(training_metrics(self.report))
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


class CustomizationJobs(Training):
    """The customization job operations."""

    def create_model_customization_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("CreateModelCustomizationJob")
        request = dict(request)
        with self._lock:
            token = request.get("clientRequestToken") if self._remember_job_tokens else None
            for job in self._jobs.values():
                if token and job.request.get("clientRequestToken") == token:
                    if job.name != request.get("jobName"):
                        raise conflict(f"Client request token {token} was used for another job, {job.name}.")
                    return {"jobArn": job.arn}
            job_name = required_pattern(request, "jobName", _JOB_NAME)
            model_name = required_pattern(request, "customModelName", RESOURCE_NAME)
            required_pattern(request, "roleArn", ROLE_ARN, maximum=2048)
            customization = customization_type(request)
            identifier = required(request, "baseModelIdentifier")
            foundation_id, base_arn, parent = self._resolve_base(identifier)
            row = self._customizable(identifier, foundation_id, customization)
            strategy = job_strategy(request, row)
            family = self._family(row, strategy, request)
            job_arn_seen_by_iam = self._arn(f"model-customization-job/{foundation_id}/{job_name}")
            role = self._service_role(request, "customization job", job_name, job_arn_seen_by_iam)
            with acting_as(role):
                self._check_job_inputs(request, strategy)
            if job_name in self._jobs:
                raise conflict(f"A model customization job named {job_name} already exists.")
            if model_name in self._models or any(
                job.model_name == model_name and job.status == "InProgress" for job in self._jobs.values()
            ):
                raise conflict(f"A custom model named {model_name} already exists.")
            job_id = self._new_id("model-customization-job", job_name)
            job = CustomizationJob(
                name=job_name,
                arn=self._arn(f"model-customization-job/{foundation_id}/{job_id}"),
                job_id=job_id,
                request=request,
                strategy=strategy,
                family=family,
                foundation_model_id=foundation_id,
                base_arn=base_arn,
                parent=parent,
                model_name=model_name,
                model_arn=self._arn(
                    f"custom-model/{foundation_id}/{self._new_id('custom-model', model_name)}"
                ),
                created=now(),
                polls_left=self._job_polls_in_progress,
                injected_failure=take_failure(self._failures, job_name),
            )
            self._jobs[job_name] = job
            self._tag(job.arn, request.get("jobTags"))
            return {"jobArn": job.arn}

    def _resolve_base(self, identifier: str) -> tuple[str, str, CustomModel | None]:
        """(foundation model id, base model ARN, custom base model or None) of a baseModelIdentifier."""
        model = self._find_model(identifier)
        if model is not None:
            return model.foundation_model_id, model.arn, model
        if ":custom-model/" in identifier:
            raise not_found(f"The base model {identifier} was not found.")
        foundation = FOUNDATION_ARN.fullmatch(identifier)
        model_id = foundation.group(1) if foundation else identifier
        return model_id, self._foundation_arn(model_id), None

    def _customizable(self, identifier: str, foundation_id: str, customization: str) -> ModelCapabilities:
        """The capability table's row of a job's base model, refusing what Bedrock refuses: a model that
        cannot be customized (by this customization type) in this region, or one past its end of life."""
        row = capabilities.find(foundation_id)
        if row is None:
            raise invalid(
                f"The base model {identifier} does not support customization. Customizable models: "
                f"{capabilities.known_models()}."
            )
        kinds = {kind.value: kind for kind in CustomizationType}
        kind = kinds.get(customization)
        if kind is None or not row.can_customize(self.region_name, kind):
            where = capabilities.regions_text(row.customization_regions(kind)) if kind else "no region"
            raise invalid(
                f"The base model {identifier} does not support customization type {customization} in "
                f"{self.region_name}. It is supported in: {where}."
            )
        self._check_end_of_life(row)
        return row

    def _family(
        self, row: ModelCapabilities, strategy: JobStrategy, request: dict[str, Any]
    ) -> ModelFamily | None:
        """The base model's training-data family, with the request's hyperparameters checked against it
        (reinforcement fine-tuning has its own format and hyperparameters, checked by `job_strategy`)."""
        hyperparameters = {key: str(value) for key, value in (request.get("hyperParameters") or {}).items()}
        request["hyperParameters"] = hyperparameters
        if strategy.kind is CustomizationType.REINFORCEMENT_FINE_TUNING:
            return None
        if row.family is None:
            raise invalid(
                f"The stand-in cannot train {row.name}: {row.note} (a stand-in limitation, not Bedrock's)."
            )
        family = family_for_model(row.model_id)
        problems = check_hyperparameters(family, hyperparameters)
        if problems:
            raise invalid("Invalid hyperparameters: " + "; ".join(problems) + ".")
        return family

    def _check_job_inputs(self, request: Mapping[str, Any], strategy: JobStrategy) -> None:
        """What Bedrock checks as the job's service role before the job starts: the data can be read and
        the output written, the teacher invoked (unless the logged responses are used), the grader
        function exists and may be invoked."""
        try:
            self._check_job_data(request, strategy)
        except ClientError as error:
            raise invalid(f"Bedrock cannot use the job's data: {error_message(error)}") from None
        if strategy.teacher is not None and not (strategy.logs and strategy.logs.use_prompt_response):
            try:
                check_as_current(
                    "bedrock-runtime", "InvokeModel", {"modelId": strategy.teacher}, self.region_name
                )
            except ClientError as error:
                raise invalid(
                    f"Bedrock cannot invoke the teacher model {strategy.teacher}: {error_message(error)}"
                ) from None
        if strategy.grader_arn is not None:
            self._grader_function(strategy.grader_arn)
            try:
                check_as_current("lambda", "Invoke", {"FunctionName": strategy.grader_arn}, self.region_name)
            except ClientError as error:
                raise invalid(
                    f"Bedrock cannot invoke the grader Lambda function {strategy.grader_arn}: "
                    f"{error_message(error)}"
                ) from None

    def _check_job_data(self, request: Mapping[str, Any], strategy: JobStrategy) -> None:
        if strategy.logs is not None:
            bucket, prefix = parse_s3_uri(strategy.logs.s3_uri)
            if not self._bucket_exists(strategy.logs.s3_uri):
                raise invalid(
                    f"Unable to read the invocation logs at {strategy.logs.s3_uri}: no such bucket."
                )
            check_as_current("s3", "ListObjectsV2", {"Bucket": bucket, "Prefix": prefix}, self.region_name)
        else:
            training_uri = request["trainingDataConfig"]["s3Uri"]
            if self._read(training_uri) is None:
                raise invalid(
                    f"Unable to read the training data at {training_uri}: the object does not exist."
                )
        validators = (request.get("validationDataConfig") or {}).get("validators") or []
        if len(validators) > 1:
            raise invalid("Only one validation dataset is supported.")
        for validator in validators:
            uri = required(validator, "validationDataConfig.validators.s3Uri", key="s3Uri")
            if self._read(uri) is None:
                raise invalid(f"Unable to read the validation data at {uri}: the object does not exist.")
        output_uri = required(request.get("outputDataConfig") or {}, "outputDataConfig.s3Uri", key="s3Uri")
        if not self._bucket_exists(output_uri):
            raise invalid(f"Unable to write to the output location {output_uri}: the bucket does not exist.")

    def _find_job(self, identifier: str) -> CustomizationJob:
        job = lookup(self._jobs, identifier, lambda item: item.arn)
        if job is None:
            raise not_found(f"Model customization job {identifier} not found.")
        return job

    def get_model_customization_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("GetModelCustomizationJob")
        with self._lock:
            job = self._find_job(required(request, "jobIdentifier"))
            train = job.status == "InProgress" and not job.training and due(job)
            job.training = job.training or train
        if train:
            # Outside the lock: a grader Lambda may call Bedrock through the embedded server's threads.
            try:
                self._run(job)
            finally:
                job.training = False
        with self._lock:
            return job.describe()

    def _run(self, job: CustomizationJob) -> None:
        with self._as_job_role(
            job.request, "customization job", job.name, lambda why: self._finish(job, None, why)
        ):
            self._train(job)

    def _train(self, job: CustomizationJob) -> None:
        """Train the job's model for real, write Bedrock's metric files and register the custom model."""
        if job.injected_failure is not None:
            self._finish(job, None, job.injected_failure)
            return
        start = job.parent.model if job.parent else self._foundation_knowledge(job.foundation_model_id)
        try:
            model, report = self._customize(job, start)
        except JobDataError as error:
            self._finish(job, None, str(error))
            return
        output_uri = job.request["outputDataConfig"]["s3Uri"]
        self._write(
            output_uri,
            TRAINING_METRICS_KEY.format(job_id=job.job_id),
            metrics_csv("training_loss", report.steps),
        )
        if report.validation:
            self._write(
                output_uri,
                VALIDATION_METRICS_KEY.format(job_id=job.job_id),
                metrics_csv("validation_loss", report.validation),
            )
        self._finish(job, (model, report), None)

    def _finish(
        self, job: CustomizationJob, trained: tuple[StandInModel, TrainingReport] | None, failure: str | None
    ) -> None:
        """End a job Completed (registering its model) or Failed, unless it was stopped meanwhile."""
        with self._lock:
            if job.status != "InProgress":
                return
            if trained is None:
                self._end(job, "Failed", failure)
                return
            model, job.report = trained
            self._models[job.model_name] = CustomModel(
                job.model_name, job.model_arn, job, model, now(), customized_on=self.today()
            )
            self._tag(job.model_arn, job.request.get("customModelTags"))
            self._end(job, "Completed", None)

    @staticmethod
    def _end(job: CustomizationJob, status: str, failure_message: str | None) -> None:
        job.status, job.failure_message = status, failure_message
        job.ended = job.last_modified = now()

    def list_model_customization_jobs(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("ListModelCustomizationJobs")
        with self._lock:
            jobs = filtered(
                self._jobs.values(),
                request,
                created=lambda job: job.created,
                filters={
                    "statusEquals": lambda job, value: job.status == value,
                    "nameContains": lambda job, value: value in job.name,
                },
            )
            page, token = paged(jobs, request)
            return with_token({"modelCustomizationJobSummaries": [job.summary() for job in page]}, token)

    def stop_model_customization_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("StopModelCustomizationJob")
        with self._lock:
            job = self._find_job(required(request, "jobIdentifier"))
            if job.status != "InProgress":
                raise invalid(f"Job {job.name} cannot be stopped: its status is {job.status}.")
            self._end(job, "Stopped", None)
            return {}
