"""The report's charts and HTML page, produced from known metrics (no AWS): each chart's plotted data is
read back from the matplotlib figure before it is saved, and the page from the written files."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

import pytest
from iterft_runtime.logic.training_metrics import LossPoint, loss_points
from iterft_runtime.models.gaps import AnswerSource, CategoryGap, FailingRecord, GapAnalysis, ScorePoint

from iterft.charts import (
    CATEGORY_LINES,
    FADED_COLOUR,
    FINAL_TRAINING_LABEL,
    FINAL_VALIDATION_LABEL,
    NO_GAPS_NOTE,
    NO_VALIDATION_NOTE,
    RECENT_ITERATIONS,
    LossCurves,
    category_label,
    category_scores_figure,
    dataset_figure,
    loss_curves_figure,
    round_scores,
    score_figure,
    training_label,
    validation_label,
)
from iterft.report import (
    CHART_FILES,
    ReportData,
    base_model_label,
    markdown_report,
    produced_by,
    report_figures,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _row(iteration: int, decision: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "iteration": iteration,
        "decision": decision,
        "base_model": "amazon.nova-micro-v1:0:128k",
        "output_model_arn": None,
        "dataset": f"s3://data/incoming/bot/round-{iteration}.jsonl?versionId=v{iteration}",
        "records": None,
        "size_bytes": None,
        "training_loss": None,
        "validation_loss": None,
        "eval_score": None,
        "champion_score": None,
        "metric": "token_f1",
        "deltas": {},
        "converged": None,
        "reason": None,
    }
    row.update(values)
    return row


HISTORY = [
    _row(1, "promoted", records=40, size_bytes=12_345, eval_score=0.40, champion_score=0.10,
         deltas={"token_f1": 0.30}, output_model_arn="arn:aws:bedrock:us-east-1:1:custom-model/bot-it0001"),
    _row(2, "rejected", records=25, size_bytes=800, eval_score=0.405, champion_score=0.40,
         deltas={"token_f1": 0.005}, reason="improvement +0.0050 < 0.0200 <b>"),
    _row(3, "invalid_data", records=3, size_bytes=2_000_000, reason="3 records: fewer than 8"),
    _row(4, "promoted", records=60, size_bytes=20_000, eval_score=0.55, champion_score=0.40,
         deltas={}, output_model_arn="arn:aws:bedrock:us-east-1:1:custom-model/bot-it0004", converged=False),
]  # fmt: skip
CURVES = [
    LossCurves(1, [LossPoint(1, 1, 2.0), LossPoint(1, 2, 1.5), LossPoint(2, 3, 1.1)], [LossPoint(2, 3, 1.3)]),
    LossCurves(2, [LossPoint(1, 1, 1.2), LossPoint(1, 2, 1.0)], []),
    LossCurves(4, [LossPoint(1, 1, 1.0), LossPoint(1, 2, 0.7), LossPoint(1, 3, 0.6)], [LossPoint(1, 3, 0.8)]),
]


def _lines(figure: Any) -> dict[str, tuple[list[float], list[float]]]:
    """Every labelled line of the figure's axes: label -> (x data, y data)."""
    return {
        line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
        for axes in figure.axes
        for line in axes.get_lines()
        if not line.get_label().startswith("_")
    }


def _axes_lines(axes: Any) -> dict[str, tuple[list[float], list[float]]]:
    return {
        line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
        for line in axes.get_lines()
        if not line.get_label().startswith("_")
    }


