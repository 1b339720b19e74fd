"""`iterft`: the operator's command line.

    iterft validate FILE (--model MODEL_ID | --family F) [--validation] [--json]
    iterft history LINEAGE [--env ENV | --stack NAME] [--json]
    iterft status [LINEAGE] [--env ENV | --stack NAME] [--json]
    iterft resume LINEAGE [--env ENV | --stack NAME]
    iterft approve LINEAGE ITERATION [--reason TEXT] [--env ENV | --stack NAME]
    iterft reject LINEAGE ITERATION --reason TEXT [--env ENV | --stack NAME]
    iterft rollback LINEAGE --to ITERATION --reason TEXT [--env ENV | --stack NAME]

Exit codes: 0 success (for validate: the file is valid), 1 invalid data or a failed
lookup, 2 a usage error. Commands that read a deployment find it through its stack's
outputs, in a real account or on the embedded default (--endpoint-url).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from iterft_runtime.logic.lines import split_lines
from iterft_runtime.logic.notifications import money
from iterft_runtime.logic.validation import ValidationReport, validate_lines
from iterft_runtime.models.families import (
    FAMILIES,
    ModelFamily,
    UnknownModelError,
    family_for_model,
    family_named,
)
from rich.console import Console
from rich.table import Table

from iterft import target
from iterft.control import answer_review, resume_lineage, rollback_lineage
from iterft.history import lineage_history, lineage_status

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_READ_CHUNK = 1024 * 1024


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            yield chunk


def _print_report(report: ValidationReport, path: Path, console: Console) -> None:
    console.print(f"{path}: {report.summary()}", style="green" if report.valid else "red", markup=False)
    for problem in report.problems:
        where = f"line {problem.line}" if problem.line is not None else "file"
        console.print(f"  {where}: {problem.severity.value} {problem.code}: {problem.message}", markup=False)
    shown = len(report.problems)
    total = sum(report.counts.values())
    if shown < total:
        console.print(
            f"  ... {total - shown} more (every count above is exact; examples are capped per code)"
        )


def _error(message: str) -> None:
    Console(stderr=True, soft_wrap=True, highlight=False).print(message, style="red", markup=False)


def _validate(args: argparse.Namespace, console: Console) -> int:
    try:
        family: ModelFamily = family_named(args.family) if args.family else family_for_model(args.model)
    except UnknownModelError as error:
        _error(f"iterft validate: {error}")
        return EXIT_USAGE
    path = Path(args.file)
    if not path.is_file():
        _error(f"iterft validate: no such file: {path}")
        return EXIT_USAGE
    report = validate_lines(
        split_lines(_file_chunks(path)),
        family,
        validation_file=args.validation,
        declared_size=path.stat().st_size,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report, path, console)
    return EXIT_OK if report.valid else EXIT_FAILED


def _deployment(args: argparse.Namespace) -> target.Deployment:
    if args.endpoint_url:
        # The runtime's data-access layer builds its clients from boto3's defaults.
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    stack = args.stack or f"iterft-{args.env}"
    return target.resolve(stack, region=args.region, endpoint_url=args.endpoint_url)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def history_table(lineage: str, rows: list[dict[str, Any]]) -> Table:
    """The lineage table: one row per iteration (shared by `iterft history` and the demo)."""
    table = Table(title=f"lineage {lineage}", title_justify="left")
    for column in (
        "iteration",
        "base model",
        "dataset",
        "training loss",
        "eval score",
        "champion",
        "decision",
    ):
        table.add_column(column, overflow="fold")
    colours = {"promoted": "green", "rejected": "yellow", "failed": "red", "invalid_data": "red"}
    produced_by = {row["output_model_arn"]: row["iteration"] for row in rows if row["output_model_arn"]}
    for row in rows:
        decision = row["decision"]
        colour = colours.get(decision, "cyan")
        table.add_row(
            str(row["iteration"]),
            _model_label(row["base_model"], produced_by),
            (row["dataset"] or "-").split("/")[-1].split("?")[0],
            _fmt(row["training_loss"]),
            _fmt(row["eval_score"]),
            _fmt(row["champion_score"]),
            f"[{colour}]{decision}[/{colour}]",
        )
    return table


def _model_label(model: str | None, produced_by: dict[str, int]) -> str:
    """A custom model named by the iteration that produced it, when the history shows it."""
    if model in produced_by:
        return f"iteration {produced_by[model]}'s model"
    return _short_model(model)


def _short_model(model: str | None) -> str:
    """A custom model ARN shortened to its name; foundation model ids stay as they are."""
    if not model:
        return "-"
    return model.rsplit("/", 1)[-1] if model.startswith("arn:") else model


def _history(args: argparse.Namespace, console: Console) -> int:
    deployment = _deployment(args)
    rows = lineage_history(deployment, args.lineage)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        console.print(history_table(args.lineage, rows))
        for row in rows:
            if row.get("reason"):
                console.print(f"  {row['iteration']}: {row['reason']}", markup=False)
    else:
        console.print(f"lineage {args.lineage}: no iterations yet")
    return EXIT_OK


def _status(args: argparse.Namespace, console: Console) -> int:
    deployment = _deployment(args)
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
            f"{_short_model(status['champion_model'])} (it {status['champion_iteration']})",
            _fmt(status["champion_score"]),
            _short_model(status["serving_model_id"]),
            _fmt(status["running_iteration"]),
            str(len(status["queued"])),
            _converged_label(status),
            _spend_label(status),
        )
    console.print(table)
    return EXIT_OK


def _spend_label(status: dict[str, Any]) -> str:
    """This month's estimated spend, against the budget when there is one."""
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


