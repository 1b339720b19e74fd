"""Bedrock model invocation logs as training data (`trainingDataConfig.invocationLogsConfig`).

Model invocation logging delivers JSON records under `AWSLogs/<account>/BedrockModelInvocationLogs/
<region>/YYYY/MM/DD/HH/` (`.json.gz`, one record a line): `{schemaType: "ModelInvocationLog", timestamp,
requestId, operation, modelId, input{inputBodyJson | inputBodyS3Path}, output{outputBodyJson |
outputBodyS3Path}, requestMetadata?}` (model-invocation-logging, add-metadata-to-prompts). A body too large
for the record is written to its own object and named by its S3 path. Requests are Converse's or each
provider's InvokeModel body; `requestMetadata` is the string map the caller tagged the request with, which
`requestMetadataFilters` select on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iterft_runtime.logic.invocation_logs import parse_logs

from iterft.local.bedrock.requests import JobDataError


@dataclass(frozen=True)
class LoggedInvocation:
    """One logged call: the model it called, its question (last user turn), its answer if logged."""

    model_id: str
    question: str
    answer: str | None
    metadata: Mapping[str, str]


def invocations(
    objects: Iterable[tuple[str, bytes]], read: Callable[[str], bytes | None]
) -> list[LoggedInvocation]:
    """Every text invocation of the log files `objects` ((key, content) pairs, gzipped or not), in key
    and line order; `read` fetches bodies logged by S3 path (iterft_runtime.logic.invocation_logs reads
    them, as curation does). Records of another schema, and calls whose question cannot be read (an
    embedding, an image), are skipped, as they carry no prompt to train on; a file or line that cannot be
    read fails the job, naming it."""
    parsed = parse_logs(objects, read)
    if parsed.problems:
        raise JobDataError(f"Invocation log {parsed.problems[0]}.")
    return [
        LoggedInvocation(call.model_id, call.question, call.answer, call.metadata) for call in parsed.calls
    ]


def selected(filters: Mapping[str, Any], metadata: Mapping[str, str]) -> bool:
    """Whether a record's requestMetadata passes `requestMetadataFilters` (no filter: every record)."""
    if filters.get("equals"):
        return _equals(filters["equals"], metadata)
    if filters.get("notEquals"):
        return not _equals(filters["notEquals"], metadata)
    if filters.get("andAll"):
        return all(selected(base, metadata) for base in filters["andAll"])
    if filters.get("orAll"):
        return any(selected(base, metadata) for base in filters["orAll"])
    return True


def _equals(pair: Mapping[str, str], metadata: Mapping[str, str]) -> bool:
    return all(metadata.get(key) == value for key, value in pair.items())
