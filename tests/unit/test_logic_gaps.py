"""The gap analysis (logic/gaps.py) against values computed by hand.

The lineage below, all on evaluation set version v1, primary metric token_f1:
- round 1: rejected; the starting point (0) answered: billing 0.3, returns 0.6;
- round 2: promoted (champion reused): billing 0.7, returns 0.5;
- round 3: rejected, faced round 2's model (reused): so the champion after it is still 2, scored by round 2;
- round 5: promoted, faced round 2's model (reused): its candidate scored the records in ROUND_5_ROWS,
  billing (0.9 + 1.0) / 2 = 0.95, returns (0.2 + 1.0 + 0.15 + 0.2) / 4 = 0.3875.
"""

from __future__ import annotations

from typing import Any

import pytest
from iterft_runtime.logic.gaps import (
    EvaluatedRound,
    GapAnalysisError,
    analysed_round,
    champion_timeline,
    gap_analysis,
    weakest_categories,
    weakest_in_summary,
    worst_records,
)
from iterft_runtime.models.gaps import AnswerSource, FailingRecord, ScorePoint


def scores(overall: float, **by_category: float) -> dict[str, Any]:
    return {"token_f1": {"overall": overall, "by_category": by_category}, "exact_match": {"overall": 0.0}}


def document(
    candidate: dict[str, Any], champion: dict[str, Any] | None, version: str = "v1"
) -> dict[str, Any]:
    return {
        "metric": "token_f1",
        "eval_set_version": version,
        "champion_reused": champion is None,
        "candidate": candidate,
        "champion": champion if champion is not None else {"token_f1": {"overall": 0.1, "by_category": {}}},
    }


ROUNDS = [
    EvaluatedRound.from_document(
        1,
        "rejected",
        0,
        document(scores(0.45, billing=0.5, returns=0.4), scores(0.45, billing=0.3, returns=0.6)),
    ),
    EvaluatedRound.from_document(2, "promoted", 0, document(scores(0.6, billing=0.7, returns=0.5), None)),
    EvaluatedRound.from_document(3, "rejected", 2, document(scores(0.58, billing=0.6, returns=0.55), None)),
    EvaluatedRound.from_document(5, "promoted", 2, document(scores(0.6, billing=0.95, returns=0.3875), None)),
]


def row(line: int, category: str | None, score: float) -> dict[str, Any]:
    return {
        "line": line,
        "category": category,
        "prompt": f"question {line}",
        "reference": f"reference {line}",
        "candidate_answer": f"answer {line}",
        "candidate_score": score,
        "candidate_metrics": {"token_f1": score, "exact_match": float(score == 1.0)},
    }


ROUND_5_ROWS = [
    row(1, "billing", 0.9),
    row(2, "returns", 0.2),
    row(3, "returns", 1.0),
    row(4, "returns", 0.15),
    row(5, None, 0.0),
    row(6, "returns", 0.2),
    row(7, "billing", 1.0),
]


def test_the_champion_after_each_round_and_where_it_was_scored() -> None:
    timeline = champion_timeline(reversed(ROUNDS))  # any order in, round order out
    assert [(entry.iteration, entry.champion_iteration) for entry in timeline] == [
        (1, 0),
        (2, 2),
        (3, 2),
        (5, 5),
    ]
    assert [entry.source for entry in timeline] == [
        AnswerSource(iteration=1, role="champion"),
        AnswerSource(iteration=2, role="candidate"),
        AnswerSource(iteration=2, role="candidate"),  # reused in round 3: scored by round 2
        AnswerSource(iteration=5, role="candidate"),
    ]
    assert timeline[2].category_scores("token_f1") == {"billing": 0.7, "returns": 0.5}


def test_a_reused_champion_no_given_round_scored_has_no_entry() -> None:
    assert [entry.iteration for entry in champion_timeline(ROUNDS[2:])] == [5]


