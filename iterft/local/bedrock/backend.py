"""The Bedrock stand-in's backend: one `BedrockStandIn` per account and region, in a moto `BackendDict`."""

from __future__ import annotations

from moto.core.base_backend import BackendDict

from iterft.local.bedrock.capacity import Capacity
from iterft.local.bedrock.custom_models import CustomModels
from iterft.local.bedrock.customization import CustomizationJobs
from iterft.local.bedrock.evaluation import EvaluationJobs
from iterft.local.bedrock.runtime import Runtime
from iterft.local.bedrock.tags import Tags


class BedrockStandIn(CustomizationJobs, CustomModels, Capacity, EvaluationJobs, Runtime, Tags):
    """One account and region of the stand-in. Thread-safe: every operation holds the backend's lock.

    Every operation is a method taking the API request (camelCase) and returning the API response.
    """


bedrock_standin_backends: BackendDict[BedrockStandIn] = BackendDict(BedrockStandIn, "bedrock")


def standin_backend(account_id: str, region: str) -> BedrockStandIn:
    """The stand-in of one account and region (created on first use; cleared when moto resets)."""
    return bedrock_standin_backends[account_id][region]
