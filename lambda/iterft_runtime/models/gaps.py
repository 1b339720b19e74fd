"""The gap analysis of a lineage (logic/gaps.py): where its champion falls short, per category of the
evaluation set. What `iterft gaps --json` prints, what the report draws, and what curation reads to aim a
round at the weakest categories (`logic.gaps.weakest_categories`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AnswerRole = Literal["candidate", "champion"]
"""Which columns of a round's per-record results hold a model's answers (logic/evaluation.result_rows)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FailingRecord(_Frozen):
    """An evaluation record the champion answered below a perfect score."""

    line: int
    """Its line in the evaluation set."""
    prompt: str
    reference: str
    answer: str
    """The champion's answer, as the round that scored it recorded it."""
    score: float
    """The analysis metric's score of that answer (0..1; 1 is a perfect answer)."""


class ScorePoint(_Frozen):
    """The champion's score in one category after one evaluated round."""

    iteration: int
    score: float


class AnswerSource(_Frozen):
    """Where the champion's per-record answers were read: the round that scored it, and as which model."""

    iteration: int
    role: AnswerRole


class CategoryGap(_Frozen):
    """One category of the evaluation set, as the champion does on it."""

    category: str
    records: int
    """Evaluation records in the category."""
    score: float
    """The champion's mean score in the category (the analysis metric)."""
    change: float | None
    """`score` minus the champion's score in the category after round `change_from`, the earliest of the
    last `GapAnalysis.window` evaluated rounds before the latest on the same evaluation set version;
    None when no earlier round was evaluated on it."""
    change_from: int | None
    trend: list[ScorePoint]
    """The champion's score in the category after each evaluated round on the same set version, in order."""
    worst: list[FailingRecord]
    """The records the champion fails worst, lowest score first (at most `GapAnalysis.per_category`)."""
    failing: int
    """How many of the category's records the champion answers below a perfect score."""
    traffic_share: float | None = None
    """The category's share (0..1) of the lineage's recent traffic; None when no traffic was given."""


class GapAnalysis(_Frozen):
    """The champion's gaps after the lineage's latest evaluated round, weakest category first."""

    lineage: str
    metric: str
    """The metric every score here is (the lineage's primary metric)."""
    iteration: int
    """The evaluated round the analysis is taken after."""
    champion_iteration: int
    """The champion after that round (0: the lineage's starting point)."""
    eval_set_version: str
    overall: float
    """The champion's score over the whole set."""
    answers_from: AnswerSource
    window: int
    per_category: int
    categories: list[CategoryGap]
    """Weakest first: lowest score, then the larger traffic share, then name."""
    uncategorized_records: int = 0
    """Evaluation records without a category (in `overall`, in no category)."""
    traffic_share_given: bool = False
    untested_traffic: dict[str, float] = Field(default_factory=dict)
    """Categories of the traffic the evaluation set has no record of, with their share: blind spots."""
    traffic_from: str | None = None
    """What the traffic shares were read from (the calls, their dates, the log location), or why there
    are none, when the lineage captures traffic."""