def test_a_reused_score_is_taken_only_from_the_same_set_version() -> None:
    changed = EvaluatedRound.from_document(
        6,
        "rejected",
        5,
        document(scores(0.5, billing=0.5), scores(0.7, billing=0.9, returns=0.5), version="v2"),
    )
    reused = EvaluatedRound.from_document(
        7, "rejected", 5, document(scores(0.5, billing=0.5), None, version="v2")
    )
    timeline = champion_timeline([*ROUNDS, changed, reused])
    assert timeline[-1].source == AnswerSource(iteration=6, role="champion")
    assert timeline[-1].category_scores("token_f1") == {"billing": 0.9, "returns": 0.5}


def test_worst_records_keep_the_lowest_scores_below_perfect_per_category() -> None:
    worst = worst_records(iter(ROUND_5_ROWS), "candidate", "token_f1", per_category=2)
    assert worst.records == {"billing": 2, "returns": 4}
    assert worst.failing == {"billing": 1, "returns": 3}
    assert worst.uncategorized == 1
    assert [(record.line, record.score) for record in worst.worst["returns"]] == [(4, 0.15), (2, 0.2)]
    assert worst.worst["billing"] == [
        FailingRecord(line=1, prompt="question 1", reference="reference 1", answer="answer 1", score=0.9)
    ]


def test_worst_records_score_the_asked_metric_and_model() -> None:
    worst = worst_records(ROUND_5_ROWS, "candidate", "exact_match", per_category=5)
    assert worst.failing == {"billing": 1, "returns": 3}  # exact_match 0 everywhere but lines 3 and 7
    assert [record.line for record in worst.worst["returns"]] == [2, 4, 6]  # equal scores: by line
    with pytest.raises(GapAnalysisError, match="the champion gave no answer"):
        worst_records(ROUND_5_ROWS, "champion", "token_f1")
    with pytest.raises(GapAnalysisError, match="no judge score"):
        worst_records(ROUND_5_ROWS, "candidate", "judge")


def analysis(window: int = 3, traffic: dict[str, float] | None = None) -> Any:
    timeline = champion_timeline(ROUNDS)
    latest = analysed_round(timeline)
    assert latest is not None
    worst = worst_records(ROUND_5_ROWS, latest.source.role, "token_f1", per_category=2)
    return gap_analysis(
        "support-bot",
        "token_f1",
        timeline,
        latest,
        worst,
        window=window,
        per_category=2,
        traffic_share=traffic,
    )


def test_the_analysis_by_hand() -> None:
    result = analysis()
    assert (result.iteration, result.champion_iteration, result.overall) == (5, 5, 0.6)
    assert result.answers_from == AnswerSource(iteration=5, role="candidate")
    assert [gap.category for gap in result.categories] == ["returns", "billing"]
    returns, billing = result.categories
    assert returns.score == 0.3875 and returns.records == 4 and returns.failing == 3
    assert returns.trend == [
        ScorePoint(iteration=1, score=0.6),
        ScorePoint(iteration=2, score=0.5),
        ScorePoint(iteration=3, score=0.5),
        ScorePoint(iteration=5, score=0.3875),
    ]
    # Three rounds back from round 5 among four points: round 1.
    assert returns.change_from == 1 and returns.change == pytest.approx(0.3875 - 0.6)
    assert billing.change_from == 1 and billing.change == pytest.approx(0.95 - 0.3)
    assert [record.line for record in returns.worst] == [4, 2]
    assert result.uncategorized_records == 1
    assert returns.traffic_share is None and not result.traffic_share_given
    assert weakest_categories(result, 1) == ["returns"]


def test_the_change_over_a_shorter_window() -> None:
    returns, billing = analysis(window=2).categories
    assert returns.change_from == 2 and returns.change == pytest.approx(0.3875 - 0.5)
    assert billing.change_from == 2 and billing.change == pytest.approx(0.95 - 0.7)
    with pytest.raises(ValueError, match="window"):
        analysis(window=0)


