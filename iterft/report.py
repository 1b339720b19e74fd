"""The iteration report: what a lineage's history says, computed from the history itself.

`markdown_report` is the short text form; `write_report` the HTML page with charts (iterft/charts.py)
that `iterft report` and `make demo` write.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iterft_runtime.logic.paired import Power, power_warning
from iterft_runtime.models.records import delta_value

from iterft.charts import (
    LossCurves,
    category_scores_figure,
    dataset_figure,
    loss_curves_figure,
    png_bytes,
    round_scores,
    score_figure,
)

if TYPE_CHECKING:
    from iterft_runtime.models.gaps import CategoryGap, GapAnalysis
    from matplotlib.figure import Figure


def lineage_breaks(history: Sequence[dict[str, Any]], starting_model: str) -> list[str]:
    """Iterations whose base model was not the champion when they began (empty when none).

    The champion starts as `starting_model` and becomes an iteration's output model when that
    iteration is promoted; iterations that never reached the job (invalid data) have no base.
    """
    champion, breaks = starting_model, []
    for row in history:
        if row["base_model"] is not None and row["base_model"] != champion:
            breaks.append(
                f"iteration {row['iteration']} built on {row['base_model']}, champion was {champion}"
            )
        if row["decision"] == "promoted":
            champion = row["output_model_arn"]
    return breaks


def improvement_text(row: dict[str, Any]) -> str:
    """The primary metric's mean paired difference and its interval at the lineage's confidence
    (`+0.0500 [-0.0212, +0.1188] 95%`); the mean alone for a round recorded before intervals."""
    entry = (row.get("deltas") or {}).get(row.get("metric") or "")
    value = delta_value(entry)
    if value is None:
        return "-"
    text = f"{value:+.4f}"
    if isinstance(entry, dict) and entry.get("ci_low") is not None and entry.get("ci_high") is not None:
        confidence = (row.get("power") or {}).get("confidence")
        level = f" {confidence:.0%}" if confidence is not None else ""
        text += f" [{entry['ci_low']:+.4f}, {entry['ci_high']:+.4f}]{level}"
    return text


def yardstick_warning(history: Sequence[dict[str, Any]]) -> str | None:
    """The newest scored round's power warning: its evaluation set too small to detect min_improvement at
    the lineage's confidence (None: big enough, or no round recorded its power)."""
    for row in reversed(history):
        power = Power.from_dict(row["power"]) if row.get("power") else None
        if power is not None:
            warning = power_warning(power)
            return f"iteration {row['iteration']}: {warning}" if warning else None
    return None


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def markdown_report(lineage: str, starting_model: str, history: Sequence[dict[str, Any]]) -> str:
    """A short Markdown report of one lineage: rounds, decisions, scores and the lineage check."""
    promoted = [row for row in history if row["decision"] == "promoted"]
    champion = promoted[-1]["output_model_arn"] if promoted else starting_model
    champion_score = promoted[-1]["eval_score"] if promoted else None
    lines = [
        f"# Lineage `{lineage}`",
        "",
        f"- starting model: `{starting_model}`",
        f"- champion: `{champion}` (score {_score(champion_score)})",
        f"- iterations: {len(history)}; "
        + ", ".join(
            f"{decision} {sum(row['decision'] == decision for row in history)}"
            for decision in ("promoted", "rejected", "failed", "invalid_data", "running")
            if any(row["decision"] == decision for row in history)
        ),
        "",
        "| iteration | base model | strategy | dataset | training loss (last-epoch mean) | eval score "
        "| champion score | improvement [CI] | decision | reason |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    warning = yardstick_warning(history)
    if warning:
        lines[5:5] = [f"- yardstick too small: {warning}"]
    produced = produced_by(history)
    for row in history:
        dataset = (row["dataset"] or "-").split("/")[-1].split("?")[0]
        base = base_model_label(row["base_model"], produced)
        lines.append(
            f"| {row['iteration']} | `{base}` | {row.get('strategy') or '-'} | `{dataset}` "
            f"| {_score(row['training_loss'])} "
            f"| {_score(row['eval_score'])} | {_score(row['champion_score'])} | {improvement_text(row)} "
            f"| {row['decision']}{' (inconclusive)' if row.get('inconclusive') else ''} "
            f"| {(row['reason'] or '').replace('|', '/')} |"
        )
    sourced = [row for row in history if row.get("source")]
    if sourced:
        lines += ["", "## Where the data came from", ""]
        lines += [f"- iteration {row['iteration']}: {row['source']}" for row in sourced]
    breaks = lineage_breaks(history, starting_model)
    lines += ["", "## Lineage check", ""]
    lines += [f"- {problem}" for problem in breaks] or [
        "Every iteration's base model was the champion when it began."
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ReportData:
    """Everything the HTML report shows, read from a deployment (or given by a test)."""

    lineage: str
    stack_name: str
    starting_model: str
    metric: str
    min_improvement: float
    plateau_threshold: float
    history: Sequence[dict[str, Any]]
    curves: Sequence[LossCurves]
    champion: tuple[str, int] | None = None
    """The registry's champion (model, iteration); None: the last promotion in the history (no rollback)."""
    gaps: GapAnalysis | None = None
    """Where the champion falls short, by category (logic/gaps.py); None before the first evaluated round."""
    gaps_problem: str | None = None
    """Why there is no gap analysis although rounds were evaluated (e.g. the primary metric changed)."""


CHART_FILES = ("loss-curves.png", "primary-metric.png", "category-scores.png", "dataset-sizes.png")


def report_figures(data: ReportData) -> dict[str, Figure]:
    """The report's charts by file name (plain data in, figures out: inspectable before they are saved)."""
    return {
        "loss-curves.png": loss_curves_figure(data.curves),
        "primary-metric.png": score_figure(
            round_scores(data.history),
            metric=data.metric,
            min_improvement=data.min_improvement,
            plateau_threshold=data.plateau_threshold,
        ),
        "category-scores.png": category_scores_figure(data.gaps),
        "dataset-sizes.png": dataset_figure(data.history),
    }


def write_report(data: ReportData, out_dir: Path) -> Path:
    """`out_dir/index.html` with every chart inlined (the page stands alone) and each chart as a PNG
    beside it (to attach or embed elsewhere). Returns the page's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = {}
    for name, figure in report_figures(data).items():
        charts[name] = png_bytes(figure)
        (out_dir / name).write_bytes(charts[name])
    page = out_dir / "index.html"
    page.write_text(html_report(data, charts), encoding="utf-8")
    return page


_HTML_COLUMNS = (
    "iteration",
    "decision",
    "base model",
    "strategy",
    "dataset",
    "records",
    "training loss (last-epoch mean)",
    "validation loss (last step)",
    "score",
    "champion score",
    "improvement [CI]",
    "reason",
)


def html_report(data: ReportData, charts: dict[str, bytes]) -> str:
    """One HTML page: the lineage's summary, the charts as data URIs and the history table."""
    history = data.history
    promoted = [row for row in history if row["decision"] == "promoted"]
    champion, champion_iteration = data.champion or (
        (promoted[-1]["output_model_arn"], promoted[-1]["iteration"])
        if promoted
        else (data.starting_model, 0)
    )
    converged = bool(history) and bool(history[-1].get("converged"))
    summary = [
        ("stack", data.stack_name),
        ("starting model", data.starting_model),
        ("champion", f"{champion} (iteration {champion_iteration})"),
        ("primary metric", data.metric),
        ("gate", f"min improvement {data.min_improvement:g}; plateau threshold {data.plateau_threshold:g}"),
        ("iterations", _counts(history)),
        ("converged after the last round", "yes" if converged else "no"),
    ]
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>iterft report: {e(data.lineage)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;"
        "vertical-align:top}th{background:#f0f0f0}img{max-width:100%}"
        ".promoted{color:#1a7f37}.rejected{color:#b35900}.failed,.invalid_data{color:#c00}"
        ".warning{background:#fff4e5;border:1px solid #b35900;padding:6px 10px}</style>",
        "</head><body>",
        f"<h1>Lineage <code>{e(data.lineage)}</code></h1>",
        "<table>",
        *(f"<tr><th>{e(name)}</th><td>{e(value)}</td></tr>" for name, value in summary),
        "</table>",
    ]
    warning = yardstick_warning(history)
    if warning:
        parts.append(
            f'<p class="warning" id="yardstick"><strong>Yardstick too small:</strong> {e(warning)}</p>'
        )
    titles = {
        "loss-curves.png": "Training and validation loss",
        "primary-metric.png": "Primary metric and the gate",
        "category-scores.png": "Champion's score by category",
        "dataset-sizes.png": "Dataset sizes",
    }
    for name, png in charts.items():
        encoded = base64.b64encode(png).decode("ascii")
        parts += [
            f"<h2>{e(titles.get(name, name))}</h2>",
            f'<img id="{e(name)}" alt="{e(titles.get(name, name))}" src="data:image/png;base64,{encoded}">',
        ]
    parts += gaps_section(data.lineage, data.gaps, data.gaps_problem)
    parts += [
        "<h2>History</h2>",
        "<table>",
        "<tr>" + "".join(f"<th>{c}</th>" for c in _HTML_COLUMNS) + "</tr>",
    ]
    produced = produced_by(history)
    for row in history:
        cells = (
            str(row["iteration"]),
            f'<span class="{e(row["decision"])}">{e(row["decision"])}</span>',
            e(base_model_label(row["base_model"], produced)),
            e(row.get("strategy") or "-"),
            e((row["dataset"] or "-").split("/")[-1].split("?")[0]),
            e(str(row["records"]) if row.get("records") is not None else "-"),
            _score(row["training_loss"]),
            _score(row["validation_loss"]),
            _score(row["eval_score"]),
            _score(row["champion_score"]),
            e(improvement_text(row)),
            e(row.get("reason") or ""),
        )
        parts.append(
            f'<tr id="iteration-{row["iteration"]}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        )
    parts += ["</table>", "</body></html>"]
    return "\n".join(parts) + "\n"


REPORT_TEXT_CHARS = 300
"""A prompt, reference or answer in the report's gaps table is cut here (`iterft gaps --json`: whole)."""


def gaps_section(lineage: str, gaps: GapAnalysis | None, problem: str | None = None) -> list[str]:
    """The report's gap analysis: per category, weakest first, the champion's score, its change, the
    traffic share (when captured) and the records it fails worst."""
    e = html.escape
    parts = ["<h2>Where the champion falls short</h2>"]
    if problem is not None:
        parts.append(f'<p id="gaps-problem">{e(problem)}</p>')
        return parts
    if gaps is None or not gaps.categories:
        parts.append("<p>No evaluated round with categories yet.</p>")
        return parts
    champion = f"iteration {gaps.champion_iteration}'s model" if gaps.champion_iteration else "starting model"
    parts.append(
        f'<p id="gaps-summary">After iteration {gaps.iteration}, the champion ({e(champion)}) scores '
        f"{gaps.overall:.4f} {e(gaps.metric)} on evaluation set {e(gaps.eval_set_version)}; change over the "
        f"last {gaps.window} evaluated round(s). Every record: "
        f"<code>iterft gaps {e(lineage)} --json</code>.</p>"
    )
    columns = ["category", "records", "failed", "champion score", "change", "records it fails worst"]
    if gaps.traffic_share_given:
        columns.insert(5, "traffic share")
    parts += ['<table id="gaps">', "<tr>" + "".join(f"<th>{e(c)}</th>" for c in columns) + "</tr>"]
    for gap in gaps.categories:
        cells = [
            e(gap.category),
            str(gap.records),
            str(gap.failing),
            f"{gap.score:.4f}",
            _change(gap),
            _worst_cell(gap),
        ]
        if gaps.traffic_share_given:
            cells.insert(5, f"{(gap.traffic_share or 0.0):.1%}")
        parts.append(
            f'<tr id="gaps-{e(gap.category)}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
        )
    parts.append("</table>")
    if gaps.untested_traffic:
        listed = ", ".join(f"{e(name)} {share:.1%}" for name, share in gaps.untested_traffic.items())
        parts.append(f"<p>Traffic in categories the evaluation set does not measure: {listed}</p>")
    if gaps.traffic_from:
        parts.append(f'<p id="gaps-traffic">{e(gaps.traffic_from)}</p>')
    return parts


def _change(gap: CategoryGap) -> str:
    return "-" if gap.change is None else f"{gap.change:+.4f} since #{gap.change_from}"


def _worst_cell(gap: CategoryGap) -> str:
    e = html.escape
    return "".join(
        f"<p>line {record.line} ({record.score:.3f})"
        f"<br><b>prompt</b> {e(cut(record.prompt, REPORT_TEXT_CHARS))}"
        f"<br><b>reference</b> {e(cut(record.reference, REPORT_TEXT_CHARS))}"
        f"<br><b>answer</b> {e(cut(record.answer, REPORT_TEXT_CHARS))}</p>"
        for record in gap.worst
    )


def cut(text: str, limit: int) -> str:
    """`text` on one line (whitespace runs made one space), cut at `limit` characters with `...`."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def _counts(history: Sequence[dict[str, Any]]) -> str:
    counts = [
        f"{decision} {sum(row['decision'] == decision for row in history)}"
        for decision in ("promoted", "rolled_back", "rejected", "failed", "invalid_data", "running")
        if any(row["decision"] == decision for row in history)
    ]
    return f"{len(history)}" + (f" ({', '.join(counts)})" if counts else "")


def produced_by(history: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Each custom model the history shows, by the iteration that produced it."""
    return {row["output_model_arn"]: row["iteration"] for row in history if row.get("output_model_arn")}


def base_model_label(model: str | None, produced: dict[str, int]) -> str:
    """A base model named by the iteration that produced it ("iteration 2's model"), else shortened."""
    if model in produced:
        return f"iteration {produced[model]}'s model"
    return short_model(model)


def short_model(model: str | None) -> str:
    """A custom model ARN shortened to its name; foundation model ids stay as they are."""
    if not model:
        return "-"
    return model.rsplit("/", 1)[-1] if model.startswith("arn:") else model
