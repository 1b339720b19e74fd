"""A lineage's leakage check settings: how close a training prompt may come to an evaluation prompt, and
what a round does about those that come closer (issue 17, docs/dataset-validation.md "Leakage check")."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class LeakageAction(StrEnum):
    """What a round does with training records whose prompt duplicates an evaluation prompt."""

    REJECT = "reject"
    """The round is refused before any job (`invalid_data`), every matching line listed."""
    DROP = "drop"
    """Those records are left out: the round trains on the rest, written to the round's validated/ key."""
    WARN = "warn"
    """The round trains on the whole upload; the matches are recorded and notified."""


class LeakageConfig(BaseModel):
    """The leakage check every training dataset of the lineage goes through before any job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: LeakageAction = LeakageAction.REJECT
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.6
    """A near duplicate: the Jaccard similarity of the two prompts' word shingle sets is at least this
    (1: the same shingles, in any order). Exact duplicates (equal normalised text) always match."""
    shingle_words: Annotated[int, Field(ge=1, le=5)] = 3
    """Words a shingle (consecutive words of the normalised text)."""


__all__ = ["LeakageAction", "LeakageConfig"]
