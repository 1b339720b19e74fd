"""Where the champion falls short: the gap analysis of a lineage after its latest evaluated round.

Per category of the evaluation set: the champion's score (the lineage's primary metric), its change over
the last evaluated rounds, the records it fails worst (prompt, reference, its answer) and, when the
lineage's traffic is captured, the category's share of recent traffic.

Everything here is computed from what evaluation already stores, nothing is scored again:
- each evaluated round's metrics document (Aggregate evaluation, `metrics_uri`): every metric of the
  candidate, and of the champion when it answered, overall and per category;
- each round's per-record results (`results_uri`): every record's prompt, reference, both models'
  answers and every metric's score of each.

The champion after a round is the round's candidate when it was promoted, else the champion it faced.
A champion whose score was reused (the set unchanged, so it did not answer again) has its answers and
scores in the earlier round that scored it on the same set version: `champion_timeline` follows that.

Plain functions over plain data; dal/gaps.py reads the documents and calls them.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from iterft_runtime.models.gaps import (
    AnswerRole,
    AnswerSource,
    CategoryGap,
    FailingRecord,
    GapAnalysis,
    ScorePoint,
)

DEFAULT_WINDOW = 3
"""How many evaluated rounds back a category's change is measured (fewer when the set has fewer)."""
DEFAULT_PER_CATEGORY = 3
"""How many of the records it fails worst the analysis lists per category."""
PERFECT = 1.0
"""Every metric is on 0..1, higher is better: a record scored this (or more) is not failed."""
_SHARE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class GapOptions:
    """How an analysis is taken: `window` evaluated rounds for a category's change, `per_category` worst
    records kept, and the categories' shares of recent traffic when it is captured (shown, breaks ties)."""

    window: int = DEFAULT_WINDOW
    per_category: int = DEFAULT_PER_CATEGORY
    traffic_share: Mapping[str, float] | None = None


DEFAULT_OPTIONS = GapOptions()


class GapAnalysisError(ValueError):
    """The stored evaluation cannot give the analysis (a metric or a model's answers are missing)."""


