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

import gzip
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iterft.local.bedrock.job_data import json_lines
from iterft.local.bedrock.requests import JobDataError
from iterft.local.bedrock.runtime import logged_answer, logged_question
from iterft.local.standin_model import DataFormatError

LOG_SCHEMA = "ModelInvocationLog"


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
    and line order; `read` fetches bodies logged by S3 path. Records of another schema, and calls whose
    question cannot be read (an embedding, an image), are skipped, as they carry no prompt to train on."""
    found: list[LoggedInvocation] = []
    for key, content in objects:
        try:
            lines = list(json_lines(_text(key, content)))
        except DataFormatError as error:
            raise JobDataError(f"Invocation log {key}: {error}.") from None
        for number, record in lines:
            if not isinstance(record, Mapping) or record.get("schemaType") != LOG_SCHEMA:
                continue
            invocation = _invocation(record, read, f"{key} line {number}")
            if invocation is not None:
                found.append(invocation)
    return found


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


def _text(key: str, content: bytes) -> str:
    if key.endswith(".gz") or content[:2] == b"\x1f\x8b":
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError):
            raise JobDataError(f"Invocation log {key} is not a valid gzip file.") from None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise JobDataError(f"Invocation log {key} is not UTF-8 text.") from None


def _invocation(
    record: Mapping[str, Any], read: Callable[[str], bytes | None], where: str
) -> LoggedInvocation | None:
    model_id = str(record.get("modelId") or "")
    operation = str(record.get("operation") or "")
    request = _body(record.get("input") or {}, "input", read, where)
    if request is None or not model_id:
        return None
    question = logged_question(operation, model_id, request)
    if not question:
        return None
    response = _body(record.get("output") or {}, "output", read, where)
    answer = logged_answer(operation, model_id, response) if response is not None else None
    metadata = record.get("requestMetadata") or {}
    return LoggedInvocation(model_id, question, answer, {str(k): str(v) for k, v in metadata.items()})


def _body(
    section: Mapping[str, Any], kind: str, read: Callable[[str], bytes | None], where: str
) -> Mapping[str, Any] | None:
    """A logged request or response body: inline (`<kind>BodyJson`) or its own object (`<kind>BodyS3Path`)."""
    inline = section.get(f"{kind}BodyJson")
    if isinstance(inline, Mapping):
        return inline
    path = section.get(f"{kind}BodyS3Path")
    if not path:
        return None
    data = read(str(path))
    if data is None:
        raise JobDataError(f"Invocation log {where}: the {kind} body at {path} does not exist.")
    try:
        body = json.loads(_text(str(path), data))
    except ValueError:
        raise JobDataError(f"Invocation log {where}: the {kind} body at {path} is not JSON.") from None
    return body if isinstance(body, Mapping) else None