def test_every_iterations_training_and_validation_curve_is_drawn_with_its_own_steps() -> None:
    figure = loss_curves_figure(CURVES)
    lines = _axes_lines(figure.axes[0])
    assert lines[training_label(1)] == ([1, 2, 3], [2.0, 1.5, 1.1])
    assert lines[training_label(2)] == ([1, 2], [1.2, 1.0])
    assert lines[training_label(4)] == ([1, 2, 3], [1.0, 0.7, 0.6])
    assert lines[validation_label(1)] == ([3], [1.3])
    assert lines[validation_label(4)] == ([3], [0.8])
    assert validation_label(2) not in lines  # iteration 2 had no validation data
    assert len(lines) == 5
    # Below: each iteration's final losses, the training one being the last epoch's mean.
    finals = _axes_lines(figure.axes[1])
    assert finals[FINAL_TRAINING_LABEL] == (
        [1, 2, 4],
        [pytest.approx(1.1), pytest.approx(1.1), pytest.approx(0.7666667)],
    )
    assert finals[FINAL_VALIDATION_LABEL] == ([1, 4], [1.3, 0.8])


def test_an_iteration_keeps_one_colour_for_its_training_and_validation_curves() -> None:
    figure = loss_curves_figure(CURVES)
    colours = {line.get_label(): line.get_color() for line in figure.axes[0].get_lines()}
    assert colours[training_label(1)] == colours[validation_label(1)]
    assert colours[training_label(1)] != colours[training_label(2)]


def test_without_any_validation_data_the_loss_chart_says_so() -> None:
    figure = loss_curves_figure([LossCurves(1, [LossPoint(1, 1, 1.0)])])
    assert NO_VALIDATION_NOTE in [text.get_text() for text in figure.axes[0].texts]
    with_validation = loss_curves_figure(CURVES)
    assert NO_VALIDATION_NOTE not in [text.get_text() for text in with_validation.axes[0].texts]


def test_round_scores_take_the_gates_improvement_else_the_difference() -> None:
    scores = {score.iteration: score for score in round_scores(HISTORY)}
    assert sorted(scores) == [1, 2, 4]  # iteration 3 was never scored
    assert scores[1].improvement == pytest.approx(0.30)
    assert scores[2].improvement == pytest.approx(0.005)
    assert scores[4].improvement == pytest.approx(0.15)  # no recorded delta: 0.55 - 0.40


def test_the_metric_chart_marks_promotions_and_rejections_and_draws_the_plateau_threshold() -> None:
    figure = score_figure(
        round_scores(HISTORY), metric="token_f1", min_improvement=0.02, plateau_threshold=0.03
    )
    top, bottom = figure.axes
    marked = {
        collection.get_label(): [tuple(point) for point in collection.get_offsets()]
        for collection in top.collections
    }
    assert marked["promoted"] == [(1, 0.40), (4, 0.55)]
    assert marked["rejected"] == [(2, 0.405)]
    assert _lines(figure)["champion it faced"] == ([1, 2, 4], [0.10, 0.40, 0.40])
    thresholds = {line.get_label(): list(line.get_ydata()) for line in bottom.get_lines()}
    assert thresholds["plateau threshold 0.03"] == [0.03, 0.03]
    assert thresholds["min improvement 0.02"] == [0.02, 0.02]
    bars = {
        round(patch.get_x() + patch.get_width() / 2): patch.get_height() for patch in bottom.containers[0]
    }
    assert bars == {1: pytest.approx(0.30), 2: pytest.approx(0.005), 4: pytest.approx(0.15)}
    # The marginal band around zero, and an axis linear near zero so the threshold stands apart from it.
    [band] = [patch for patch in bottom.patches if patch.get_label().startswith("marginal")]
    assert band.get_label() == "marginal: |improvement| < 0.03"
    assert bottom.get_yscale() == "symlog"
    assert bottom.transData.transform((0, 0.03))[1] - bottom.transData.transform((0, 0))[1] > 10  # pixels


def test_one_threshold_line_when_the_plateau_threshold_is_the_gates() -> None:
    figure = score_figure(
        round_scores(HISTORY), metric="token_f1", min_improvement=0.02, plateau_threshold=0.02
    )
    labels = [line.get_label() for line in figure.axes[1].get_lines()]
    assert "plateau threshold 0.02" in labels
    assert not [label for label in labels if label.startswith("min improvement")]