@dataclass(frozen=True)
class EvaluatedRound:
    """One evaluated round: its registry record's decision and parent, and its metrics document."""

    iteration: int
    promoted: bool
    parent_iteration: int
    """The champion when the round began (0: the starting point): who it faced."""
    eval_set_version: str
    champion_reused: bool
    """The champion did not answer this round: its recorded metrics were reused."""
    candidate: Mapping[str, Mapping[str, Any]]
    """Every metric of the candidate: `{"overall": x, "by_category": {...}}` (logic/scoring.summarize)."""
    champion: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The same for the champion when it answered (a reused champion's entry is a bounded summary)."""

    @classmethod
    def from_document(
        cls, iteration: int, decision: str, parent_iteration: int | None, document: Mapping[str, Any]
    ) -> EvaluatedRound:
        """From the registry's decision and parent and the round's metrics document as Aggregate
        evaluation wrote it (`{metric, eval_set_version, champion_reused, candidate, champion}`)."""
        return cls(
            iteration=iteration,
            promoted=decision == "promoted",
            parent_iteration=parent_iteration or 0,
            eval_set_version=str(document["eval_set_version"]),
            champion_reused=bool(document.get("champion_reused")),
            candidate=dict(document["candidate"]),
            champion=dict(document.get("champion") or {}),
        )


@dataclass(frozen=True)
class ChampionScores:
    """The champion after one evaluated round: which model it is and where its scores and answers are."""

    iteration: int
    """The evaluated round."""
    champion_iteration: int
    source: AnswerSource
    """The round that scored this champion on this set version, and as which of its two models."""
    eval_set_version: str
    metrics: Mapping[str, Mapping[str, Any]]
    """Every metric of the champion, every category listed (the source round's own scoring)."""

    def category_scores(self, metric: str) -> Mapping[str, float] | None:
        """The champion's per-category scores on `metric`; None when that round did not compute it."""
        scored = self.metrics.get(metric)
        return None if scored is None else dict(scored.get("by_category") or {})


def champion_timeline(rounds: Iterable[EvaluatedRound]) -> list[ChampionScores]:
    """The champion after each evaluated round, in round order.

    Promoted: the round's candidate, scored by it. Rejected (or ended otherwise): the champion it faced,
    scored by it when it answered, else by the latest earlier round whose champion was the same model on
    the same set version (a reused score was measured there). A reused champion that no earlier round of
    `rounds` scored (its round not given) has no entry.
    """
    timeline: list[ChampionScores] = []
    for evaluated in sorted(rounds, key=lambda item: item.iteration):
        if evaluated.promoted:
            entry: ChampionScores | None = ChampionScores(
                evaluated.iteration,
                evaluated.iteration,
                AnswerSource(iteration=evaluated.iteration, role="candidate"),
                evaluated.eval_set_version,
                evaluated.candidate,
            )
        elif not evaluated.champion_reused:
            entry = ChampionScores(
                evaluated.iteration,
                evaluated.parent_iteration,
                AnswerSource(iteration=evaluated.iteration, role="champion"),
                evaluated.eval_set_version,
                evaluated.champion,
            )
        else:
            earlier = next(
                (
                    scored
                    for scored in reversed(timeline)
                    if scored.champion_iteration == evaluated.parent_iteration
                    and scored.eval_set_version == evaluated.eval_set_version
                ),
                None,
            )
            entry = replace(earlier, iteration=evaluated.iteration) if earlier is not None else None
        if entry is not None:
            timeline.append(entry)
    return timeline


def analysed_round(
    timeline: Sequence[ChampionScores], champion_iteration: int | None = None
) -> ChampionScores | None:
    """The entry the analysis is taken after: the latest evaluated round, or, when the lineage's champion
    is now another model (a rollback since), the latest round after which `champion_iteration` was
    champion. None when there is no such round."""
    for entry in reversed(timeline):
        if champion_iteration is None or entry.champion_iteration == champion_iteration:
            return entry
    return None


@dataclass(frozen=True)
class WorstRecords:
    """Per category, the records a model fails worst, and how many records the category has."""

    worst: dict[str, list[FailingRecord]]
    records: dict[str, int]
    failing: dict[str, int]
    uncategorized: int = 0


def worst_records(
    rows: Iterable[Mapping[str, Any]],
    role: AnswerRole,
    metric: str,
    per_category: int = DEFAULT_PER_CATEGORY,
) -> WorstRecords:
    """From a round's per-record results (logic/evaluation.result_rows), streamed: per category, the
    `per_category` records the `role` model scored lowest on `metric` below PERFECT (lowest first, then
    by line), how many records the category has and how many are failed. Memory holds `per_category`
    records a category, whatever the set's size."""
    kept: dict[str, list[tuple[float, int, int, FailingRecord]]] = {}
    records: dict[str, int] = {}
    failing: dict[str, int] = {}
    uncategorized = 0
    for order, row in enumerate(rows):
        category = row.get("category")
        if category is None:
            uncategorized += 1
            continue
        category = str(category)
        records[category] = records.get(category, 0) + 1
        score = _row_score(row, role, metric)
        if score >= PERFECT:
            continue
        failing[category] = failing.get(category, 0) + 1
        if per_category < 1:
            continue
        failed = FailingRecord(
            line=int(row["line"]),
            prompt=str(row["prompt"]),
            reference=str(row["reference"]),
            answer=str(row[f"{role}_answer"]),
            score=score,
        )
        heap = kept.setdefault(category, [])
        # A max-heap on (score, line) by negation: the root is the best-scored record kept, the one to drop.
        heapq.heappush(heap, (-score, -failed.line, -order, failed))
        if len(heap) > per_category:
            heapq.heappop(heap)
    worst = {
        category: [item[3] for item in sorted(heap, key=lambda item: (-item[0], -item[1], -item[2]))]
        for category, heap in sorted(kept.items())
    }
    return WorstRecords(worst=worst, records=records, failing=failing, uncategorized=uncategorized)


def _row_score(row: Mapping[str, Any], role: AnswerRole, metric: str) -> float:
    if f"{role}_answer" not in row:
        raise GapAnalysisError(f"line {row.get('line')}: the {role} gave no answer in these results")
    scores = row.get(f"{role}_metrics") or {}
    if metric not in scores:
        raise GapAnalysisError(f"line {row.get('line')}: the {role}'s answer has no {metric} score")
    return float(scores[metric])


def check_traffic_share(traffic_share: Mapping[str, float]) -> None:
    """Each share in 0..1, together at most 1 (traffic of no category is the rest); ValueError otherwise."""
    for category, share in traffic_share.items():
        if not math.isfinite(share) or not 0.0 <= share <= 1.0:
            raise ValueError(f"traffic share of {category!r} must be in 0..1, not {share!r}")
    total = sum(traffic_share.values())
    if total > 1.0 + _SHARE_TOLERANCE:
        raise ValueError(f"traffic shares add up to {total:g}, more than 1")


def scored_on(lineage: str, analysed: ChampionScores, metric: str) -> tuple[Mapping[str, float], float]:
    """The champion's per-category and overall scores on `metric` in `analysed`; GapAnalysisError when the
    round that scored it did not compute that metric (the lineage's primary metric changed since)."""
    scores = analysed.category_scores(metric)
    overall = analysed.metrics.get(metric, {}).get("overall")
    if scores is None or overall is None:
        raise GapAnalysisError(
            f"{lineage}: round {analysed.source.iteration} did not score the {analysed.source.role} "
            f"with {metric}"
        )
    return scores, float(overall)


def gap_analysis(
    lineage: str,
    metric: str,
    timeline: Sequence[ChampionScores],
    analysed: ChampionScores,
    worst: WorstRecords,
    *,
    window: int = DEFAULT_WINDOW,
    per_category: int = DEFAULT_PER_CATEGORY,
    traffic_share: Mapping[str, float] | None = None,
) -> GapAnalysis:
    """The champion's gaps after round `analysed` (an entry of `timeline`, see `analysed_round`), from
    `worst`: `worst_records` of that entry's source results on `metric`.

    A category's trend is the champion's score in it after each round of `timeline` up to `analysed` on
    the same set version (another version is another yardstick); its change is the latest score minus
    the one `window` rounds earlier (or the earliest there is). `traffic_share` (category -> share of
    recent traffic, 0..1) is shown per category when given, and breaks ties between equal scores.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 round, not {window}")
    if traffic_share is not None:
        check_traffic_share(traffic_share)
    scores, overall = scored_on(lineage, analysed, metric)
    history = [
        entry
        for entry in timeline
        if entry.eval_set_version == analysed.eval_set_version and entry.iteration <= analysed.iteration
    ]
    categories = []
    for category, score in scores.items():
        trend = [
            ScorePoint(iteration=entry.iteration, score=float(earlier[category]))
            for entry in history
            if (earlier := entry.category_scores(metric)) is not None and category in earlier
        ]
        base = trend[max(0, len(trend) - 1 - window)] if len(trend) > 1 else None
        categories.append(
            CategoryGap(
                category=category,
                records=worst.records.get(category, 0),
                score=float(score),
                change=float(score) - base.score if base is not None else None,
                change_from=base.iteration if base is not None else None,
                trend=trend,
                worst=worst.worst.get(category, [])[:per_category],
                failing=worst.failing.get(category, 0),
                traffic_share=float(traffic_share.get(category, 0.0)) if traffic_share is not None else None,
            )
        )
    categories.sort(key=lambda gap: (gap.score, -(gap.traffic_share or 0.0), gap.category))
    untested = {
        category: float(share)
        for category, share in sorted((traffic_share or {}).items())
        if category not in scores and share > 0
    }
    return GapAnalysis(
        lineage=lineage,
        metric=metric,
        iteration=analysed.iteration,
        champion_iteration=analysed.champion_iteration,
        eval_set_version=analysed.eval_set_version,
        overall=float(overall),
        answers_from=analysed.source,
        window=window,
        per_category=per_category,
        categories=categories,
        uncategorized_records=worst.uncategorized,
        traffic_share_given=traffic_share is not None,
        untested_traffic=untested,
    )


def weakest_categories(analysis: GapAnalysis, n: int) -> list[str]:
    """The `n` weakest categories, weakest first (the analysis's order: lowest score, then the larger
    traffic share, then name), leaving out those the champion answers perfectly: what curation aims at."""
    return [gap.category for gap in analysis.categories if gap.failing > 0][: max(n, 0)]


def weakest_in_summary(by_category: Mapping[str, float], n: int) -> list[tuple[str, float]]:
    """The `n` lowest-scoring categories of a metrics summary's `by_category`, below PERFECT, lowest first
    then by name. A summary keeps its lowest-scoring categories (logic/evaluation.metrics_summary), so for
    `n` up to its size these are the set's weakest."""
    ranked = sorted(
        ((str(category), float(score)) for category, score in by_category.items() if float(score) < PERFECT),
        key=lambda item: (item[1], item[0]),
    )
    return ranked[: max(n, 0)]
