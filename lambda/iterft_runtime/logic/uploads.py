"""What an object under incoming/<lineage>/ is, and in which order a lineage's queued uploads run.

Ordering (README, "Upload order"): S3 orders the events of one object key by their `sequencer` and
guarantees nothing across keys (Amazon S3 User Guide, "Event message structure":
https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html). So:

- different keys run in arrival order: the event's `time` (EventBridge gives whole seconds), then the
  moment the trigger queue received the event (SQS `SentTimestamp`, milliseconds), then the key in
  natural order (`round-9` before `round-10`), then the sequencer and the version, so the order is
  total and the same on every read;
- the versions of one key always run oldest first (lowest sequencer first): they take the places
  their arrivals earned, in sequencer order;
- a version older than one already started is stale (its event was delivered late): it is superseded,
  never trained after the newer one; with `queue.supersede_same_key`, every queued version but the
  newest of a key is superseded, and the newest takes the oldest one's place.

Uploads without a sequencer (an `iterft start` request) keep their arrival place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cmp_to_key
from typing import cast

from iterft_runtime import naming
from iterft_runtime.models.records import QueuedUpload

COMPRESSED_SUFFIX = ".jsonl.gz"


class UploadStatus(StrEnum):
    """An upload's state in the lineage's upload ledger (registry items `UPLOAD#<key>#<version>`)."""

    QUEUED = "queued"
    STARTED = "started"
    """Dispatched: it became an iteration (`iteration` says which); the history has its outcome."""
    WITHDRAWN = "withdrawn"
    """Taken out of the queue by an operator (`iterft withdraw`), or its object version was deleted
    before its round started."""
    SUPERSEDED = "superseded"
    """A newer version of the same key took its place (`queue.supersede_same_key`), or a newer
    version had already started when it came to run (a late event): never trained."""
    INVALID_DATA = "invalid_data"
    """Refused at the trigger: not something a round can train on (extension, empty, compressed)."""
    IGNORED = "ignored"
    """Recorded and notified, nothing to train: a folder marker."""
    REFUSED = "refused"
    """Refused at the trigger: its lineage was retired (`iterft retire`)."""


NOT_TRAINED = (
    UploadStatus.WITHDRAWN,
    UploadStatus.SUPERSEDED,
    UploadStatus.INVALID_DATA,
    UploadStatus.IGNORED,
    UploadStatus.REFUSED,
)


@dataclass(frozen=True)
class Classification:
    """What an object under incoming/<lineage>/ is: a dataset to queue, or why it is not."""

    status: UploadStatus
    reason: str = ""

    @property
    def is_dataset(self) -> bool:
        return self.status is UploadStatus.QUEUED


def classify(key: str, size: int, *, empty_starts_a_round: bool = False) -> Classification:
    """The documented rule (README, "What the trigger does with each object"), first match wins.

    `empty_starts_a_round`: the lineage distils from invocation logs, whose rounds train on none of the
    upload (docs/strategies.md): an empty object is how such a round is asked for, so it is queued."""
    name = key.rsplit("/", 1)[-1]
    if key.endswith("/"):
        return Classification(
            UploadStatus.IGNORED, "a folder marker (a key ending in /): nothing to train on"
        )
    lowered = name.lower()
    if lowered.endswith(COMPRESSED_SUFFIX):
        return Classification(
            UploadStatus.INVALID_DATA,
            "compressed JSON Lines (.jsonl.gz) are not accepted: Bedrock model customization reads "
            "uncompressed .jsonl training data; upload the file uncompressed",
        )
    if not lowered.endswith(naming.DATASET_SUFFIX):
        extension = f"extension {name.rsplit('.', 1)[-1]!r}" if "." in name else "no extension"
        return Classification(
            UploadStatus.INVALID_DATA,
            f"not a {naming.DATASET_SUFFIX} file ({extension}): training data must be JSON Lines "
            f"named *{naming.DATASET_SUFFIX}",
        )
    if size <= 0 and not empty_starts_a_round:
        return Classification(UploadStatus.INVALID_DATA, "the object is empty (0 bytes): nothing to train on")
    return Classification(UploadStatus.QUEUED)


# -- the sequencer ------------------------------------------------------------------------------------


def normalize_sequencer(value: object) -> str | None:
    """The event's `sequencer` as upper-case hex, or None when absent or not hex."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().upper()
    return text if re.fullmatch(r"[0-9A-F]+", text) else None


