"""Capacity of the Bedrock stand-in: custom model deployments (on-demand) and provisioned throughput.

A deployment reports Creating on its first Get and Active from the second, an update Updating once
then UpdateCompleted; a provisioned throughput Creating (or Updating) once, then InService. What the
capability table says a model and region lack (on-demand deployment, provisioned throughput) is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from iterft_runtime.models import capabilities

from iterft.local.bedrock.core import StandInCore
from iterft.local.bedrock.custom_models import CustomModel
from iterft.local.bedrock.requests import (
    FOUNDATION_ARN,
    PROVISIONED_NAME,
    RESOURCE_NAME,
    conflict,
    filtered,
    invalid,
    lookup,
    not_found,
    now,
    paged,
    required,
    required_pattern,
    take_failure,
    with_token,
)

_COMMITMENT_DAYS = {"OneMonth": 30, "SixMonths": 182}


@dataclass
class Deployment:
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
                self.status, self.updated = "Failed", now()
            else:
                self.status, self.updated = "Active", now()
        elif self.update_status == "Updating":
            if self.polls_left:
                self.polls_left -= 1
            else:
                assert self.update_model_arn is not None
                self.model_arn, self.update_status, self.updated = (
                    self.update_model_arn,
                    "UpdateCompleted",
                    now(),
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
class Throughput:
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
                self.status, self.updated = "Failed", now()
            else:
                self.model_arn = self.desired_model_arn or self.model_arn
                self.status, self.desired_model_arn, self.updated = "InService", None, now()

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


class Capacity(StandInCore):
    """Custom model deployment and provisioned throughput operations."""

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
            name = required_pattern(request, "modelDeploymentName", RESOURCE_NAME)
            model = self._deployable_on_demand(required(request, "modelArn"))
            if any(item.name == name for item in self._deployments.values()):
                raise conflict(f"A custom model deployment named {name} already exists.")
            deployment = Deployment(
                name=name,
                arn=self._arn(f"custom-model-deployment/{self._new_id('custom-model-deployment', name)}"),
                model_arn=model.arn,
                created=now(),
                client_request_token=token,
                description=request.get("description"),
                polls_left=self._deployment_polls_creating,
                failure=take_failure(self._capacity_failures, name),
            )
            self._deployments[deployment.arn] = deployment
            self._tag(deployment.arn, request.get("tags"))
            return {"customModelDeploymentArn": deployment.arn}

    def _deployable_on_demand(self, identifier: str) -> CustomModel:
        """A custom model Bedrock can deploy on demand here: its base model has on-demand deployment in
        this region (the capability table), it was customized on or after 2025-07-16, and its base model
        is not past its end of life."""
        model = self._model(identifier)
        row = self._capabilities_of(model)
        if self.region_name not in row.on_demand:
            raise invalid(
                f"The model {model.arn} does not support on-demand deployment in {self.region_name}: custom "
                f"models of {row.model_id} can be deployed on demand in "
                f"{capabilities.regions_text(row.on_demand.regions)}. Use provisioned throughput instead."
            )
        since = capabilities.ON_DEMAND_CUSTOMIZED_SINCE
        if model.customized_on < since:
            raise invalid(
                f"The model {model.arn} was customized before {since.isoformat()} and does not support "
                "on-demand deployment."
            )
        self._check_end_of_life(row)
        return model

    def _deployment(self, identifier: str) -> Deployment:
        found = lookup(self._deployments, identifier, lambda item: item.name)
        if found is None:
            raise not_found(f"Custom model deployment {identifier} not found.")
        return found

    def get_custom_model_deployment(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("GetCustomModelDeployment")
        with self._lock:
            deployment = self._deployment(required(request, "customModelDeploymentIdentifier"))
            deployment.advance()
            return deployment.describe()

    def list_custom_model_deployments(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("ListCustomModelDeployments")
        with self._lock:
            deployments = filtered(
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
            page, token = paged(deployments, request)
            return with_token({"modelDeploymentSummaries": [item.summary() for item in page]}, token)

    def update_custom_model_deployment(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("UpdateCustomModelDeployment")
        with self._lock:
            deployment = self._deployment(required(request, "customModelDeploymentIdentifier"))
            model = self._deployable_on_demand(required(request, "modelArn"))
            if deployment.status != "Active" or deployment.update_status == "Updating":
                state = "Updating" if deployment.update_status == "Updating" else deployment.status
                raise invalid(f"Custom model deployment {deployment.name} cannot be updated while {state}.")
            deployment.update_model_arn, deployment.update_status = model.arn, "Updating"
            deployment.polls_left, deployment.updated = 1, now()
            return {"customModelDeploymentArn": deployment.arn}

    def delete_custom_model_deployment(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("DeleteCustomModelDeployment")
        with self._lock:
            deployment = self._deployment(required(request, "customModelDeploymentIdentifier"))
            del self._deployments[deployment.arn]
            self._tags.pop(deployment.arn, None)
            return {}

    def _throughput_model(self, identifier: str) -> tuple[str, str]:
        """(model ARN, foundation model ARN) of what a provisioned throughput serves, refusing a model
        without provisioned throughput in this region or past its end of life (the capability table)."""
        model = self._find_model(identifier)
        if model is not None:
            row = self._capabilities_of(model)
            arn = model.arn
        elif ":custom-model/" in identifier:
            raise not_found(f"Custom model {identifier} not found.")
        else:
            foundation = FOUNDATION_ARN.fullmatch(identifier)
            found = capabilities.find(foundation.group(1) if foundation else identifier)
            if found is None:
                raise not_found(f"Model {identifier} not found.")
            row, arn = found, self._foundation_arn(found.model_id)
        if self.region_name not in row.provisioned:
            raise invalid(
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
            name = required_pattern(request, "provisionedModelName", PROVISIONED_NAME)
            units = request.get("modelUnits")
            if not isinstance(units, int) or units < 1:
                raise invalid("modelUnits must be a whole number of at least 1.")
            commitment = request.get("commitmentDuration")
            if commitment is not None and commitment not in _COMMITMENT_DAYS:
                raise invalid(f"commitmentDuration must be one of {', '.join(_COMMITMENT_DAYS)}.")
            model_arn, foundation_arn = self._throughput_model(required(request, "modelId"))
            if any(item.name == name for item in self._throughputs.values()):
                raise conflict(f"A provisioned model named {name} already exists.")
            throughput = Throughput(
                name=name,
                arn=self._arn(f"provisioned-model/{self._new_id('provisioned-model', name)}"),
                model_arn=model_arn,
                foundation_arn=foundation_arn,
                model_units=units,
                created=now(),
                client_request_token=token,
                commitment=commitment,
                polls_left=self._deployment_polls_creating,
                failure=take_failure(self._capacity_failures, name),
            )
            self._throughputs[throughput.arn] = throughput
            self._tag(throughput.arn, request.get("tags"))
            return {"provisionedModelArn": throughput.arn}

    def _throughput(self, identifier: str) -> Throughput:
        found = lookup(self._throughputs, identifier, lambda item: item.name)
        if found is None:
            raise not_found(f"Provisioned model {identifier} not found.")
        return found

    def get_provisioned_model_throughput(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("GetProvisionedModelThroughput")
        with self._lock:
            throughput = self._throughput(required(request, "provisionedModelId"))
            throughput.advance()
            return throughput.summary()

    def list_provisioned_model_throughputs(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("ListProvisionedModelThroughputs")
        with self._lock:
            throughputs = filtered(
                self._throughputs.values(),
                request,
                created=lambda item: item.created,
                filters={
                    "statusEquals": lambda item, value: item.status == value,
                    "nameContains": lambda item, value: value in item.name,
                    "modelArnEquals": lambda item, value: item.model_arn == value,
                },
            )
            page, token = paged(throughputs, request)
            return with_token({"provisionedModelSummaries": [item.summary() for item in page]}, token)

    def update_provisioned_model_throughput(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("UpdateProvisionedModelThroughput")
        with self._lock:
            throughput = self._throughput(required(request, "provisionedModelId"))
            if throughput.status != "InService":
                raise invalid(
                    f"Provisioned model {throughput.name} cannot be updated while {throughput.status}."
                )
            new_name = request.get("desiredProvisionedModelName")
            if new_name is not None:
                if not PROVISIONED_NAME.fullmatch(new_name) or len(new_name) > 63:
                    raise invalid(f"Value '{new_name}' at 'desiredProvisionedModelName' is not a valid name.")
                throughput.name = new_name
            desired = request.get("desiredModelId")
            if desired is not None:
                model = self._model(desired)
                if self._foundation_arn(model.foundation_model_id) != throughput.foundation_arn:
                    raise invalid(
                        f"Custom model {model.name} was not customized from {throughput.foundation_arn}; "
                        "a provisioned model can only swap in a model of the same base model."
                    )
                throughput.desired_model_arn, throughput.status, throughput.polls_left = (
                    model.arn,
                    "Updating",
                    1,
                )
            throughput.updated = now()
            return {}

    def delete_provisioned_model_throughput(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._check_throttle("DeleteProvisionedModelThroughput")
        with self._lock:
            throughput = self._throughput(required(request, "provisionedModelId"))
            expires = throughput.commitment_expires
            if expires is not None and expires > now():
                raise invalid(
                    f"Provisioned model {throughput.name} has a commitment term until {expires.isoformat()} "
                    "and cannot be deleted before it ends."
                )
            del self._throughputs[throughput.arn]
            self._tags.pop(throughput.arn, None)
            return {}
