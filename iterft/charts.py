"""The report's charts: plain functions from plain data (history rows, loss points) to matplotlib figures.

Nothing here talks to AWS, so the charts can be built, inspected and tested from known numbers.
Figures are made with `matplotlib.figure.Figure` on the Agg canvas (no pyplot, no display, no global
figure registry), and each plotted series carries a label naming its iteration so that a test can
find it among the axes' lines without looking at pixels.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from iterft_runtime.logic.training_metrics import LossPoint

if TYPE_CHECKING:
    from iterft_runtime.models.gaps import GapAnalysis
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

DECISION_STYLE: dict[str, tuple[str, str]] = {
    "promoted": ("tab:green", "^"),
    "rolled_back": ("tab:purple", "v"),
    "rejected": ("tab:red", "x"),
    "failed": ("tab:gray", "s"),
    "invalid_data": ("tab:gray", "D"),
    "running": ("tab:blue", "o"),
}
"""Colour and marker per decision, shared by every chart."""
LABELLED_BARS = 30
"""Up to this many dataset bars carry their file size; more would overlap."""
NO_VALIDATION_NOTE = "no validation curves: no round was trained with validation data"


def _figure(**options: Any) -> Figure:
    """A new figure on the Agg canvas. matplotlib is imported here, when a chart is first drawn, so
    that what only reads this module's data classes (iterft/history.py, every CLI command but
    `report`) does not pay for it."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window: the operator's machine or CI may have no display
    from matplotlib.figure import Figure

    return Figure(**options)


def _integer_ticks(axes: Axes) -> None:
    """Whole numbers only on the x axis (iterations). Its default locator, AutoLocator, is a MaxNLocator."""
    cast("MaxNLocator", axes.xaxis.get_major_locator()).set_params(integer=True)


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
    strategy: str = "fine_tuning"


STRATEGY_TAGS = {
    "fine_tuning": "FT",
    "distillation": "DIST",
    "reinforcement": "RFT",
    "continued_pre_training": "CPT",
}
"""The strategy marker written above each round's point on the primary-metric chart."""


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
                strategy=str(row.get("strategy") or "fine_tuning"),
            )
        )
    return scores


RECENT_ITERATIONS = 6
"""The loss chart draws the newest this many iterations in colour; earlier ones are faded grey."""
FADED_COLOUR = "#b8b8b8"
FINAL_TRAINING_LABEL = "final training loss (last-epoch mean)"
FINAL_VALIDATION_LABEL = "final validation loss (last step)"


def final_training_loss(points: Sequence[LossPoint]) -> float | None:
    """What the history records as an iteration's training loss: the mean over its last epoch's steps."""
    if not points:
        return None
    last = max(point.epoch for point in points)
    losses = [point.loss for point in points if point.epoch == last]
    return sum(losses) / len(losses)


def loss_curves_figure(curves: Sequence[LossCurves], *, recent: int = RECENT_ITERATIONS) -> Figure:
    """Top: training (solid) and validation (dashed, dots) loss per step of each iteration's job,
    overlaid (steps restart at each job, so the curves share the x axis): the newest `recent`
    iterations one colour each, earlier ones faded grey behind them; the legend sits outside the
    axes. Bottom: each iteration's final losses, so a long history reads as one line per kind."""
    import matplotlib
    from matplotlib.lines import Line2D

    figure = _figure(figsize=(10, 7), layout="constrained")
    axes, finals = figure.subplots(2, 1, height_ratios=[3, 2])
    colours = matplotlib.colormaps["tab10"]
    ordered = sorted(curves, key=lambda c: c.iteration)
    newest = ordered[-recent:] if recent > 0 else []
    earlier = len(ordered) - len(newest)
    handles = []
    for index, curve in enumerate(ordered):
        is_recent = index >= earlier
        colour = colours((index - earlier) % 10) if is_recent else FADED_COLOUR
        style = {"color": colour, "linewidth": 1.5 if is_recent else 0.8, "zorder": 3 if is_recent else 1}
        if curve.training:
            (line,) = axes.plot(
                [p.step for p in curve.training],
                [p.loss for p in curve.training],
                label=training_label(curve.iteration),
                **style,
            )
            if is_recent:
                handles.append(line)
        if curve.validation:
            (line,) = axes.plot(
                [p.step for p in curve.validation],
                [p.loss for p in curve.validation],
                linestyle="--",
                marker="o" if is_recent else None,
                markersize=4,
                label=validation_label(curve.iteration),
                **style,
            )
            if is_recent:
                handles.append(line)
    if earlier:
        handles.insert(
            0,
            Line2D([], [], color=FADED_COLOUR, linewidth=0.8, label=f"iterations {ordered[0].iteration}-"
                   f"{ordered[earlier - 1].iteration} (faded)" if earlier > 1 else
                   f"iteration {ordered[0].iteration} (faded)"),
        )  # fmt: skip
    axes.set_title(
        "Training and validation loss per step"
        + (f" (the newest {len(newest)} iterations in colour)" if earlier else "")
    )
    axes.set_xlabel("step (of the iteration's job)")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    if not curves:
        axes.text(0.5, 0.5, "no training metrics yet", ha="center", va="center", transform=axes.transAxes)
    else:
        axes.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
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
    _final_losses(finals, ordered)
    return figure


