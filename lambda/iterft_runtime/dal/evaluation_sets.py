"""The lineage's fixed evaluation set in the data bucket: where it is, and reading it as parsed.

Validate (before training) and Plan evaluation (the round's yardstick) read it the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from iterft_runtime import naming
from iterft_runtime.dal import storage
from iterft_runtime.logic.evaluation import EvaluationSet, EvaluationSetError, parse_evaluation_set


class EvaluationSetMissingError(EvaluationSetError):
    """The lineage has no evaluation set where the pipeline looks for it."""


def evaluation_set_uri(bucket: str, lineage: str) -> str:
    return storage.s3_uri(bucket, naming.evaluation_set_key(lineage))


def read_evaluation_set(bucket: str, lineage: str) -> tuple[EvaluationSet, storage.ObjectInfo]:
    """The lineage's evaluation set, parsed, and the S3 object version it was read from."""
    key = naming.evaluation_set_key(lineage)
    source = evaluation_set_uri(bucket, lineage)
    try:
        found = storage.head_object(bucket, key)
        chunks = storage.iter_chunks(bucket, key, found.version_id, etag=found.etag)
        return parse_evaluation_set(chunks, source), found
    except storage.ObjectNotFoundError:
        raise EvaluationSetMissingError(
            f"no evaluation set at {source}: upload the lineage's JSONL evaluation set to s3 key {key}"
        ) from None


def shard_rows(bucket: str, lineage: str, iteration: int, shard_count: int) -> Iterator[Any]:
    """Every Score shard's rows of a round (the answers, with their items), in shard order, so in the
    set's order, whichever Map scored them: what Aggregate evaluation and a judged evaluation job read."""
    for index in range(shard_count):
        key = naming.evaluation_shard_key(lineage, iteration, index)
        for line in b"".join(storage.iter_chunks(bucket, key)).splitlines():
            if line.strip():
                yield json.loads(line)