def compare_sequencers(first: str, second: str) -> int:
    """-1, 0 or 1, as the S3 User Guide documents: right-pad the shorter value with zeros, then compare
    lexicographically (the greater value is the later event of the key)."""
    a, b = first.upper(), second.upper()
    width = max(len(a), len(b))
    a, b = a.ljust(width, "0"), b.ljust(width, "0")
    return (a > b) - (a < b)


_sequencer_key = cmp_to_key(compare_sequencers)


# -- ordering -----------------------------------------------------------------------------------------

_DIGITS = re.compile(r"(\d+)")


def natural_key(key: str) -> tuple[tuple[int, int | str], ...]:
    """`round-9` < `round-10`: digit runs compare as numbers, the rest as text."""
    parts: list[tuple[int, int | str]] = []
    for index, part in enumerate(_DIGITS.split(key)):
        if index % 2:
            parts.append((0, int(part)))
        elif part:
            parts.append((1, part))
    return tuple(parts)


def arrival_key(entry: QueuedUpload) -> tuple[object, ...]:
    """Different keys: event time, queue arrival, natural key order, then sequencer and version."""
    sequencer = (entry.sequencer or "").upper()
    return (
        entry.dataset.uploaded_at,
        entry.received_at or "",
        natural_key(entry.dataset.key),
        entry.dataset.key,
        sequencer.ljust(64, "0"),
        entry.dataset.identity,
    )


def queue_order(entries: Iterable[QueuedUpload]) -> list[QueuedUpload]:
    """The order the entries run in: arrival order, each key's sequenced versions oldest first in the
    places their arrivals earned."""
    ordered = sorted(entries, key=arrival_key)
    by_key: dict[str, list[int]] = {}
    for index, entry in enumerate(ordered):
        if entry.sequencer is not None:
            by_key.setdefault(entry.dataset.key, []).append(index)
    result = list(ordered)
    for places in by_key.values():
        versions = sorted((ordered[i] for i in places), key=lambda e: _sequencer_key(cast(str, e.sequencer)))
        for place, entry in zip(places, versions, strict=True):
            result[place] = entry
    return result


@dataclass(frozen=True)
class Superseded:
    entry: QueuedUpload
    reason: str


@dataclass(frozen=True)
class Plan:
    """The next upload to run (None: nothing), and the queued uploads to record as superseded first."""

    head: QueuedUpload | None
    superseded: list[Superseded] = field(default_factory=list)


@dataclass(frozen=True)
class StartedVersion:
    """The newest version of a key that already started a round."""

    sequencer: str
    version: str
    iteration: int | None


def plan_next(
    queued: Sequence[QueuedUpload], started: Mapping[str, StartedVersion], *, supersede_same_key: bool
) -> Plan:
    """Which queued upload runs next: the first in queue_order, skipping (and superseding) a version
    older than one of its key that already started, and, with `supersede_same_key`, every version of
    the head's key but the newest queued one."""
    remaining = queue_order(queued)
    superseded: list[Superseded] = []
    while remaining:
        head = remaining[0]
        if head.sequencer is None:
            return Plan(head, superseded)
        key = head.dataset.key
        newer_started = started.get(key)
        if newer_started is not None and compare_sequencers(head.sequencer, newer_started.sequencer) < 0:
            where = f" as iteration {newer_started.iteration}" if newer_started.iteration else ""
            reason = (
                f"a newer version of {key} (versionId {newer_started.version}, sequencer "
                f"{newer_started.sequencer}) already started{where}: S3 delivered this older version's "
                "event late, and training it now would undo the newer data"
            )
            superseded.append(Superseded(head, reason))
            remaining = remaining[1:]
            continue
        if supersede_same_key:
            versions = [e for e in remaining if e.dataset.key == key and e.sequencer is not None]
            newest = max(versions, key=lambda e: _sequencer_key(cast(str, e.sequencer)))
            if newest is not head:
                reason = (
                    f"superseded by a newer version of {key} (versionId {newest.dataset.version_id}, "
                    f"sequencer {newest.sequencer}) before its round started (queue.supersede_same_key)"
                )
                superseded += [Superseded(e, reason) for e in versions if e is not newest]
                remaining = [newest] + [e for e in remaining if e not in versions]
                continue
        return Plan(head, superseded)
    return Plan(None, superseded)