def test_the_dataset_chart_has_one_bar_per_validated_dataset_labelled_with_its_size() -> None:
    axes = dataset_figure(HISTORY).axes[0]
    bars = {round(patch.get_x() + patch.get_width() / 2): patch.get_height() for patch in axes.containers[0]}
    assert bars == {1: 40, 2: 25, 3: 3, 4: 60}
    legend = axes.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == [
        "round promoted",
        "round rejected",
        "round invalid_data",
    ]
    assert [handle.get_facecolor() for handle in legend.legend_handles] == [
        axes.containers[0][0].get_facecolor(),  # iteration 1: promoted
        axes.containers[0][1].get_facecolor(),  # iteration 2: rejected
        axes.containers[0][2].get_facecolor(),  # iteration 3: invalid data
    ]
    labels = [text.get_text() for text in axes.texts]
    assert labels == ["12.3 kB", "800 B", "2.0 MB", "20.0 kB"]


def test_the_charts_draw_an_empty_history_without_failing() -> None:
    data = ReportData("bot", "iterft-dev", "amazon.nova-micro-v1:0:128k", "token_f1", 0.02, 0.02, [], [])
    figures = report_figures(data)
    assert sorted(figures) == sorted(CHART_FILES)


def test_the_report_page_inlines_every_chart_and_tabulates_every_iteration(tmp_path: Path) -> None:
    data = ReportData(
        lineage="bot",
        stack_name="iterft-dev",
        starting_model="amazon.nova-micro-v1:0:128k",
        metric="token_f1",
        min_improvement=0.02,
        plateau_threshold=0.02,
        history=HISTORY,
        curves=CURVES,
    )
    page = write_report(data, tmp_path / "report")
    assert page == tmp_path / "report" / "index.html"
    text = page.read_text()
    for name in CHART_FILES:
        png = (tmp_path / "report" / name).read_bytes()
        assert png.startswith(PNG_SIGNATURE)
        # The page stands alone: the same PNG, inlined.
        inlined = re.search(rf'id="{re.escape(name)}"[^>]* src="data:image/png;base64,([^"]+)"', text)
        assert inlined is not None
        assert base64.b64decode(inlined.group(1)) == png
    rows = re.findall(r'<tr id="iteration-(\d+)">(.*?)</tr>', text)
    assert [int(number) for number, _ in rows] == [1, 2, 3, 4]
    assert "improvement +0.0050 &lt; 0.0200 &lt;b&gt;" in rows[1][1]  # reasons are escaped
    assert (
        "<th>champion</th><td>arn:aws:bedrock:us-east-1:1:custom-model/bot-it0004 (iteration 4)</td>" in text
    )
    assert "<th>iterations</th><td>4 (promoted 2, rejected 1, invalid_data 1)</td>" in text


def test_loss_points_come_back_in_step_order_skipping_diverged_steps() -> None:
    lines = [
        "step_number,epoch_number,training_loss,perplexity\n",
        "3,2,0.5,1\n",
        "1,1,2.0,7\n",
        "2,1,nan,1\n",
    ]
    assert loss_points(lines, "training_loss", "x.csv") == [LossPoint(1, 1, 2.0), LossPoint(2, 3, 0.5)]


def _long_history(count: int) -> tuple[list[dict[str, Any]], list[LossCurves]]:
    """`count` synthetic rounds: every 4th promoted, some clear regressions, the rest marginal."""
    history, curves = [], []
    champion = 0.2
    for n in range(1, count + 1):
        decision = "promoted" if n % 4 == 1 else "rejected"
        delta = 0.05 if decision == "promoted" else (-0.2 if n % 7 == 0 else 0.004)
        history.append(
            _row(n, decision, records=50 + n, size_bytes=1000 * n, eval_score=champion + delta,
                 champion_score=champion, deltas={"token_f1": delta})
        )  # fmt: skip
        if decision == "promoted":
            champion += delta
        start = 2.0 - n / (count * 2)
        curves.append(
            LossCurves(
                n,
                [
                    LossPoint(epoch, step, start - 0.1 * step)
                    for epoch, step in ((1, 1), (1, 2), (2, 3), (2, 4))
                ],
                [LossPoint(2, 4, start - 0.2)],
            )
        )
    return history, curves


