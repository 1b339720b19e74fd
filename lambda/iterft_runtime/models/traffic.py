"""The flywheel's settings: where the account's Bedrock invocation logs are, and how a lineage's live
traffic and the team's feedback are curated into its next round (docs/flywheel.md).

Invocation logging is an account-and-region setting (PutModelInvocationLoggingConfiguration: one
configuration per region), so where the logs are is the deployment's to say (`InvocationLogsConfig`);
each lineage says how its traffic is told apart and curated (`TrafficConfig`).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iterft_runtime.models.strategy import S3_URI

KMS_KEY_ARN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[a-zA-Z0-9-]+$"
"""A KMS key by ARN (IAM grants name keys by ARN, not by alias)."""
LOG_PREFIX_MARKER = "AWSLogs/"
"""Bedrock writes under `<keyPrefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/`."""

SCHEDULE_EXPRESSION = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$")
"""EventBridge Scheduler's rate() and cron() expressions (at() is a one-off, not a schedule)."""
MIN_RATING, MAX_RATING = 1, 5
"""Feedback ratings: 1 (wrong) to 5 (exactly right)."""


class InvocationLogsConfig(BaseModel):
    """Where the account's model invocation logs are delivered in the stack's region: named (`s3_uri`,
    the logging configuration's bucket and key prefix, and `kms_key_arn` when they are encrypted with a
    customer managed key), or `enable_if_absent`: the stack creates a bucket and turns logging on only
    when the region has no logging configuration (an existing one is never overwritten)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    s3_uri: Annotated[str, Field(pattern=S3_URI, max_length=1024)] | None = None
    """`s3://<bucketName>/<keyPrefix>`: the logging configuration's S3 destination, as it is set."""
    kms_key_arn: Annotated[str, Field(pattern=KMS_KEY_ARN)] | None = None
    """The key the log bucket encrypts with (SSE-KMS); curation may decrypt with it through S3 only."""
    enable_if_absent: bool = False
    """Create a log bucket and enable logging to it, only when the region has none."""

    @model_validator(mode="after")
    def _one_source(self) -> InvocationLogsConfig:
        if (self.s3_uri is None) == (not self.enable_if_absent):
            raise ValueError("set either s3_uri (where the logs are) or enable_if_absent: true, not both")
        if self.kms_key_arn is not None and self.s3_uri is None:
            raise ValueError(
                "kms_key_arn: only with s3_uri (the stack's own log bucket uses S3-managed keys)"
            )
        if self.s3_uri is not None and LOG_PREFIX_MARKER in self.s3_uri:
            raise ValueError(
                f"s3_uri: name the logging configuration's bucket and key prefix, before {LOG_PREFIX_MARKER} "
                "(curation reads AWSLogs/<account>/BedrockModelInvocationLogs/<region>/ under it)"
            )
        return self


class CurationConfig(BaseModel):
    """How a lineage's traffic and feedback become a round (the curation step)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: Annotated[str, Field(max_length=256)] | None = None
    """An EventBridge Scheduler expression (`rate(1 day)`, `cron(0 6 ? * MON *)`); None: on demand only."""
    record_budget: Annotated[int, Field(ge=1, le=20_000)] = 200
    """The most fine-tuning records one curated dataset holds: quality over quantity."""
    min_rating: Annotated[int, Field(ge=MIN_RATING, le=MAX_RATING)] = 4
    """A logged answer rated at least this (and not corrected) is trusted as a fine-tuning answer."""
    near_duplicate_threshold: Annotated[float, Field(gt=0, le=1)] = 0.8
    """Prompts whose Jaccard similarity of 2-word shingles reaches this are duplicates (computed exactly,
    logic/near_duplicates.py)."""
    lookback_days: Annotated[int, Field(ge=1, le=90)] = 7
    """What a scheduled curation reads: the logs of the last this many days (`iterft curate --since`)."""
    redact_pii: bool = False
    """Replace personal data Amazon Comprehend (DetectPiiEntities) finds with `[TYPE]` before writing."""
    language: Annotated[str, Field(pattern=r"^(en|es)$")] = "en"
    """DetectPiiEntities' LanguageCode (it supports en and es)."""

    @field_validator("schedule")
    @classmethod
    def _scheduler_expression(cls, value: str | None) -> str | None:
        if value is not None and not SCHEDULE_EXPRESSION.fullmatch(value):
            raise ValueError(f"{value!r} is not an EventBridge Scheduler rate() or cron() expression")
        return value


class TrafficConfig(BaseModel):
    """A lineage's live traffic: the invocations of what its serving pointer names (every model it has
    named), narrowed by `request_metadata` where applications tag their calls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_metadata: dict[str, str] = Field(default_factory=dict, max_length=16)
    """Key/value pairs of Converse's `requestMetadata` naming the lineage; a logged call carrying one of
    these keys with another value belongs to another lineage (they may share a starting model)."""
    curation: CurationConfig = Field(default_factory=CurationConfig)
