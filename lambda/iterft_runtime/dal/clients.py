"""Lazily created boto3 clients, one per service per process, shared by every thread.

Clients come from boto3's defaults (region, credentials, and AWS_ENDPOINT_URL, which the
embedded default sets process-wide), so no endpoint is ever named in code. One session serves
every client (a session's creation parses botocore's endpoint data, a few hundred ms). boto3
clients are thread-safe once built; building them through a shared session is not, hence the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})
"""Client-side rate limiting and up to 10 attempts: one throttled Converse call during evaluation
must not fail a round that already paid for its training job."""

_lock = threading.Lock()
_sessions: list[boto3.session.Session] = []
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    """The process's client for `service`, created on first use."""
    with _lock:
        existing = _clients.get(service)
        if existing is None:
            if not _sessions:
                _sessions.append(boto3.session.Session())
            # boto3-stubs type one overload per service name literal; any name boto3 knows is fine here.
            existing = _clients[service] = _sessions[0].client(service, config=RETRIES)  # type: ignore[call-overload]  # any service name
        return existing


def reset_clients() -> None:
    """Forget the session and every client, so the next use builds them from the current environment.

    For processes that change AWS_ENDPOINT_URL or credentials after first use: the embedded
    default when it starts a new server, and tests switching between mocked and served AWS.
    """
    with _lock:
        _clients.clear()
        _sessions.clear()


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


UNMODELLED_TRANSIENT_CODES = frozenset(
    {"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout", "500", "503"}
)
"""S3's retryable error codes (Error responses: 500 InternalError, 503 SlowDown and ServiceUnavailable, 400
RequestTimeout), which botocore raises as a bare ClientError: S3's model declares no such error shapes."""


class TransientServiceError(RuntimeError):
    """An AWS error that can heal (S3's 5xx, SlowDown) and that botocore raises as a bare `ClientError`.

    A handler's exception reaches Step Functions as Error = its class name, and a bare `ClientError` cannot
    be told from a refusal; under this name the step's Retry (stacks/retries.py) retries it."""


def transient_error(error: ClientError) -> TransientServiceError | None:
    """The named error for a bare ClientError that can heal, or None (a modelled error keeps its class)."""
    if type(error) is not ClientError:
        return None
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if error_code(error) in UNMODELLED_TRANSIENT_CODES or int(status) >= 500:
        return TransientServiceError(str(error))
    return None


@contextmanager
def transient_errors_named() -> Iterator[None]:
    """Raise a bare ClientError that can heal as TransientServiceError (the original as its cause)."""
    try:
        yield
    except ClientError as error:
        named = transient_error(error)
        if named is None:
            raise
        raise named from error