@pytest.mark.parametrize("count", [30, 100])
def test_a_long_history_stays_readable(count: int, tmp_path: Path) -> None:
    history, curves = _long_history(count)
    figure = loss_curves_figure(curves)
    steps, finals = figure.axes
    # Every iteration is still drawn, the newest few in colour and the rest faded behind them.
    lines = {line.get_label(): line for line in steps.get_lines()}
    assert {training_label(n) for n in range(1, count + 1)} <= set(lines)
    faded = [n for n in range(1, count + 1) if lines[training_label(n)].get_color() == FADED_COLOUR]
    assert faded == list(range(1, count - RECENT_ITERATIONS + 1))
    recent = {lines[training_label(n)].get_color() for n in range(count - RECENT_ITERATIONS + 1, count + 1)}
    assert len(recent) == RECENT_ITERATIONS and FADED_COLOUR not in recent
    # The legend is outside the axes and short: the recent iterations and one entry for the faded ones.
    legend = steps.get_legend()
    texts = [text.get_text() for text in legend.get_texts()]
    assert texts[0] == f"iterations 1-{count - RECENT_ITERATIONS} (faded)"
    assert len(texts) == 1 + 2 * RECENT_ITERATIONS
    figure.draw_without_rendering()
    legend_box = legend.get_window_extent()
    assert legend_box.x0 >= steps.get_window_extent().x1
    # The final losses read as one line per kind over all iterations.
    final = _axes_lines(finals)
    assert final[FINAL_TRAINING_LABEL][0] == list(range(1, count + 1))
    assert final[FINAL_TRAINING_LABEL][1][-1] == pytest.approx(2.0 - 0.5 - 0.35)
    assert final[FINAL_VALIDATION_LABEL][0] == list(range(1, count + 1))

    score = score_figure(
        round_scores(history), metric="token_f1", min_improvement=0.02, plateau_threshold=0.02
    )
    bottom = score.axes[1]
    assert len(bottom.containers[0]) == count
    assert bottom.transData.transform((0, 0.02))[1] - bottom.transData.transform((0, 0))[1] > 10
    sizes = dataset_figure(history).axes[0]
    assert len(sizes.containers[0]) == count
    assert [t.get_text() for t in sizes.texts] == (
        [] if count > 30 else [f"{n}.0 kB" for n in range(1, count + 1)]
    )
    data = ReportData(
        "bot", "iterft-test", "amazon.nova-micro-v1:0:128k", "token_f1", 0.02, 0.02, history, curves
    )
    write_report(data, tmp_path)
    for name in CHART_FILES:
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)


def test_base_models_are_named_by_the_iteration_that_produced_them(tmp_path: Path) -> None:
    history = [*HISTORY, _row(5, "rejected", base_model=HISTORY[3]["output_model_arn"], records=9)]
    produced = produced_by(history)
    assert base_model_label(history[4]["base_model"], produced) == "iteration 4's model"
    assert base_model_label("amazon.nova-micro-v1:0:128k", produced) == "amazon.nova-micro-v1:0:128k"
    text = markdown_report("bot", "amazon.nova-micro-v1:0:128k", history)
    assert "| 5 | `iteration 4's model` |" in text and "training loss (last-epoch mean)" in text
    data = ReportData(
        "bot", "iterft-test", "amazon.nova-micro-v1:0:128k", "token_f1", 0.02, 0.02, history, CURVES
    )
    page = write_report(data, tmp_path).read_text()
    assert "<td>iteration 4&#x27;s model</td>" in page and "<th>training loss (last-epoch mean)</th>" in page


