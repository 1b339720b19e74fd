"""The flywheel's reads and writes: invocation logs (that prefix only), feedback files, what earlier
rounds trained on, Amazon Comprehend's PII detection, and the curated dataset."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from iterft_runtime import naming
from iterft_runtime.dal import storage
from iterft_runtime.dal.clients import client, transient_errors_named
from iterft_runtime.logic.curation import record_prompt
from iterft_runtime.logic.feedback import FeedbackReport, check_feedback, feedback_prefix
from iterft_runtime.logic.invocation_logs import ParsedLogs, day_prefixes, parse_log_object

CURATED_NAME_PREFIX = "curated-"
"""Curated datasets are `incoming/<lineage>/curated-<when>-<strategy>.jsonl`."""
PII_MAX_BYTES = 100_000
"""DetectPiiEntities' limit on a text's UTF-8 size."""


def _read(bucket: str, key: str) -> bytes:
    return b"".join(storage.iter_chunks(bucket, key))


def read_logs(bucket: str, root: str, since: date, until: date) -> tuple[ParsedLogs, int]:
    """Every call logged under `s3://bucket/root` from `since` to `until` (UTC days), and how many
    objects were read. A body delivered as its own object is read only when it is under the same root
    (what curation may read); any other is reported as a problem of its line."""

    def read_body(uri: str) -> bytes | None:
        body_bucket, key = storage.split_uri(uri)
        if body_bucket != bucket or not key.startswith(root):
            raise ValueError(f"the body at {uri} is outside the log prefix s3://{bucket}/{root}")
        try:
            return _read(bucket, key)
        except storage.ObjectNotFoundError:
            return None

    parsed, objects = ParsedLogs(), 0
    for prefix in day_prefixes(root, since, until):
        for key in storage.list_keys(bucket, prefix):
            if not key.endswith((".json", ".json.gz", ".gz")):
                continue
            objects += 1
            parse_log_object(key, _read(bucket, key), read_body, parsed)
    return parsed, objects


def read_feedback(bucket: str, lineage: str) -> list[tuple[str, FeedbackReport]]:
    """Each feedback file of the lineage, in key order (name files by time: a later one wins)."""
    return [
        (key, check_feedback(storage.iter_lines(bucket, key)))
        for key in storage.list_keys(bucket, feedback_prefix(lineage))
        if key.endswith(naming.DATASET_SUFFIX)
    ]


def earlier_prompts(bucket: str, lineage: str) -> list[tuple[str, str]]:
    """(prompt, where) of every record earlier rounds trained on (their validated copies) and of every
    earlier curated dataset (trained or still queued)."""
    keys = [
        key
        for key in storage.list_keys(bucket, f"{naming.VALIDATED_PREFIX}{lineage}/")
        if key.endswith(".jsonl")
    ]
    keys += [
        key
        for key in storage.list_keys(bucket, f"{naming.incoming_prefix(lineage)}{CURATED_NAME_PREFIX}")
        if key.endswith(naming.DATASET_SUFFIX)
    ]
    found: list[tuple[str, str]] = []
    for key in keys:
        for number, line in enumerate(storage.iter_lines(bucket, key), start=1):
            try:
                prompt = record_prompt(json.loads(line))
            except ValueError:
                continue
            if prompt:
                found.append((prompt, f"s3://{bucket}/{key} line {number}"))
    return found


def detect_pii(text: str, language: str) -> list[Mapping[str, Any]]:
    """Amazon Comprehend's DetectPiiEntities on one text (under PII_MAX_BYTES: longer texts are refused
    by Comprehend, so the caller must not send them)."""
    if len(text.encode()) > PII_MAX_BYTES:
        raise ValueError(f"a text of {len(text.encode())} bytes is over DetectPiiEntities' {PII_MAX_BYTES}")
    with transient_errors_named():
        response = client("comprehend").detect_pii_entities(Text=text, LanguageCode=language)
    return list(response.get("Entities") or [])


def put_curated(
    bucket: str, key: str, rows: Iterable[Mapping[str, Any]], metadata: Mapping[str, str]
) -> str | None:
    """Write a curated dataset where uploads go, with S3 user metadata saying how it was built (the
    trigger chain starts its round as for any upload); its version id."""
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    with transient_errors_named():
        response = client("s3").put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson", Metadata=dict(metadata)
        )
    version = response.get("VersionId")
    return str(version) if version else None
