"""What operators read: `iterft history`, `iterft status`, `iterft gaps`, `iterft report` (and the tables
the demo prints)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iterft import target
from iterft.commands.common import (
    EXIT_OK,
    UsageError,
    add_target_arguments,
    command,
    deployment_of,
    elapsed,
    fmt,
    positive,
    print_table,
)
from iterft.report import improvement_text, short_model

if TYPE_CHECKING:
    from iterft_runtime.models.gaps import GapAnalysis
    from rich.console import Console
    from rich.table import Table

STATUS_REPAIRS = 3
"""The newest repairs `iterft status` prints per lineage (--json has more)."""


def history_table(lineage: str, rows: list[dict[str, Any]]) -> Table:
    """The lineage table: one row per iteration (shared by `iterft history` and the demo)."""
    from rich.table import Table

    from iterft.report import base_model_label, produced_by

    table = Table(title=f"lineage {lineage}", title_justify="left")
    for column in (
        "iteration",
        "base model",
        "strategy",
        "dataset",
        "training loss (last-epoch mean)",
        "eval score",
        "champion",
        "improvement [CI]",
        "decision",
        "rollback to",
    ):
        table.add_column(column, overflow="fold")
    colours = {"promoted": "green", "rejected": "yellow", "failed": "red", "invalid_data": "red"}
    produced = produced_by(rows)
    for row in rows:
        decision = row["decision"]
        colour = colours.get(decision, "cyan")
        table.add_row(
            str(row["iteration"]),
            base_model_label(row["base_model"], produced),
            row.get("strategy") or "-",
            (row["dataset"] or "-").split("/")[-1].split("?")[0],
            fmt(row["training_loss"]),
            fmt(row["eval_score"]),
            fmt(row["champion_score"]),
            improvement_text(row),
            f"[{colour}]{decision}[/{colour}]" + (" (inconclusive)" if row.get("inconclusive") else ""),
            _ROLLBACK_LABELS.get(row.get("rollback") or "", "-"),
        )
    return table


def source_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Where each round's data came from, for the rounds whose dataset says (a curated one's S3 metadata
    `source`): one line each under the lineage table."""
    return [f"  {row['iteration']}: data: {row['source']}" for row in rows if row.get("source")]


def category_table(row: dict[str, Any]) -> Table:
    """One round's primary metric per category, the candidate's weakest first (`history --categories`)."""
    from rich.table import Table

    metric = row["metric"]
    candidate = row["metrics"].get(metric, {}).get("by_category", {})
    champion = row["champion_metrics"].get(metric, {}).get("by_category", {})
    table = Table(title=f"iteration {row['iteration']}: {metric} by category", title_justify="left")
    for column in ("category", "candidate", "champion"):
        table.add_column(column, overflow="fold")
    for category, score in sorted(candidate.items(), key=lambda item: (item[1], item[0])):
        table.add_row(category, fmt(score), fmt(champion.get(category)))
    return table


_ROLLBACK_LABELS = {
    "possible": "[green]possible[/green]",
    "champion": "champion",
    "deleted": "[dim]model deleted[/dim]",
}
"""The history's `rollback` as the table shows it: whether `iterft rollback --to N` can go there."""


def _history(args: argparse.Namespace, console: Console) -> int:
    from iterft_runtime.logic.notifications import leakage_lines

    from iterft.history import known_lineage, lineage_history, lineage_uploads, retired_line

    deployment = deployment_of(args)
    state = known_lineage(deployment, args.lineage)  # an unknown lineage is an error, not an empty history
    if args.uploads:
        uploads = lineage_uploads(deployment, args.lineage)
        if args.json:
            print(json.dumps(uploads, indent=2))
        else:
            print_table(console, uploads_table(args.lineage, uploads))
        return EXIT_OK
    rows = lineage_history(deployment, args.lineage, categories=args.categories)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if rows:
        print_table(console, history_table(args.lineage, rows))
        for row in rows:
            if row.get("reason"):
                console.print(f"  {row['iteration']}: {row['reason']}", markup=False)
            for line in leakage_lines(row.get("leakage") or {})[:1]:  # its summary; --json has the lines
                console.print(f"  {row['iteration']}: {line}", markup=False)
        for line in source_lines(rows):
            console.print(line, markup=False)
        if args.categories:
            for row in rows:
                if row.get("metrics_uri"):
                    print_table(console, category_table(row))
    else:
        console.print(f"lineage {args.lineage}: no iterations yet")
    if retired_line(state):
        console.print(f"lineage {args.lineage}: {retired_line(state)}", markup=False)
    not_trained = lineage_uploads(deployment, args.lineage, not_trained=True)
    if not_trained:
        console.print(f"uploads that started no round ({len(not_trained)}; all uploads: --uploads):")
        for upload in not_trained:
            console.print(f"  {_upload_line(upload)}", markup=False)
    return EXIT_OK