def _gaps(categories: int = 2, traffic: bool = False) -> GapAnalysis:
    """Round 4's champion: category c0 weakest (0.1 after round 4), then c1 (0.2), ..., each drawn over
    rounds 2-4; c0's worst record has markup in its answer."""
    gaps = [
        CategoryGap(
            category=f"c{n}",
            records=4,
            failing=2,
            score=0.1 * (n + 1),
            change=0.05,
            change_from=2,
            trend=[ScorePoint(iteration=i, score=0.1 * (n + 1) - 0.025 * (4 - i)) for i in (2, 3, 4)],
            worst=[
                FailingRecord(
                    line=7 + n, prompt="where <is> it?", reference="here", answer="<b>no</b>", score=0.0
                )
            ],
            traffic_share=0.25 if traffic else None,
        )
        for n in range(categories)
    ]
    return GapAnalysis(
        lineage="bot",
        metric="token_f1",
        iteration=4,
        champion_iteration=4,
        eval_set_version="abcd",
        overall=0.3,
        answers_from=AnswerSource(iteration=4, role="candidate"),
        window=3,
        per_category=1,
        categories=gaps,
        traffic_share_given=traffic,
        untested_traffic={"shipping": 0.5} if traffic else {},
    )


def test_the_category_chart_draws_the_weakest_categories_over_the_rounds() -> None:
    lines = _axes_lines(category_scores_figure(_gaps(categories=2)).axes[0])
    assert lines[category_label("c0")] == (
        [2, 3, 4],
        [pytest.approx(0.05), pytest.approx(0.075), pytest.approx(0.1)],
    )
    assert set(lines) == {category_label("c0"), category_label("c1")}
    many = category_scores_figure(_gaps(categories=CATEGORY_LINES + 3)).axes[0]
    assert {line.get_label() for line in many.get_lines()} == {
        category_label(f"c{n}") for n in range(CATEGORY_LINES)
    }
    assert f"the weakest {CATEGORY_LINES} of {CATEGORY_LINES + 3}" in many.get_title()
    empty = category_scores_figure(None).axes[0]
    assert not empty.get_lines() and [text.get_text() for text in empty.texts] == [NO_GAPS_NOTE]


def test_the_report_page_tabulates_the_gaps_weakest_first(tmp_path: Path) -> None:
    base = ("bot", "iterft-dev", "amazon.nova-micro-v1:0:128k", "token_f1", 0.02, 0.02, HISTORY, CURVES)
    text = write_report(ReportData(*base, gaps=_gaps()), tmp_path / "a").read_text()
    rows = re.findall(r'<tr id="gaps-(\w+)">(.*?)</tr>', text)
    assert [name for name, _ in rows] == ["c0", "c1"]
    assert "<td>0.1000</td><td>+0.0500 since #2</td>" in rows[0][1]
    assert "line 7 (0.000)" in rows[0][1] and "&lt;b&gt;no&lt;/b&gt;" in rows[0][1]  # answers are escaped
    assert "traffic share" not in text
    with_traffic = write_report(ReportData(*base, gaps=_gaps(traffic=True)), tmp_path / "b").read_text()
    assert "<th>traffic share</th>" in with_traffic and "<td>25.0%</td>" in with_traffic
    assert "does not measure: shipping 50.0%" in with_traffic
    before = write_report(ReportData(*base), tmp_path / "c").read_text()
    assert "No evaluated round with categories yet." in before and 'id="gaps"' not in before
    problem = "bot: no gap analysis: round 4 did not score the candidate with <judge>"
    failed = write_report(ReportData(*base, gaps_problem=problem), tmp_path / "d").read_text()
    assert f'<p id="gaps-problem">{html.escape(problem)}</p>' in failed and 'id="gaps"' not in failed
