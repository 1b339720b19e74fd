"""S3's errors that can heal reach Step Functions under a name its Retry matches (issue 19): botocore raises
S3's 5xx and SlowDown as a bare ClientError (S3's model declares no error shapes for them), which a step
cannot tell from a refusal; the data-access layer raises them as TransientServiceError."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from iterft_runtime.dal import storage
from iterft_runtime.dal.clients import TransientServiceError, transient_error

from stacks.retries import TRANSIENT_HANDLER_ERRORS


def _client_error(code: str, status: int, operation: str = "PutObject") -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InternalError", 500),
        ("SlowDown", 503),
        ("ServiceUnavailable", 503),
        ("RequestTimeout", 400),
        ("", 502),
    ],
)
def test_s3_errors_that_can_heal_are_named_transient(code: str, status: int) -> None:
    named = transient_error(_client_error(code, status))
    assert isinstance(named, TransientServiceError)
    assert type(named).__name__ in TRANSIENT_HANDLER_ERRORS  # the Lambda error type the steps retry


@pytest.mark.parametrize(
    ("code", "status"), [("AccessDenied", 403), ("NoSuchBucket", 404), ("InvalidRange", 416)]
)
def test_refusals_keep_their_bare_client_error(code: str, status: int) -> None:
    assert transient_error(_client_error(code, status)) is None


def test_a_modelled_error_keeps_its_own_class() -> None:
    """DynamoDB's InternalServerError is already its own class (and so already retried by name)."""
    modelled = type("InternalServerError", (ClientError,), {})
    error = modelled(
        {"Error": {"Code": "InternalServerError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "Get"
    )
    assert transient_error(error) is None


class _FailingS3:
    def __init__(self, error: ClientError) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def fail(*_: Any, **__: Any) -> Any:
            raise self.error

        return fail


@pytest.mark.parametrize(
    "call",
    [
        lambda: storage.put_json("b", "k.json", {"a": 1}),
        lambda: storage.put_jsonl("b", "k.jsonl", [{"a": 1}]),
        lambda: storage.head_object("b", "k"),
        lambda: list(storage.iter_chunks("b", "k")),
        lambda: storage.copy_object("b", "src", None, "b", "dst"),
        lambda: storage.put_lines("b", "k.jsonl", [b"{}\n"]),
    ],
)
def test_every_s3_call_of_the_data_access_layer_names_a_slowdown(
    monkeypatch: pytest.MonkeyPatch, call: Any
) -> None:
    monkeypatch.setattr(storage, "client", lambda _service: _FailingS3(_client_error("SlowDown", 503)))
    with pytest.raises(TransientServiceError, match="SlowDown"):
        call()


def test_an_access_denied_s3_call_is_not_retried_as_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "client", lambda _service: _FailingS3(_client_error("AccessDenied", 403)))
    with pytest.raises(ClientError) as raised:
        storage.put_json("b", "k.json", {"a": 1})
    assert type(raised.value) is ClientError


def test_put_lines_streams_any_number_of_lines_into_one_object(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[bytes] = []

    class _S3:
        def upload_fileobj(self, stream: Any, bucket: str, key: str) -> None:
            while chunk := stream.read(7):  # small reads across line boundaries
                written.append(chunk)

    monkeypatch.setattr(storage, "client", lambda _service: _S3())
    lines = [b'{"n": %d}\n' % n for n in range(1000)]

    assert storage.put_lines("b", "k.jsonl", iter(lines)) == "s3://b/k.jsonl"
    assert b"".join(written) == b"".join(lines)
