"""Custom models of the Bedrock stand-in: GetCustomModel, ListCustomModels, DeleteCustomModel.

A model exists once its customization job completed (`customization`); deleting one that a deployment
or provisioned throughput uses is a ConflictException.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from iterft.local.bedrock.core import StandInCore
from iterft.local.bedrock.requests import (
    conflict,
    filtered,
    paged,
    required,
    with_token,
)
from iterft.local.standin_model import (
    StandInModel,
    TrainingReport,
)

if TYPE_CHECKING:
    from iterft.local.bedrock.customization import CustomizationJob


@dataclass
class CustomModel:
    name: str
    arn: str
    job: CustomizationJob
    model: StandInModel
    created: datetime
    customized_on: date
    """The stand-in's date when it was customized (on-demand deployment takes models from 2025-07-16)."""

    @property
    def foundation_model_id(self) -> str:
        return self.job.foundation_model_id

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
        if request.get("customizationConfig"):
            response["customizationConfig"] = request["customizationConfig"]
        if self.job.report is not None:
            response.update(training_metrics(self.job.report))
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


def training_metrics(report: TrainingReport) -> dict[str, Any]:
    metrics: dict[str, Any] = {"trainingMetrics": {"trainingLoss": report.training_loss}}
    if report.validation_loss is not None:
        metrics["validationMetrics"] = [{"validationLoss": report.validation_loss}]
    return metrics


class CustomModels(StandInCore):
    """The custom model operations."""

    def get_custom_model(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("GetCustomModel")
        with self._lock:
            return self._model(required(request, "modelIdentifier")).describe()

    def list_custom_models(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("ListCustomModels")
        with self._lock:
            models = filtered(
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
            page, token = paged(models, request)
            return with_token({"modelSummaries": [model.summary(self.account_id) for model in page]}, token)

    def delete_custom_model(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("DeleteCustomModel")
        with self._lock:
            model = self._model(required(request, "modelIdentifier"))
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
                raise conflict(
                    f"Custom model {model.name} is in use by {', '.join(users)}; delete those first."
                )
            del self._models[model.name]
            self._tags.pop(model.arn, None)
            return {}
