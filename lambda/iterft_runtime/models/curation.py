"""The curate function's request and result (`iterft curate`, and each lineage's curation schedule)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_LISTED_CHOICES = 500
"""Choices a result lists (a dry run prints them); the counts cover all of them."""
MAX_LISTED_PROBLEMS = 50
SOURCE_METADATA_KEY = "source"
"""S3 user metadata `x-amz-meta-source` of a dataset: how it was built (curation writes it; Validate passes it
on and the history records it as the round's `source`)."""
MAX_SOURCE_CHARS = 512
"""A source longer than this is cut (user metadata may hold up to 2 KB; the history shows one line)."""


class CurateRequest(BaseModel):
    """What to curate: one lineage, the logs since a day (default: its curation's lookback), for real or
    as a dry run (which changes nothing)."""

    model_config = ConfigDict(extra="forbid")

    lineage: Annotated[str, Field(min_length=1, max_length=64)]
    since: str | None = None
    """An ISO date (`2026-12-01`) or datetime; None: `traffic.curation.lookback_days` ago."""
    dry_run: bool = False
    prefer: list[str] | None = None
    """Category names, weakest first; None: the gap analysis's weakest categories (logic/gaps)."""
    requested_by: str = "schedule"


class WrittenDataset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uri: str
    version_id: str | None
    strategy: str
    records: int


class CurateResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lineage: str
    dry_run: bool
    since: str
    until: str
    log_location: str
    log_objects: int
    logged_calls: int
    lineage_calls: int
    """Calls of the lineage's serving models (and its request metadata)."""
    skipped_records: int
    problems: list[str] = Field(default_factory=list)
    """Log lines and feedback files that could not be used, each with its place (the first few)."""
    problem_count: int = 0
    feedback_files: list[dict[str, Any]] = Field(default_factory=list)
    prefer: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    choices: list[dict[str, Any]] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    written: list[WrittenDataset] = Field(default_factory=list)
    redacted: int = 0
    """Texts in which Comprehend found personal data (replaced by [TYPE])."""
    traffic_share: dict[str, float] = Field(default_factory=dict)
    """Each category's share (0..1) of the lineage's calls read, `uncategorized` for calls like no
    evaluation prompt (`iterft gaps` shows it per category: a dry run reads it)."""