def _final_losses(axes: Axes, curves: Sequence[LossCurves]) -> None:
    """Each iteration's final training loss (last-epoch mean, the history's `training_loss`) and final
    validation loss, against the iteration."""
    training = [(c.iteration, final_training_loss(c.training)) for c in curves if c.training]
    validation = [(c.iteration, c.validation[-1].loss) for c in curves if c.validation]
    marker = "o" if len(curves) <= 40 else None
    if training:
        axes.plot(*zip(*training, strict=True), color="tab:blue", marker=marker, label=FINAL_TRAINING_LABEL)
    if validation:
        axes.plot(
            *zip(*validation, strict=True),
            color="tab:orange",
            linestyle="--",
            marker=marker,
            label=FINAL_VALIDATION_LABEL,
        )
    axes.set_title("Final loss per iteration")
    axes.set_xlabel("iteration")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    _integer_ticks(axes)
    if training or validation:
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))


def score_figure(
    scores: Sequence[RoundScore], *, metric: str, min_improvement: float, plateau_threshold: float
) -> Figure:
    """Top: the candidate's primary score per iteration, marked by decision, beside the champion's score
    it had to beat. Bottom: the improvement per iteration against the gate and the plateau band
    (|improvement| under the threshold: marginal, counts towards convergence; a fall beyond it is a
    regression, which does not). The bottom axis is linear within a few thresholds of zero and
    logarithmic beyond, so the threshold stays apart from zero beside large gains and falls."""
    figure = _figure(figsize=(10, 6.5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    size = 80 if len(scores) <= 30 else 30
    champions = [s for s in scores if s.champion_score is not None]
    if champions:
        top.plot(
            [s.iteration for s in champions],
            [s.champion_score for s in champions],
            color="black",
            linestyle=":",
            marker="." if len(champions) <= 40 else None,
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
                s=size,
                zorder=3,
                label=decision,
            )
    for s in scores:
        top.annotate(
            STRATEGY_TAGS.get(s.strategy, s.strategy),
            (s.iteration, s.score),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize=7,
        )
    top.set_title(f"Primary metric ({metric}) per iteration, each round's strategy above its point")
    top.set_ylabel(metric)
    top.grid(alpha=0.3)
    if scores:
        top.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))

    decided = [s for s in scores if s.improvement is not None]
    bottom.bar(
        [s.iteration for s in decided],
        [s.improvement for s in decided],
        color=[DECISION_STYLE.get(s.decision, ("tab:gray", ""))[0] for s in decided],
        label="improvement",
    )
    if plateau_threshold > 0:
        bottom.axhspan(
            -plateau_threshold,
            plateau_threshold,
            color="tab:orange",
            alpha=0.18,
            linewidth=0,
            label=f"marginal: |improvement| < {plateau_threshold:g}",
        )
        bottom.axhline(-plateau_threshold, color="tab:orange", linestyle="--", linewidth=1.2)
    bottom.axhline(
        plateau_threshold,
        color="tab:orange",
        linestyle="--",
        linewidth=1.2,
        label=f"plateau threshold {plateau_threshold:g}",
    )
    if min_improvement != plateau_threshold:
        bottom.axhline(
            min_improvement, color="tab:purple", linestyle="-.", label=f"min improvement {min_improvement:g}"
        )
    bottom.axhline(0, color="black", linewidth=0.8, label="_zero")
    _improvement_scale(bottom, [s.improvement for s in decided], max(plateau_threshold, min_improvement))
    bottom.set_ylabel("candidate - champion")
    bottom.set_xlabel("iteration")
    bottom.grid(alpha=0.3)
    bottom.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    bottom.xaxis.get_major_locator().set_params(integer=True)
    return figure


