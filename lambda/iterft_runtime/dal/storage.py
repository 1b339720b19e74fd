"""S3 access: streamed reads (never a whole object in memory), version-pinned copies, small writes and
streamed ones.

S3's errors that can heal (5xx, SlowDown) are raised as `TransientServiceError`, which the steps retry
(botocore raises them as a bare ClientError, which they cannot tell from a refusal)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit

from botocore.exceptions import ClientError

from iterft_runtime.dal.clients import client, error_code, transient_error, transient_errors_named
from iterft_runtime.logic.lines import split_lines

CHUNK_BYTES = 1024 * 1024
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}


class ObjectNotFoundError(LookupError):
    """The object (or that version of it) does not exist; the message names its s3:// URI."""


class ObjectChangedError(LookupError):
    """The object no longer has the ETag the reader was promised (If-Match failed)."""


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    version_id: str | None
    size: int
    etag: str
    metadata: dict[str, str]
    """User metadata (x-amz-meta-*), names lowercased by S3."""


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parts.netloc, parts.path.lstrip("/")


def _version(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def _not_found(
    error: ClientError, bucket: str, key: str, version_id: str | None = None
) -> ObjectNotFoundError | None:
    """The error for a missing object, naming the exact version asked for."""
    if error_code(error) in _MISSING:
        version = f"?versionId={quote(version_id, safe='')}" if version_id else ""
        return ObjectNotFoundError(f"{s3_uri(bucket, key)}{version} does not exist")
    return None


def head_object(bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
    try:
        response = client("s3").head_object(Bucket=bucket, Key=key, **_version(version_id))
    except ClientError as error:
        raise (_not_found(error, bucket, key, version_id) or transient_error(error) or error) from None
    return ObjectInfo(
        bucket=bucket,
        key=key,
        version_id=response.get("VersionId") or version_id,
        size=int(response.get("ContentLength", 0)),
        etag=str(response.get("ETag", "")).strip('"'),
        metadata={str(k).lower(): str(v) for k, v in response.get("Metadata", {}).items()},
    )


def find_object(bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
    """head_object, also trying the URL-decoded key when the key as given does not exist.

    S3's direct notifications URL-encode keys ("a b.jsonl" -> "a+b.jsonl") and EventBridge's do
    not; a key that only exists decoded was encoded on the way here.
    """
    try:
        return head_object(bucket, key, version_id)
    except ObjectNotFoundError:
        decoded = unquote_plus(key)
        if decoded == key:
            raise
        return head_object(bucket, decoded, version_id)


def iter_chunks(
    bucket: str,
    key: str,
    version_id: str | None = None,
    *,
    byte_range: tuple[int, int] | None = None,
    etag: str | None = None,
) -> Iterator[bytes]:
    """The object's bytes (only `byte_range`, [start, end), when given), CHUNK_BYTES at a time.

    With `etag`, the read fails with ObjectChangedError unless the object still has that ETag.
    """
    extra = _version(version_id)
    if byte_range is not None:
        extra["Range"] = f"bytes={byte_range[0]}-{byte_range[1] - 1}"
    if etag is not None:
        extra["IfMatch"] = f'"{etag}"'
    try:
        response = client("s3").get_object(Bucket=bucket, Key=key, **extra)
    except ClientError as error:
        if error_code(error) in ("PreconditionFailed", "412"):
            raise ObjectChangedError(f"{s3_uri(bucket, key)} changed: its ETag is no longer {etag}") from None
        raise (_not_found(error, bucket, key, version_id) or transient_error(error) or error) from None
    body = response["Body"]
    try:
        yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()


def iter_lines(bucket: str, key: str, version_id: str | None = None) -> Iterator[bytes]:
    """The object's lines (each with its trailing newline), one at a time."""
    return split_lines(iter_chunks(bucket, key, version_id))


def iter_text_lines(bucket: str, key: str) -> Iterator[str] | None:
    """UTF-8 lines of an object, or None when it does not exist (checked before streaming)."""
    try:
        head_object(bucket, key)
    except ObjectNotFoundError:
        return None
    return (line.decode("utf-8", errors="replace") for line in iter_lines(bucket, key))


def copy_object(
    source_bucket: str, source_key: str, source_version_id: str | None, bucket: str, key: str
) -> str:
    """Copy one version of an object (multipart above 8 MB, so any size S3 holds); returns the URI."""
    source = {"Bucket": source_bucket, "Key": source_key, **_version(source_version_id)}
    with transient_errors_named():
        client("s3").copy(CopySource=source, Bucket=bucket, Key=key)
    return s3_uri(bucket, key)


class _LinesReader(io.RawIOBase):
    """A readable stream over an iterator of byte strings (what upload_fileobj reads a part at a time)."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = iter(lines)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            line = next(self._lines, None)
            if line is None:
                return 0
            self._pending = line
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def put_lines(bucket: str, key: str, lines: Iterable[bytes]) -> str:
    """Write `lines` as one object, streamed (multipart above 8 MB, so memory stays a few parts whatever
    the size); returns the URI."""
    stream = io.BufferedReader(_LinesReader(lines), buffer_size=CHUNK_BYTES)
    with transient_errors_named():
        client("s3").upload_fileobj(stream, bucket, key)
    return s3_uri(bucket, key)


def put_json(bucket: str, key: str, document: Mapping[str, Any] | Sequence[Any]) -> str:
    body = json.dumps(document, indent=2, sort_keys=True, default=str).encode()
    with transient_errors_named():
        client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return s3_uri(bucket, key)


def read_json(bucket: str, key: str) -> Any | None:
    """A JSON object's document, or None when the object does not exist."""
    try:
        body = b"".join(iter_chunks(bucket, key))
    except ObjectNotFoundError:
        return None
    return json.loads(body)


def put_jsonl(bucket: str, key: str, rows: Iterable[Mapping[str, Any]]) -> str:
    """Write rows as JSON Lines (small outputs such as per-prompt evaluation results)."""
    body = "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows).encode()
    with transient_errors_named():
        client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
    return s3_uri(bucket, key)


def list_keys(bucket: str, prefix: str) -> list[str]:
    """Every key under `prefix`, in key order."""
    paginator = client("s3").get_paginator("list_objects_v2")
    with transient_errors_named():
        return sorted(
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents") or []
        )
