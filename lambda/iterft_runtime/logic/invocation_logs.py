"""Amazon Bedrock model invocation logs, read as records of calls (plain logic: bytes in, calls out).

Model invocation logging with S3 delivery (model-invocation-logging) writes objects under
`<keyPrefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/` (`.json.gz` or `.json`),
one JSON record a line: `{schemaType: "ModelInvocationLog", schemaVersion, timestamp, accountId, region,
requestId, operation, modelId, input{inputContentType, inputBodyJson | inputBodyS3Path, inputTokenCount},
output{outputContentType, outputBodyJson | outputBodyS3Path, outputTokenCount}, requestMetadata?}`. A body
too large for the record is delivered as an object of its own and named by its S3 path. A request body is
Converse's (`messages`, `system`) or the provider's InvokeModel body; `requestMetadata` is the string map
the caller tagged the call with (Converse and InvokeModel take it: add-metadata-to-prompts).

`parse_log_object` never stops at a bad line: a line that is not JSON, not a record, or whose body cannot
be read is reported with its object and line number, and every other line is still read. Records of
another schema and calls with no text question (embeddings, images alone) are counted as skipped.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

LOG_SCHEMA = "ModelInvocationLog"
LOG_SERVICE_DIR = "BedrockModelInvocationLogs"
CONVERSE_OPERATIONS = frozenset({"Converse", "ConverseStream"})
"""Operations whose bodies are Converse's (the same `messages` shape for every model)."""
_GEOGRAPHIES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")
_CHAT_TEMPLATE_TOKEN = re.compile(r"<\|[^|>]*\|>")


def log_root(key_prefix: str, account: str, region: str) -> str:
    """The key prefix Bedrock delivers a region's logs under, for a configuration's `keyPrefix`."""
    prefix = key_prefix.strip("/")
    return f"{prefix + '/' if prefix else ''}AWSLogs/{account}/{LOG_SERVICE_DIR}/{region}/"


def day_prefixes(root: str, since: date, until: date) -> list[str]:
    """`<root>YYYY/MM/DD/` for every day from `since` to `until` (UTC), in order: what a read lists."""
    days = (until - since).days
    return [f"{root}{(since + timedelta(days=n)).strftime('%Y/%m/%d')}/" for n in range(max(days, 0) + 1)]


@dataclass(frozen=True)
class LoggedCall:
    """One logged invocation with a text question."""

    request_id: str
    timestamp: str
    model_id: str
    operation: str
    question: str
    answer: str | None
    """The answer text as logged (None: no output logged, or none readable)."""
    metadata: Mapping[str, str]
    where: str
    """`<key> line <n>`: where the record is."""
    system: str | None = None
    """The request's system prompt, when it had one (Converse, Nova and Claude bodies)."""


@dataclass(frozen=True)
class LogProblem:
    key: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.key}{f' line {self.line}' if self.line is not None else ''}: {self.message}"


@dataclass
class ParsedLogs:
    """What a set of log objects held: the calls, every problem with its place, and what was skipped."""

    calls: list[LoggedCall] = field(default_factory=list)
    problems: list[LogProblem] = field(default_factory=list)
    skipped: int = 0
    """Records of another schema, or calls without a text question."""
    lines: int = 0


BodyReader = Callable[[str], bytes | None]
"""Fetches a body delivered as its own object (`s3://bucket/key`); None when it does not exist."""


def parse_log_object(key: str, content: bytes, read_body: BodyReader, into: ParsedLogs) -> None:
    """Add one log object's calls, problems and skipped records to `into`."""
    try:
        text = _text(key, content)
    except ValueError as error:
        into.problems.append(LogProblem(key, None, str(error)))
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        into.lines += 1
        try:
            record = json.loads(line)
        except ValueError:
            into.problems.append(LogProblem(key, number, "not JSON"))
            continue
        if not isinstance(record, Mapping):
            into.problems.append(LogProblem(key, number, "not a JSON object"))
            continue
        if record.get("schemaType") != LOG_SCHEMA:
            into.skipped += 1
            continue
        try:
            call = logged_call(record, read_body, f"{key} line {number}")
        except ValueError as error:
            into.problems.append(LogProblem(key, number, str(error)))
            continue
        if call is None:
            into.skipped += 1
        else:
            into.calls.append(call)


def parse_logs(objects: Iterable[tuple[str, bytes]], read_body: BodyReader) -> ParsedLogs:
    """Every call of the log objects `objects` ((key, content) pairs), in key and line order."""
    parsed = ParsedLogs()
    for key, content in objects:
        parse_log_object(key, content, read_body, parsed)
    return parsed