def _resume(args: argparse.Namespace, console: Console) -> int:
    deployment = _deployment(args)
    queued = resume_lineage(deployment, args.lineage)
    console.print(f"{args.lineage}: resumed; {queued} queued upload(s) start in upload order", markup=False)
    return EXIT_OK


def _rollback(args: argparse.Namespace, console: Console) -> int:
    iteration = rollback_lineage(_deployment(args), args.lineage, args.to, args.reason)
    console.print(
        f"{args.lineage}: rollback to #{args.to} started as iteration #{iteration}; the serving pointer "
        "moves once the model is in service (iterft status / iterft history)",
        markup=False,
    )
    return EXIT_OK


def _approve(args: argparse.Namespace, console: Console) -> int:
    answer_review(_deployment(args), args.lineage, args.iteration, approved=True, reason=args.reason)
    console.print(f"{args.lineage} #{args.iteration}: approved; the candidate will be promoted", markup=False)
    return EXIT_OK


def _reject(args: argparse.Namespace, console: Console) -> int:
    answer_review(_deployment(args), args.lineage, args.iteration, approved=False, reason=args.reason)
    console.print(
        f"{args.lineage} #{args.iteration}: rejected; the candidate will be discarded", markup=False
    )
    return EXIT_OK


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--env", default="dev", help="environment whose stack to read (stack iterft-ENV)")
    where.add_argument("--stack", help="stack name, instead of --env")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration)")
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="AWS endpoint, e.g. the embedded default's http://127.0.0.1:PORT",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iterft", description="Iterative fine-tuning of Bedrock custom models"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a training file before uploading it")
    validate.add_argument("file")
    model = validate.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--model",
        help="base model id, e.g. amazon.nova-micro-v1:0:128k, with that model's own limits "
        "(Nova Micro: text only)",
    )
    model.add_argument(
        "--family",
        help=f"model family, with its default limits (nova: Lite's and Pro's, images and videos allowed): "
        f"{', '.join(sorted(FAMILIES))}",
    )
    validate.add_argument("--validation", action="store_true", help="check as a validation-data file")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.set_defaults(run=_validate)

    history = commands.add_parser("history", help="a lineage's iterations, in order")
    history.add_argument("lineage")
    _add_target_arguments(history)
    history.set_defaults(run=_history)

    status = commands.add_parser("status", help="each lineage's champion, lock and queue")
    status.add_argument("lineage", nargs="?")
    _add_target_arguments(status)
    status.set_defaults(run=_status)

    resume = commands.add_parser("resume", help="clear a converged lineage and start its queued uploads")
    resume.add_argument("lineage")
    _add_target_arguments(resume)
    resume.set_defaults(run=_resume)

    rollback = commands.add_parser(
        "rollback", help="serve an earlier promoted iteration's model again (recorded in the history)"
    )
    rollback.add_argument("lineage")
    rollback.add_argument("--to", type=int, required=True, metavar="ITERATION", help="a promoted iteration")
    rollback.add_argument("--reason", required=True, help="why: recorded in the history and notified")
    _add_target_arguments(rollback)
    rollback.set_defaults(run=_rollback)

    approve = commands.add_parser("approve", help="promote a candidate that waits for approval")
    approve.add_argument("lineage")
    approve.add_argument("iteration", type=int)
    approve.add_argument("--reason", default="approved", help="recorded with the approval")
    _add_target_arguments(approve)
    approve.set_defaults(run=_approve)

    reject = commands.add_parser("reject", help="turn down a candidate that waits for approval")
    reject.add_argument("lineage")
    reject.add_argument("iteration", type=int)
    reject.add_argument("--reason", required=True, help="why: recorded in the history and notified")
    _add_target_arguments(reject)
    reject.set_defaults(run=_reject)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args, Console(soft_wrap=True, highlight=False))
    except target.TargetError as error:
        _error(f"iterft {args.command}: {error}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
