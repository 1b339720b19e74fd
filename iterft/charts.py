"""The report's charts: plain functions from plain data (history rows, loss points) to matplotlib figures.

Nothing here talks to AWS, so the charts can be built, inspected and tested from known numbers.
Figures are made with `matplotlib.figure.Figure` on the Agg canvas (no pyplot, no display, no global
figure registry), and each plotted series carries a label naming its iteration so that a test can
find it among the axes' lines without looking at pixels.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib
from iterft_runtime.logic.training_metrics import LossPoint
from matplotlib.figure import Figure

# Files only, never a window: the operator's machine or CI may have no display.
matplotlib.use("Agg")

DECISION_STYLE: dict[str, tuple[str, str]] = {
    "promoted": ("tab:green", "^"),
    "rolled_back": ("tab:purple", "v"),
    "rejected": ("tab:red", "x"),
    "failed": ("tab:gray", "s"),
    "invalid_data": ("tab:gray", "D"),
    "running": ("tab:blue", "o"),
}
"""Colour and marker per decision, shared by every chart."""
NO_VALIDATION_NOTE = "no validation curves: no round was trained with validation data"


@dataclass(frozen=True)
class LossCurves:
    """One iteration's per-step losses, as its job's metrics CSVs hold them (validation may be empty)."""

    iteration: int
    training: Sequence[LossPoint]
    validation: Sequence[LossPoint] = field(default_factory=tuple)


@dataclass(frozen=True)
class RoundScore:
    """One decided round on the primary metric: the candidate, the champion it faced, the gap."""

    iteration: int
    decision: str
    score: float
    champion_score: float | None
    improvement: float | None


def training_label(iteration: int) -> str:
    return f"iteration {iteration} training"


def validation_label(iteration: int) -> str:
    return f"iteration {iteration} validation"


def round_scores(history: Sequence[Mapping[str, Any]]) -> list[RoundScore]:
    """The rounds that were scored, from history rows; the improvement is the gate's (candidate minus
    champion on the primary metric), else the difference of the two scores."""
    scores = []
    for row in history:
        if row.get("eval_score") is None:
            continue
        improvement = (row.get("deltas") or {}).get(row.get("metric") or "")
        if improvement is None and row.get("champion_score") is not None:
            improvement = row["eval_score"] - row["champion_score"]
        scores.append(
            RoundScore(
                iteration=int(row["iteration"]),
                decision=str(row["decision"]),
                score=float(row["eval_score"]),
                champion_score=row.get("champion_score"),
                improvement=improvement,
            )
        )
    return scores


def loss_curves_figure(curves: Sequence[LossCurves]) -> Figure:
    """Training (solid) and validation (dashed, dots) loss per step, every iteration overlaid, one
    colour per iteration. Steps restart at each job, so the curves share the x axis."""
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.add_subplot()
    colours = matplotlib.colormaps["tab10"]
    for index, curve in enumerate(sorted(curves, key=lambda c: c.iteration)):
        colour = colours(index % 10)
        if curve.training:
            axes.plot(
                [p.step for p in curve.training],
                [p.loss for p in curve.training],
                color=colour,
                linewidth=1.5,
                label=training_label(curve.iteration),
            )
        if curve.validation:
            axes.plot(
                [p.step for p in curve.validation],
                [p.loss for p in curve.validation],
                color=colour,
                linestyle="--",
                marker="o",
                label=validation_label(curve.iteration),
            )
    axes.set_title("Training and validation loss per iteration")
    axes.set_xlabel("step (of the iteration's job)")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    if not curves:
        axes.text(0.5, 0.5, "no training metrics yet", ha="center", va="center", transform=axes.transAxes)
    else:
        axes.legend(fontsize="small", ncols=2)
        if not any(curve.validation for curve in curves):
            axes.text(
                0.99,
                0.01,
                NO_VALIDATION_NOTE,
                ha="right",
                va="bottom",
                fontsize="small",
                color="dimgray",
                transform=axes.transAxes,
            )
    return figure


def score_figure(
    scores: Sequence[RoundScore], *, metric: str, min_improvement: float, plateau_threshold: float
) -> Figure:
    """Top: the candidate's primary score per iteration, marked by decision, beside the champion's score
    it had to beat. Bottom: the improvement per iteration against the gate and the plateau threshold
    (a decided round under the threshold counts towards convergence)."""
    figure = Figure(figsize=(8, 6), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    champions = [s for s in scores if s.champion_score is not None]
    if champions:
        top.plot(
            [s.iteration for s in champions],
            [s.champion_score for s in champions],
            color="black",
            linestyle=":",
            marker=".",
            label="champion it faced",
        )
    for decision, (colour, marker) in DECISION_STYLE.items():
        chosen = [s for s in scores if s.decision == decision]
        if chosen:
            top.scatter(
                [s.iteration for s in chosen],
                [s.score for s in chosen],
                color=colour,
                marker=marker,
                s=80,
                zorder=3,
                label=decision,
            )
    top.set_title(f"Primary metric ({metric}) per iteration")
    top.set_ylabel(metric)
    top.grid(alpha=0.3)
    if scores:
        top.legend(fontsize="small")

    decided = [s for s in scores if s.improvement is not None]
    bottom.bar(
        [s.iteration for s in decided],
        [s.improvement for s in decided],
        color=[DECISION_STYLE.get(s.decision, ("tab:gray", ""))[0] for s in decided],
        label="improvement",
    )
    bottom.axhline(
        plateau_threshold,
        color="tab:orange",
        linestyle="--",
        label=f"plateau threshold {plateau_threshold:g}",
    )
    if min_improvement != plateau_threshold:
        bottom.axhline(
            min_improvement, color="tab:purple", linestyle="-.", label=f"min improvement {min_improvement:g}"
        )
    bottom.axhline(0, color="black", linewidth=0.8)
    bottom.set_ylabel("candidate - champion")
    bottom.set_xlabel("iteration")
    bottom.grid(alpha=0.3)
    bottom.legend(fontsize="small")
    bottom.xaxis.get_major_locator().set_params(integer=True)
    return figure


def dataset_figure(history: Sequence[Mapping[str, Any]]) -> Figure:
    """Records per iteration's dataset (as validated), coloured by decision and labelled with its size."""
    figure = Figure(figsize=(8, 3.5), layout="constrained")
    axes = figure.add_subplot()
    rows = [row for row in history if row.get("records") is not None]
    bars = axes.bar(
        [int(row["iteration"]) for row in rows],
        [int(row["records"]) for row in rows],
        color=[DECISION_STYLE.get(str(row["decision"]), ("tab:gray", ""))[0] for row in rows],
    )
    axes.bar_label(bars, labels=[_size_label(row.get("size_bytes")) for row in rows], fontsize="small")
    axes.set_title("Dataset size per iteration (records; label: file size)")
    axes.set_xlabel("iteration")
    axes.set_ylabel("records")
    axes.grid(axis="y", alpha=0.3)
    axes.margins(y=0.12)  # room for the size labels above the tallest bar
    axes.xaxis.get_major_locator().set_params(integer=True)
    if not rows:
        axes.text(0.5, 0.5, "no validated datasets yet", ha="center", va="center", transform=axes.transAxes)
    return figure


def _size_label(size: int | None) -> str:
    if size is None:
        return ""
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def png_bytes(figure: Figure) -> bytes:
    """The figure rendered as PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