def logged_call(record: Mapping[str, Any], read_body: BodyReader, where: str) -> LoggedCall | None:
    """One record as a call; None when it has no text question. ValueError: a field is malformed or a
    body delivered separately cannot be read."""
    model_id = record.get("modelId")
    if not isinstance(model_id, str) or not model_id:
        raise ValueError("no modelId")
    operation = str(record.get("operation") or "")
    request = body_of(record.get("input"), "input", read_body)
    if request is None:
        return None
    question = request_question(operation, model_id, request)
    if not question:
        return None
    response = body_of(record.get("output"), "output", read_body)
    answer = response_answer(operation, model_id, response) if response is not None else None
    metadata = record.get("requestMetadata") or {}
    if not isinstance(metadata, Mapping):
        raise ValueError("requestMetadata is not a string map")
    return LoggedCall(
        request_id=str(record.get("requestId") or ""),
        timestamp=str(record.get("timestamp") or ""),
        model_id=model_id,
        operation=operation,
        question=question,
        answer=answer,
        metadata={str(k): str(v) for k, v in metadata.items()},
        where=where,
        system=request_system(request),
    )


def body_of(section: Any, kind: str, read_body: BodyReader) -> Mapping[str, Any] | None:
    """A logged request or response body: inline (`<kind>BodyJson`) or its own object (`<kind>BodyS3Path`);
    None when the record carries neither."""
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise ValueError(f"{kind} is not an object")
    inline = section.get(f"{kind}BodyJson")
    if isinstance(inline, Mapping):
        return inline
    path = section.get(f"{kind}BodyS3Path")
    if not path:
        return None
    data = read_body(str(path))
    if data is None:
        raise ValueError(f"the {kind} body at {path} does not exist")
    try:
        body = json.loads(_text(str(path), data))
    except ValueError:
        raise ValueError(f"the {kind} body at {path} is not JSON") from None
    if not isinstance(body, Mapping):
        raise ValueError(f"the {kind} body at {path} is not a JSON object")
    return body


def provider_of(model_id: str) -> str | None:
    """The provider whose InvokeModel body a model id speaks (`amazon.nova`, `anthropic`, `meta`,
    `amazon.titan`), from a model id, an inference profile id or an ARN naming one (a custom model's ARN
    names its base model); None when unknown."""
    name = (
        model_id.split("custom-model/", 1)[1] if "custom-model/" in model_id else model_id.rsplit("/", 1)[-1]
    )
    name = next((name[len(geo) :] for geo in _GEOGRAPHIES if name.startswith(geo)), name)
    return next((prefix for prefix in _QUESTIONS if name.startswith(prefix)), None)


def message_text(content: Any) -> str:
    """The text of a message's content: a string, or the text of its blocks."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(
        str(block["text"]) for block in content if isinstance(block, Mapping) and "text" in block
    )


def last_user_turn(body: Mapping[str, Any]) -> str | None:
    """The text of the last user message of a `messages` body (Converse, Nova, Claude), or None."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    users = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    return message_text(users[-1].get("content") or []) if users else None


_QUESTIONS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "amazon.nova": last_user_turn,
    "anthropic": last_user_turn,
    "meta": lambda body: _CHAT_TEMPLATE_TOKEN.sub(" ", str(body.get("prompt", ""))),
    "amazon.titan": lambda body: str(body.get("inputText", "")),
}
"""The question of each provider's InvokeModel request body."""
_ANSWERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "amazon.nova": lambda body: message_text(body["output"]["message"]["content"]),
    "anthropic": lambda body: message_text(body["content"]),
    "meta": lambda body: str(body["generation"]),
    "amazon.titan": lambda body: str(body["results"][0]["outputText"]),
}
"""The answer text of each provider's InvokeModel response body."""
CONVERSE_PROVIDER = "amazon.nova"
"""Converse's request and response bodies have the shapes of Nova's native ones (messages, output.message)."""


def _provider(operation: str, model_id: str) -> str | None:
    return CONVERSE_PROVIDER if operation in CONVERSE_OPERATIONS else provider_of(model_id)


def request_question(operation: str, model_id: str, body: Mapping[str, Any]) -> str | None:
    """The question (last user turn) of a Converse or InvokeModel request body; None when it has none
    readable."""
    provider = _provider(operation, model_id)
    if provider is None:
        return None
    try:
        return _QUESTIONS[provider](body) or None
    except (AttributeError, TypeError):
        return None


def request_system(body: Mapping[str, Any]) -> str | None:
    """The system prompt of a request body (`system`: Converse's and Nova's blocks, Claude's string)."""
    text = message_text(body.get("system") or [])
    return text or None


def response_answer(operation: str, model_id: str, body: Mapping[str, Any]) -> str | None:
    """The answer text of a Converse or InvokeModel response body, or None."""
    provider = _provider(operation, model_id)
    if provider is None:
        return None
    try:
        return _ANSWERS[provider](body) or None
    except (AttributeError, TypeError, KeyError, IndexError):
        return None


def _text(key: str, content: bytes) -> str:
    if key.endswith(".gz") or content[:2] == b"\x1f\x8b":
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError):
            raise ValueError("not a valid gzip file") from None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