def test_a_single_round_on_its_set_has_no_change() -> None:
    changed = EvaluatedRound.from_document(
        6,
        "rejected",
        5,
        document(scores(0.5, billing=0.5), scores(0.7, billing=0.9, returns=0.5), version="v2"),
    )
    timeline = champion_timeline([*ROUNDS, changed])
    latest = analysed_round(timeline)
    assert latest is not None and latest.champion_iteration == 5
    rows = [{**row(1, "billing", 0.9), "champion_answer": "a", "champion_metrics": {"token_f1": 0.9}}]
    result = gap_analysis("bot", "token_f1", timeline, latest, worst_records(rows, "champion", "token_f1"))
    assert [(gap.category, gap.change, [p.iteration for p in gap.trend]) for gap in result.categories] == [
        ("returns", None, [6]),
        ("billing", None, [6]),
    ]


def test_traffic_share_is_shown_breaks_ties_and_names_untested_categories() -> None:
    result = analysis(traffic={"returns": 0.3, "billing": 0.5, "shipping": 0.1})
    assert result.traffic_share_given
    assert [(gap.category, gap.traffic_share) for gap in result.categories] == [
        ("returns", 0.3),
        ("billing", 0.5),
    ]
    assert result.untested_traffic == {"shipping": 0.1}
    assert [gap.traffic_share for gap in analysis(traffic={"billing": 1.0}).categories] == [0.0, 1.0]

    tied = [
        EvaluatedRound.from_document(1, "promoted", 0, document(scores(0.5, alpha=0.5, beta=0.5), None)),
    ]
    timeline = champion_timeline(tied)
    rows = [row(1, "alpha", 0.5), row(2, "beta", 0.5)]
    order = gap_analysis(
        "bot",
        "token_f1",
        timeline,
        timeline[0],
        worst_records(rows, "candidate", "token_f1"),
        traffic_share={"alpha": 0.1, "beta": 0.6},
    )
    assert weakest_categories(order, 2) == ["beta", "alpha"]


@pytest.mark.parametrize(
    ("traffic", "message"),
    [({"a": 0.7, "b": 0.4}, "add up to 1.1"), ({"a": -0.1}, "in 0..1"), ({"a": float("nan")}, "in 0..1")],
)
def test_traffic_shares_out_of_range_are_refused(traffic: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        analysis(traffic=traffic)


def test_a_metric_the_round_did_not_compute_is_an_error() -> None:
    timeline = champion_timeline(ROUNDS)
    with pytest.raises(GapAnalysisError, match="round 5 did not score the candidate with judge"):
        gap_analysis("bot", "judge", timeline, timeline[-1], worst_records([], "candidate", "judge"))


def test_after_a_rollback_the_analysis_is_of_the_current_champion() -> None:
    timeline = champion_timeline(ROUNDS)
    entry = analysed_round(timeline, champion_iteration=2)
    assert (
        entry is not None
        and entry.iteration == 3
        and entry.source == AnswerSource(iteration=2, role="candidate")
    )
    assert analysed_round(timeline, champion_iteration=4) is None
    assert analysed_round([]) is None


def test_weakest_leaves_out_perfect_categories() -> None:
    rows = [row(1, "alpha", 1.0), row(2, "beta", 0.5)]
    timeline = champion_timeline(
        [EvaluatedRound.from_document(1, "promoted", 0, document(scores(0.75, alpha=1.0, beta=0.5), None))]
    )
    result = gap_analysis(
        "bot", "token_f1", timeline, timeline[0], worst_records(rows, "candidate", "token_f1")
    )
    assert weakest_categories(result, 5) == ["beta"]
    assert weakest_categories(result, 0) == []


def test_weakest_in_a_metrics_summary() -> None:
    summary = {"c": 0.5, "a": 0.5, "b": 0.25, "d": 1.0}
    assert weakest_in_summary(summary, 2) == [("b", 0.25), ("a", 0.5)]
    assert weakest_in_summary(summary, 10) == [("b", 0.25), ("a", 0.5), ("c", 0.5)]