def _upload_line(upload: dict[str, Any]) -> str:
    """`withdrawn: s3://.../a.jsonl?versionId=V (by arn:...): reason`."""
    by = f" (by {upload['by']})" if upload.get("by") else ""
    return f"{upload['status']}: {upload['dataset']}{by}: {upload.get('reason') or ''}"


def uploads_table(lineage: str, uploads: list[dict[str, Any]]) -> Table:
    """Every object version seen under incoming/<lineage>/, in upload order, and what became of it."""
    from rich.table import Table

    table = Table(title=f"uploads of lineage {lineage}", title_justify="left")
    for column in ("uploaded", "file", "version", "status", "iteration", "reason"):
        table.add_column(column, overflow="fold")
    for upload in uploads:
        reason = upload.get("reason") or ""
        table.add_row(
            upload["uploaded_at"],
            upload["key"].split("/", 2)[-1],
            upload["version_id"] or "-",
            upload["status"],
            str(upload["iteration"] or "-"),
            f"{reason} (by {upload['by']})" if upload.get("by") else reason,
        )
    return table


def _status(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from iterft.history import lineage_status

    deployment = deployment_of(args)
    statuses = lineage_status(deployment, args.lineage)
    if args.json:
        print(json.dumps(statuses, indent=2))
        return EXIT_OK
    table = Table(title=f"{deployment.stack_name}", title_justify="left")
    columns = ("lineage", "champion", "champion score", "serving", "running", "queued", "converged", "spend")
    for column in columns:
        table.add_column(column, overflow="fold")
    for status in statuses:
        table.add_row(
            status["lineage"],
            f"iteration {status['champion_iteration']}'s model ({short_model(status['champion_model'])})"
            if status["champion_iteration"]
            else f"{short_model(status['champion_model'])} (starting model)",
            fmt(status["champion_score"]),
            _serving_label(status),
            _running_label(status),
            str(len(status["queued"])),
            _converged_label(status),
            _spend_label(status),
        )
    print_table(console, table)
    for status in statuses:
        for uri in status["queued"]:
            console.print(f"  {status['lineage']} queued: {uri}", markup=False)
        for upload in status["not_trained"]:
            console.print(f"  {status['lineage']} {_upload_line(upload)}", markup=False)
        for line in status.get("repairs", [])[:STATUS_REPAIRS]:
            console.print(f"  {status['lineage']} repaired {line}", markup=False)
    return EXIT_OK


def _serving_label(status: dict[str, Any]) -> str:
    """`on_demand: <deployment>`: the serving mode and what serves the champion (- when nothing does)."""
    if status.get("retired"):
        return str(status["retired"])
    mode = status.get("serving_mode") or "?"
    return f"{mode}: {short_model(status['serving_model_id'])}"


def _running_label(status: dict[str, Any]) -> str:
    """`it 3: Fine-tune candidate (12m 5s)`: the round holding the lineage, its step and how long; a lock
    whose execution has ended says so, and how to release it."""
    if status["running_iteration"] is None:
        return "-"
    ended = status.get("lock_execution_status")
    if ended and ended != "RUNNING":
        when = f" at {status['lock_execution_stopped_at']}" if status.get("lock_execution_stopped_at") else ""
        return (
            f"locked by iteration {status['running_iteration']}, whose execution {ended}{when}: "
            f"`iterft repair {status['lineage']}` releases it"
        )
    step = status.get("running_step") or "starting"
    return f"it {status['running_iteration']}: {step} ({elapsed(status.get('running_since'))})"


def _spend_label(status: dict[str, Any]) -> str:
    """This month's estimated spend, against the budget when there is one."""
    from iterft_runtime.logic.notifications import money

    spend = money(status["month_spend_usd"])
    budget = status["monthly_budget_usd"]
    if budget is None:
        return f"{spend} in {status['month']}"
    reached = " (budget reached: uploads wait)" if status["budget_reached"] else ""
    return f"{spend} of {money(budget)} in {status['month']}{reached}"


def _converged_label(status: dict[str, Any]) -> str:
    if not status["converged"]:
        return "no"
    return "yes (paused: iterft resume)" if status["paused"] else "yes"


GAPS_TEXT_CHARS = 240
"""A prompt, reference or answer `iterft gaps` prints is cut here, on one line (--json has it whole)."""


def gaps_table(analysis: GapAnalysis) -> Table:
    """Per category, weakest first: the champion's score, its change over the last evaluated rounds, how
    many records it fails and, when traffic is captured, the category's share of it."""
    from rich.table import Table

    table = Table(
        title=f"gaps of lineage {analysis.lineage}: champion's {analysis.metric} by category, weakest first",
        title_justify="left",
    )
    columns = ["category", "records", "failed", "champion score", f"change (last {analysis.window} rounds)"]
    if analysis.traffic_share_given:
        columns.append("traffic share")
    for column in columns:
        table.add_column(column, overflow="fold")
    for gap in analysis.categories:
        cells = [
            gap.category,
            str(gap.records),
            str(gap.failing),
            fmt(gap.score),
            "-" if gap.change is None else f"{gap.change:+.4f} since #{gap.change_from}",
        ]
        if analysis.traffic_share_given:
            cells.append(f"{(gap.traffic_share or 0.0):.1%}")
        table.add_row(*cells)
    return table


def gaps_lines(analysis: GapAnalysis, weakest: int) -> list[str]:
    """What `iterft gaps` prints under its table: the weakest categories, each with the records the
    champion fails worst (prompt, reference, its answer), and traffic the evaluation set does not measure."""
    from iterft_runtime.logic.gaps import weakest_categories

    from iterft.report import cut

    named = weakest_categories(analysis, weakest)
    by_name = {gap.category: gap for gap in analysis.categories}
    if not named:
        lines = ["The champion answers every category's records perfectly."] if analysis.categories else []
    else:
        lines = ["Weakest: " + ", ".join(f"{name} ({by_name[name].score:.4f})" for name in named)]
    for name in named:
        gap = by_name[name]
        lines.append(f"{name}: the champion fails {gap.failing} of {gap.records} record(s); worst:")
        for record in gap.worst:
            lines += [
                f"  line {record.line} ({analysis.metric} {record.score:.4f})",
                f"    prompt:    {cut(record.prompt, GAPS_TEXT_CHARS)}",
                f"    reference: {cut(record.reference, GAPS_TEXT_CHARS)}",
                f"    answer:    {cut(record.answer, GAPS_TEXT_CHARS)}",
            ]
    if analysis.uncategorized_records:
        lines.append(
            f"{analysis.uncategorized_records} evaluation record(s) have no category (counted overall)"
        )
    if analysis.untested_traffic:
        lines.append(
            "traffic in categories the evaluation set does not measure: "
            + ", ".join(f"{name} {share:.1%}" for name, share in analysis.untested_traffic.items())
        )
    if analysis.traffic_from:
        lines.append(analysis.traffic_from)
    return lines


def gaps_heading(analysis: GapAnalysis) -> str:
    """Which round and which champion the analysis is of, and where its answers were read."""
    champion = (
        f"iteration {analysis.champion_iteration}'s model"
        if analysis.champion_iteration
        else "the starting model"
    )
    source = analysis.answers_from
    return (
        f"lineage {analysis.lineage} after iteration {analysis.iteration}: champion {champion}, "
        f"{analysis.metric} {analysis.overall:.4f} on evaluation set {analysis.eval_set_version} "
        f"(its answers as iteration {source.iteration}'s {source.role})"
    )


def _gaps(args: argparse.Namespace, console: Console) -> int:
    from iterft_runtime.logic.gaps import GapOptions

    from iterft.history import lineage_gaps

    options = GapOptions(window=args.window, per_category=args.examples)
    analysis = lineage_gaps(deployment_of(args), args.lineage, options, traffic=args.traffic)
    if args.json:
        print(json.dumps(analysis.model_dump(mode="json") if analysis is not None else None, indent=2))
        return EXIT_OK
    if analysis is None:
        console.print(f"lineage {args.lineage}: no evaluated round yet", markup=False)
        return EXIT_OK
    console.print(gaps_heading(analysis), markup=False)
    if not analysis.categories:
        console.print("the evaluation set has no categories: nothing to break down", markup=False)
    else:
        print_table(console, gaps_table(analysis))
    for line in gaps_lines(analysis, args.weakest):
        console.print(line, markup=False)
    return EXIT_OK


def _check_out_dir(out: Path) -> None:
    """Before anything is read: --out is (or can become) a directory this user can write into."""
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "" if existing == out else f" ({existing} is a file)"
        raise UsageError(
            f"--out {out} cannot be a directory{what}: give a directory for index.html and its charts"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise target.TargetError(f"cannot write into {existing}: permission denied")


def _report(args: argparse.Namespace, console: Console) -> int:
    from iterft.history import report_data
    from iterft.report import write_report

    out = Path(args.out)
    _check_out_dir(out)
    deployment = deployment_of(args)
    data = report_data(deployment, args.lineage)
    try:
        page = write_report(data, out)
    except OSError as error:
        raise target.TargetError(f"cannot write the report into {out}: {error.strerror or error}") from None
    console.print(f"wrote {page}", markup=False)
    return EXIT_OK


def register(commands: Any) -> None:
    """The subcommands' parsers."""
    history = command(
        commands,
        "history",
        "a lineage's iterations, in order: models, losses, scores, decisions and their reasons",
        ["iterft history support-bot --env dev", "iterft history support-bot --env prod --json"],
        _history,
    )
    history.add_argument("lineage")
    history.add_argument(
        "--categories",
        action="store_true",
        help="every category's scores, read from each round's metrics document in S3 (the registry keeps a "
        "few per metric)",
    )
    history.add_argument(
        "--uploads",
        action="store_true",
        help="list every upload of the lineage and what became of it (queued, started, withdrawn, "
        "superseded, invalid_data, ignored, refused)",
    )
    add_target_arguments(history)

    status = command(
        commands,
        "status",
        "each lineage's champion, serving model, running round and its step, queued uploads, convergence",
        ["iterft status --env dev", "iterft status support-bot --stack iterft-dev --region us-east-1 --json"],
        _status,
    )
    status.add_argument("lineage", nargs="?")
    add_target_arguments(status)

    gaps = command(
        commands,
        "gaps",
        "where the champion falls short: per category its score, its change over the last evaluated rounds "
        "and the evaluation records it fails worst (prompt, reference, answer)",
        ["iterft gaps support-bot --env dev", "iterft gaps support-bot --examples 5 --json"],
        _gaps,
    )
    gaps.add_argument("lineage")
    gaps.add_argument(
        "--weakest",
        type=positive(int),
        default=3,
        help="how many of the weakest categories to show examples of (default 3; --json has every one)",
    )
    gaps.add_argument(
        "--examples",
        type=positive(int),
        default=3,
        help="how many of the records it fails worst to keep per category (default 3)",
    )
    gaps.add_argument(
        "--window",
        type=positive(int),
        default=3,
        help="a category's change is measured over this many evaluated rounds (default 3)",
    )
    gaps.add_argument(
        "--no-traffic",
        dest="traffic",
        action="store_false",
        help="do not read the categories' shares of recent traffic (by default a lineage that captures "
        "traffic has them read by a dry run of the curate function, which writes nothing)",
    )
    add_target_arguments(gaps)

    report = command(
        commands,
        "report",
        "write the lineage's HTML report (loss curves, primary metric, scores by category and the gaps, "
        "dataset sizes, history)",
        ["iterft report support-bot --out out/report --env dev"],
        _report,
    )
    report.add_argument("lineage")
    report.add_argument("--out", required=True, help="directory for index.html and its PNG charts")
    add_target_arguments(report, json_output=False)
