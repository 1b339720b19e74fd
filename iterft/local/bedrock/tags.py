"""Tags of the Bedrock stand-in's resources: TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iterft.local.bedrock.core import StandInCore
from iterft.local.bedrock.requests import (
    not_found,
    required,
)


class Tags(StandInCore):
    """The tagging operations, on every resource the stand-in holds."""

    def _taggable(self, arn: str) -> bool:
        return (
            any(job.arn == arn for job in self._jobs.values())
            or any(model.arn == arn for model in self._models.values())
            or arn in self._deployments
            or arn in self._throughputs
            or any(job.arn == arn for job in self._evaluation_jobs.values())
        )

    def tag_resource(self, request: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            arn = required(request, "resourceARN")
            if not self._taggable(arn):
                raise not_found(f"Resource {arn} not found.")
            self._tag(arn, request.get("tags") or [])
            return {}

    def untag_resource(self, request: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            arn = required(request, "resourceARN")
            if not self._taggable(arn):
                raise not_found(f"Resource {arn} not found.")
            for key in request.get("tagKeys") or []:
                self._tags.get(arn, {}).pop(key, None)
            return {}

    def list_tags_for_resource(self, request: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            arn = required(request, "resourceARN")
            if not self._taggable(arn):
                raise not_found(f"Resource {arn} not found.")
            return {"tags": [{"key": key, "value": value} for key, value in self._tags.get(arn, {}).items()]}