def _improvement_scale(axes: Axes, improvements: Sequence[float | None], gate: float) -> None:
    """Linear within four gate widths of zero, logarithmic beyond, with plain signed tick labels at
    zero, the gate's thresholds and the decades the data reach."""
    from matplotlib.ticker import FuncFormatter, NullLocator

    linear = gate * 4 or 0.01
    values = [value for value in improvements if value is not None]
    low, high = min([*values, -gate * 2, 0.0]) * 1.4, max([*values, gate * 2, 0.0]) * 1.4
    axes.set_yscale("symlog", linthresh=linear, linscale=2)
    axes.set_ylim(low, high)
    ticks = {0.0, gate, -gate} if gate else {0.0}
    decade = 10 ** math.floor(math.log10(linear))
    while decade <= max(high, -low):
        ticks |= {v for m in (1, 2, 5) if linear * 0.9 <= (v := m * decade) and v <= max(high, -low)}
        decade *= 10
    ticks = {tick for tick in ticks | {-tick for tick in ticks} if low <= tick <= high}
    axes.set_yticks(sorted(ticks))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:+g}" if value else "0"))
    axes.yaxis.set_minor_locator(NullLocator())


def dataset_figure(history: Sequence[Mapping[str, Any]]) -> Figure:
    """Records per iteration's dataset (as validated), coloured by its round's decision (the legend
    says which colour is which) and, up to LABELLED_BARS bars, labelled with its file size."""
    from matplotlib.patches import Patch

    figure = _figure(figsize=(10, 3.8), layout="constrained")
    axes = figure.add_subplot()
    rows = [row for row in history if row.get("records") is not None]
    bars = axes.bar(
        [int(row["iteration"]) for row in rows],
        [int(row["records"]) for row in rows],
        color=[DECISION_STYLE.get(str(row["decision"]), ("tab:gray", ""))[0] for row in rows],
    )
    if len(rows) <= LABELLED_BARS:
        axes.bar_label(bars, labels=[_size_label(row.get("size_bytes")) for row in rows], fontsize="small")
        axes.set_title("Dataset size per iteration (records; label: file size)")
    else:
        axes.set_title("Dataset size per iteration (records)")
    axes.set_xlabel("iteration")
    axes.set_ylabel("records")
    axes.grid(axis="y", alpha=0.3)
    axes.margins(y=0.12)  # room for the size labels above the tallest bar
    _integer_ticks(axes)
    if not rows:
        axes.text(0.5, 0.5, "no validated datasets yet", ha="center", va="center", transform=axes.transAxes)
    else:
        present = {str(row["decision"]) for row in rows}
        axes.legend(
            handles=[
                Patch(color=DECISION_STYLE.get(decision, ("tab:gray", ""))[0], label=f"round {decision}")
                for decision in DECISION_STYLE
                if decision in present
            ],
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(1.01, 1),
            title="bar colour",
            title_fontsize="small",
        )
    return figure


CATEGORY_LINES = 8
"""The category chart draws the weakest this many categories (more lines could not be told apart)."""
NO_GAPS_NOTE = "no evaluated round with categories yet"
CATEGORY_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def category_label(category: str) -> str:
    return f"category {category}"


def category_scores_figure(gaps: GapAnalysis | None, *, shown: int = CATEGORY_LINES) -> Figure:
    """The champion's score in each of its `shown` weakest categories after each evaluated round on the
    current evaluation set version (logic/gaps.py): one line per category, labelled `category_label`."""
    figure = _figure(figsize=(10, 4.5), layout="constrained")
    axes = figure.add_subplot()
    categories = list(gaps.categories[:shown]) if gaps is not None else []
    for index, gap in enumerate(categories):
        # One marker shape each, the weaker drawn larger beneath: categories with equal scores stay visible.
        axes.plot(
            [point.iteration for point in gap.trend],
            [point.score for point in gap.trend],
            marker=CATEGORY_MARKERS[index % len(CATEGORY_MARKERS)] if len(gap.trend) <= 40 else None,
            markersize=10 - 0.8 * index,
            label=category_label(gap.category),
        )
    if gaps is None or not categories:
        axes.set_title("Champion's score by category")
        axes.text(0.5, 0.5, NO_GAPS_NOTE, ha="center", va="center", transform=axes.transAxes)
    else:
        of = (
            f"the weakest {len(categories)} of {len(gaps.categories)}"
            if len(gaps.categories) > shown
            else "all"
        )
        axes.set_title(
            f"Champion's {gaps.metric} by category after each evaluated round\n"
            f"{of} categories, evaluation set {gaps.eval_set_version}"
        )
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), title="weakest first")
    axes.set_xlabel("iteration")
    axes.set_ylabel(gaps.metric if gaps is not None else "score")
    axes.grid(alpha=0.3)
    _integer_ticks(axes)
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
