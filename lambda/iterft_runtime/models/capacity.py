"""Capacity: what makes a custom model invocable (a custom model deployment or a provisioned throughput).

A round creates capacity for evaluation and the lineage keeps one serving capacity; both are plain
records carried in the state document (`$.capacity`) and the registry, so every step that must
delete or check one knows exactly what it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class CapacityKind(StrEnum):
    DEPLOYMENT = "deployment"
    """A custom model deployment (on-demand): billed per call, no hourly charge."""
    PROVISIONED = "provisioned"
    """A provisioned throughput: billed per model unit and hour while it exists."""


class CapacityRole(StrEnum):
    CANDIDATE = "candidate"
    CHAMPION = "champion"
    SERVING = "serving"


class Readiness(StrEnum):
    READY = "ready"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class Capacity:
    kind: CapacityKind
    name: str
    arn: str
    model_arn: str
    """The custom model it must serve: ready only once it serves exactly this model."""
    role: CapacityRole
    model_units: int = 0
    """Provisioned throughput's model units (0 for a deployment)."""
    commitment: str | None = None
    """Bedrock's commitmentDuration (OneMonth | SixMonths) when one was bought."""
    created_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Capacity:
        return cls(
            kind=CapacityKind(str(data["kind"])),
            name=str(data["name"]),
            arn=str(data["arn"]),
            model_arn=str(data["model_arn"]),
            role=CapacityRole(str(data["role"])),
            model_units=int(data.get("model_units") or 0),
            commitment=data.get("commitment") or None,
            created_at=data.get("created_at") or None,
        )


@dataclass(frozen=True)
class CapacityStatus:
    """One capacity as Bedrock describes it now: its status, the model it serves, an update's progress."""

    status: str
    model_arn: str | None
    update_status: str | None = None
    failure: str | None = None
    arn: str | None = None
    desired_model_arn: str | None = None
    """The model an update in progress is swapping in."""
