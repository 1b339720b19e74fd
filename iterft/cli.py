"""`iterft`: the operator's command line.

    iterft validate FILE (--model MODEL_ID | --family F) [--validation] [--json]
    iterft history LINEAGE [--categories | --uploads] [--env ENV | --stack NAME] [--json]
    iterft status [LINEAGE] [--env ENV | --stack NAME] [--json]
    iterft resume LINEAGE [--env ENV | --stack NAME]
    iterft approve LINEAGE ITERATION [--reason TEXT] [--env ENV | --stack NAME]
    iterft reject LINEAGE ITERATION --reason TEXT [--env ENV | --stack NAME]
    iterft rollback LINEAGE --to ITERATION --reason TEXT [--env ENV | --stack NAME]
    iterft start LINEAGE --data s3://BUCKET/incoming/KEY.jsonl [--wait] [--env ENV | --stack NAME]
    iterft withdraw LINEAGE --upload KEY[?versionId=V] --reason TEXT [--env ENV | --stack NAME]
    iterft report LINEAGE --out DIR [--env ENV | --stack NAME]
    iterft doctor [LINEAGE...] [--env ENV | --stack NAME] [--json]
    iterft smoke [--lineage NAME] [--yes] [--env ENV | --stack NAME | --local]
    iterft repair LINEAGE [--dry-run] [--env ENV | --stack NAME]

Exit codes: 0 success (for validate: the file is valid; for start --wait: the round was
decided), 1 invalid data, a failed round or a failed lookup (unknown lineage, no stack,
missing or expired credentials: one line on stderr, never a traceback), 2 a usage error.
Commands that read a deployment find it through its stack's outputs, in a real account
(standard AWS profile and region resolution) or on the embedded default (--endpoint-url).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn
from urllib.parse import urlsplit

from iterft_runtime.models.families import FAMILIES

from iterft import target
from iterft.report import short_model

if TYPE_CHECKING:
    from iterft_runtime.logic.validation import ValidationReport
    from rich.console import Console
    from rich.table import Table

    from iterft.history import RoundProgress

# Each command imports what it uses (rich, the AWS SDK through iterft.history and iterft.control,
# matplotlib through iterft.report) when it runs, so `iterft --help` and `iterft validate` start at
# once: tests/unit/test_cli_imports.py keeps the module itself light, `make bench` times it.

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STATUS_REPAIRS = 3
"""The newest repairs `iterft status` prints per lineage (--json has more)."""
_READ_CHUNK = 1024 * 1024


def _file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(_READ_CHUNK):
        yield chunk


class _UsageError(Exception):
    """A bad argument found after parsing (a file that cannot be read, a folder that cannot be
    written): one line on stderr and exit 2."""


def _open_input(name: str) -> tuple[BinaryIO, str, int | None]:
    """The file to validate (`-`: standard input), the name to show and its size when known.

    Directories, devices (/dev/null) and sockets are refused; a named pipe (`<(zcat data.gz)`) streams.
    """
    if name == "-":
        return sys.stdin.buffer, "<stdin>", None
    path = Path(name)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise _UsageError(f"no such file: {path}") from None
    except OSError as error:
        raise _UsageError(f"cannot read {path}: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise _UsageError(f"{path} is a directory, not a file")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise _UsageError(
            f"{path} is a device or socket, not a file (give a JSONL file, or - for standard input)"
        )
    try:
        handle = path.open("rb")
    except OSError as error:
        raise _UsageError(f"cannot read {path}: {error.strerror}") from None
    return handle, str(path), path.stat().st_size if stat.S_ISREG(mode) else None


def _print_report(report: ValidationReport, name: str, console: Console) -> None:
    console.print(f"{name}: {report.summary()}", style="green" if report.valid else "red", markup=False)
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
    from rich.console import Console

    Console(stderr=True, soft_wrap=True, highlight=False).print(message, style="red", markup=False)


def _validate(args: argparse.Namespace, console: Console) -> int:
    from iterft_runtime.logic.lines import split_lines
    from iterft_runtime.logic.validation import validate_lines
    from iterft_runtime.models.families import ModelFamily, UnknownModelError, family_for_model, family_named

    try:
        family: ModelFamily = family_named(args.family) if args.family else family_for_model(args.model)
    except UnknownModelError as error:
        _error(f"iterft validate: {error}")
        return EXIT_USAGE
    handle, name, size = _open_input(args.file)
    try:
        report = validate_lines(
            split_lines(_file_chunks(handle)),
            family,
            validation_file=args.validation,
            declared_size=size,
        )
    except OSError as error:  # e.g. EISDIR or EIO mid-read
        raise _UsageError(f"cannot read {name}: {error.strerror or error}") from None
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report, name, console)
    return EXIT_OK if report.valid else EXIT_FAILED


def _stack_name(args: argparse.Namespace) -> str:
    if args.endpoint_url:
        # The runtime's data-access layer builds its clients from boto3's defaults.
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    return str(args.stack or f"iterft-{args.env}")


def _deployment(args: argparse.Namespace) -> target.Deployment:
    return target.resolve(_stack_name(args), region=args.region, endpoint_url=args.endpoint_url)


def _doctor(args: argparse.Namespace, console: Console) -> int:
    from iterft import doctor  # the stack's version digest and every check's client: this command only

    stack = _stack_name(args)
    return doctor.report(stack, args.region, args.endpoint_url, args.lineage, console, as_json=args.json)


def _smoke(args: argparse.Namespace, console: Console) -> int:
    from iterft import smoke  # and, with --local, the whole embedded default

    try:
        return smoke.run(args, console, _deployment)
    except smoke.SmokeError as error:
        _error(f"iterft smoke: {error}")
        return EXIT_FAILED


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_table(console: Console, table: Table) -> None:
    """A table at its natural width when the output is not a terminal (a pipe, a file, CI), so that no
    cell is folded mid-word at the 80 columns a pipe is given; on a terminal, the terminal's width."""
    from rich.console import Console
    from rich.measure import Measurement

    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    wide = Console(
        file=console.file,
        width=max(console.width, natural),
        soft_wrap=True,
        highlight=False,
        no_color=console.no_color,
        color_system=console.color_system,  # type: ignore[arg-type]
    )
    wide.print(table)


def history_table(lineage: str, rows: list[dict[str, Any]]) -> Table:
    """The lineage table: one row per iteration (shared by `iterft history` and the demo)."""
    from rich.table import Table

    from iterft.report import base_model_label, produced_by

    table = Table(title=f"lineage {lineage}", title_justify="left")
    for column in (
        "iteration",
        "base model",
        "dataset",
        "training loss (last-epoch mean)",
        "eval score",
        "champion",
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
            (row["dataset"] or "-").split("/")[-1].split("?")[0],
            _fmt(row["training_loss"]),
            _fmt(row["eval_score"]),
            _fmt(row["champion_score"]),
            f"[{colour}]{decision}[/{colour}]",
            _ROLLBACK_LABELS.get(row.get("rollback"), "-"),
        )
    return table


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
        table.add_row(category, _fmt(score), _fmt(champion.get(category)))
    return table


_ROLLBACK_LABELS = {
    "possible": "[green]possible[/green]",
    "champion": "champion",
    "deleted": "[dim]model deleted[/dim]",
}
"""The history's `rollback` as the table shows it: whether `iterft rollback --to N` can go there."""


def _history(args: argparse.Namespace, console: Console) -> int:
    from iterft.history import lineage_config, lineage_history, lineage_uploads

    deployment = _deployment(args)
    lineage_config(deployment, args.lineage)  # an unknown lineage is an error, not an empty history
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
        if args.categories:
            for row in rows:
                if row.get("metrics_uri"):
                    print_table(console, category_table(row))
    else:
        console.print(f"lineage {args.lineage}: no iterations yet")
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
            f"iteration {status['champion_iteration']}'s model ({short_model(status['champion_model'])})"
            if status["champion_iteration"]
            else f"{short_model(status['champion_model'])} (starting model)",
            _fmt(status["champion_score"]),
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
    return f"it {status['running_iteration']}: {step} ({_elapsed(status.get('running_since'))})"


def _elapsed(since: str | None) -> str:
    """How long ago a registry timestamp was, as `1h 2m`, `3m 4s` or `5s`."""
    if not since:
        return "?"
    seconds = max(0, int((datetime.now(UTC) - datetime.fromisoformat(since)).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


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


def _repair(args: argparse.Namespace, console: Console) -> int:
    """One line per repair the reconciler made (or would make); exit 1 when one of them failed."""
    from iterft.repair import repair_lineage

    outcomes = repair_lineage(_deployment(args), args.lineage, dry_run=args.dry_run)
    if not outcomes:
        console.print(f"{args.lineage}: nothing to repair", markup=False)
    prefix = "would repair " if args.dry_run else ""
    for outcome in outcomes:
        console.print(prefix + outcome.line(), markup=False)
    return EXIT_FAILED if any(outcome.error for outcome in outcomes) else EXIT_OK


def _resume(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import resume_lineage

    deployment = _deployment(args)
    queued = resume_lineage(deployment, args.lineage)
    console.print(f"{args.lineage}: resumed; {queued} queued upload(s) start in upload order", markup=False)
    return EXIT_OK


def _rollback(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import rollback_lineage

    iteration = rollback_lineage(_deployment(args), args.lineage, args.to, args.reason)
    console.print(
        f"{args.lineage}: rollback to #{args.to} started as iteration #{iteration}; the serving pointer "
        "moves once the model is in service (iterft status / iterft history)",
        markup=False,
    )
    return EXIT_OK


def _withdraw(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import withdraw_upload

    record = withdraw_upload(_deployment(args), args.lineage, args.upload, args.reason)
    console.print(
        f"{args.lineage}: withdrew {record.dataset.s3_uri}; it will not be trained "
        f"(iterft history {args.lineage} --uploads)",
        markup=False,
    )
    return EXIT_OK


def _approve(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import answer_review

    answer_review(_deployment(args), args.lineage, args.iteration, approved=True, reason=args.reason)
    console.print(f"{args.lineage} #{args.iteration}: approved; the candidate will be promoted", markup=False)
    return EXIT_OK


def _reject(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import answer_review

    answer_review(_deployment(args), args.lineage, args.iteration, approved=False, reason=args.reason)
    console.print(
        f"{args.lineage} #{args.iteration}: rejected; the candidate will be discarded", markup=False
    )
    return EXIT_OK


_DECIDED = {"promoted", "rejected"}


def _start(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import start_round

    deployment = _deployment(args)
    dataset = start_round(deployment, args.lineage, args.data)
    console.print(
        f"{args.lineage}: round requested on {dataset.s3_uri} ({dataset.size} bytes); "
        "it starts when the lineage is idle",
        markup=False,
    )
    if not args.wait:
        console.print(f"follow it with: iterft status {args.lineage}", markup=False)
        return EXIT_OK
    progress = wait_for_round(
        deployment, args.lineage, dataset.s3_uri, console, timeout=args.timeout, interval=args.interval
    )
    if progress.decision in ("queued", "running"):
        _error(
            f"iterft start: {args.lineage} #{progress.iteration or '-'} still {progress.decision} after "
            f"{args.timeout:g} s; follow it with: iterft status {args.lineage}"
        )
        return EXIT_FAILED
    colour = {"promoted": "green", "rejected": "yellow"}.get(progress.decision, "red")
    console.print(
        f"{args.lineage} #{progress.iteration}: {progress.decision}"
        + (f": {progress.reason}" if progress.reason else ""),
        style=colour,
        markup=False,
    )
    return EXIT_OK if progress.decision in _DECIDED else EXIT_FAILED


def wait_for_round(
    deployment: target.Deployment,
    lineage: str,
    dataset_uri: str,
    console: Console,
    *,
    timeout: float | None,
    interval: float,
) -> RoundProgress:
    """Until the dataset's round has ended (or --timeout seconds): which iteration, which step, how long.

    On a terminal a status line is updated in place; otherwise (a pipe, CI) one line is printed each
    time the round moves to another step.
    """
    from iterft.history import round_progress

    requested = datetime.now(UTC).isoformat()
    deadline = None if timeout is None else time.monotonic() + timeout
    shown: tuple[int | None, str, str | None] | None = None
    with console.status("waiting for the trigger", spinner="dots") as spinner:
        while True:
            progress = round_progress(deployment, lineage, dataset_uri)
            if progress.decision not in ("queued", "running"):
                return progress
            if progress.iteration is None:
                line = f"{lineage}: queued ({_elapsed(requested)})"
            else:
                step = progress.step or "starting"
                line = f"{lineage} #{progress.iteration}: {step} ({_elapsed(progress.started_at)})"
            if console.is_terminal:
                spinner.update(line)
            elif (progress.iteration, progress.decision, progress.step) != shown:
                console.print(line, markup=False)
            shown = (progress.iteration, progress.decision, progress.step)
            if deadline is not None and time.monotonic() > deadline:
                return progress
            time.sleep(interval)


def _check_out_dir(out: Path) -> None:
    """Before anything is read: --out is (or can become) a directory this user can write into."""
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "" if existing == out else f" ({existing} is a file)"
        raise _UsageError(
            f"--out {out} cannot be a directory{what}: give a directory for index.html and its charts"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise target.TargetError(f"cannot write into {existing}: permission denied")


def _report(args: argparse.Namespace, console: Console) -> int:
    from iterft.history import report_data
    from iterft.report import write_report

    out = Path(args.out)
    _check_out_dir(out)
    deployment = _deployment(args)
    data = report_data(deployment, args.lineage)
    try:
        page = write_report(data, out)
    except OSError as error:
        raise target.TargetError(f"cannot write the report into {out}: {error.strerror or error}") from None
    console.print(f"wrote {page}", markup=False)
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr (which command, what is wrong, where to look), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _reason(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty (it is recorded in the history and notified)")
    return text


def _endpoint_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL (from --endpoint-url or AWS_ENDPOINT_URL): "
            "give the scheme too, e.g. http://127.0.0.1:PORT"
        )
    return text


def _add_target_arguments(parser: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--env", default="dev", help="environment whose stack to use (stack iterft-ENV)")
    where.add_argument("--stack", help="stack name, instead of --env")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration)")
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        type=_endpoint_url,
        help="AWS endpoint, e.g. the embedded default's http://127.0.0.1:PORT",
    )
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON")


def _command(
    commands: Any, name: str, summary: str, examples: Sequence[str], run: Any
) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with examples."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="examples:\n" + "\n".join(f"  {example}" for example in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="iterft",
        description="Iterative fine-tuning of Bedrock custom models: check data, watch and steer the "
        "lineages of a deployed iterft stack.",
        epilog="examples:\n  iterft status --env dev\n  iterft history support-bot --env dev\n"
        "run `iterft COMMAND --help` for each command's options",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = _command(
        commands,
        "validate",
        "check a training file before uploading it (exit 0 valid, 1 invalid, 2 usage error)",
        [
            "iterft validate data.jsonl --model amazon.nova-micro-v1:0:128k",
            "iterft validate val.jsonl --family nova --validation --json",
        ],
        _validate,
    )
    validate.add_argument("file", help="the JSONL file; - reads standard input")
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

    history = _command(
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
        "superseded, invalid_data, ignored)",
    )
    _add_target_arguments(history)

    status = _command(
        commands,
        "status",
        "each lineage's champion, serving model, running round and its step, queued uploads, convergence",
        ["iterft status --env dev", "iterft status support-bot --stack iterft-dev --region us-east-1 --json"],
        _status,
    )
    status.add_argument("lineage", nargs="?")
    _add_target_arguments(status)

    start = _command(
        commands,
        "start",
        "run a round on a file already in the data bucket (through the same queue as uploads)",
        [
            "iterft start support-bot --data s3://DATA_BUCKET/incoming/billing-bot/round-3.jsonl --wait",
            "iterft start support-bot --data 's3://DATA_BUCKET/incoming/other-bot/r3.jsonl?versionId=V'",
        ],
        _start,
    )
    start.add_argument("lineage")
    start.add_argument(
        "--data",
        required=True,
        help="s3://BUCKET/incoming/.../FILE.jsonl in the stack's data bucket (?versionId= pins a version)",
    )
    start.add_argument("--wait", action="store_true", help="show progress until the round ends")
    start.add_argument(
        "--timeout", type=_positive(float), help="with --wait: give up waiting after this many seconds"
    )
    start.add_argument(
        "--interval",
        type=_positive(float),
        default=2.0,
        help="with --wait: seconds between progress checks (default 2)",
    )
    _add_target_arguments(start, json_output=False)

    report = _command(
        commands,
        "report",
        "write the lineage's HTML report (loss curves, primary metric, dataset sizes, history)",
        ["iterft report support-bot --out out/report --env dev"],
        _report,
    )
    report.add_argument("lineage")
    report.add_argument("--out", required=True, help="directory for index.html and its PNG charts")
    _add_target_arguments(report, json_output=False)

    repair = _command(
        commands,
        "repair",
        "run the stack's reconciler for one lineage now: release a lock an ended execution holds, delete "
        "what no round records or uses, report a serving pointer that disagrees (recorded and notified)",
        ["iterft repair support-bot --dry-run --env prod", "iterft repair support-bot --env prod"],
        _repair,
    )
    repair.add_argument("lineage")
    repair.add_argument("--dry-run", action="store_true", help="say what would be repaired; change nothing")
    _add_target_arguments(repair, json_output=False)

    resume = _command(
        commands,
        "resume",
        "clear a converged lineage and start its queued uploads",
        ["iterft resume support-bot --env dev"],
        _resume,
    )
    resume.add_argument("lineage")
    _add_target_arguments(resume, json_output=False)

    rollback = _command(
        commands,
        "rollback",
        "serve an earlier promoted iteration's model again (recorded in the history)",
        ['iterft rollback support-bot --to 3 --reason "iteration 5 answers in the wrong tone" --env prod'],
        _rollback,
    )
    rollback.add_argument("lineage")
    rollback.add_argument(
        "--to", type=_positive(int), required=True, metavar="ITERATION", help="a promoted iteration"
    )
    rollback.add_argument(
        "--reason", type=_reason, required=True, help="why: recorded in the history and notified"
    )
    _add_target_arguments(rollback, json_output=False)

    withdraw = _command(
        commands,
        "withdraw",
        "take a queued upload out of the lineage's queue: recorded as withdrawn, never trained",
        [
            'iterft withdraw support-bot --upload incoming/support-bot/round-7.jsonl --reason "wrong export"',
            "iterft withdraw support-bot --upload 'incoming/support-bot/r7.jsonl?versionId=V' --reason dup",
        ],
        _withdraw,
    )
    withdraw.add_argument("lineage")
    withdraw.add_argument(
        "--upload",
        required=True,
        metavar="KEY[?versionId=V]",
        help="the queued object's key under incoming/ (or its s3:// URI); ?versionId= names one version",
    )
    withdraw.add_argument(
        "--reason", type=_reason, required=True, help="why: recorded with who withdrew it (must not be empty)"
    )
    _add_target_arguments(withdraw, json_output=False)

    approve = _command(
        commands,
        "approve",
        "promote a candidate that waits for approval",
        ['iterft approve support-bot 7 --env prod --reason "spot-checked 20 answers"'],
        _approve,
    )
    approve.add_argument("lineage")
    approve.add_argument("iteration", type=_positive(int))
    approve.add_argument("--reason", type=_reason, default="approved", help="recorded with the approval")
    _add_target_arguments(approve, json_output=False)

    reject = _command(
        commands,
        "reject",
        "turn down a candidate that waits for approval",
        ['iterft reject support-bot 7 --reason "leaks ticket ids" --env prod'],
        _reject,
    )
    reject.add_argument("lineage")
    reject.add_argument("iteration", type=_positive(int))
    reject.add_argument(
        "--reason", type=_reason, required=True, help="why: recorded in the history and notified"
    )
    _add_target_arguments(reject, json_output=False)

    doctor = _command(
        commands,
        "doctor",
        "preflight: credentials, CDK bootstrap, stack version, per lineage model, access, quotas, evaluation "
        "set, subscriptions, last errors (read-only; exit 1 when a check fails)",
        ["iterft doctor --env dev", "iterft doctor support-bot --stack iterft-prod --region us-east-1"],
        _doctor,
    )
    doctor.add_argument("lineage", nargs="*", help="check only these lineages (default: all)")
    _add_target_arguments(doctor)

    smoke = _command(
        commands,
        "smoke",
        "the smallest honest round (minimum records, one epoch): estimate, confirm, upload, wait, inventory",
        [
            "iterft smoke --env smoke",
            "iterft smoke --local",
            "iterft smoke --env dev --lineage support-bot --yes",
        ],
        _smoke,
    )
    smoke.add_argument("--lineage", default="smoke", help="the lineage to run it on (default: smoke)")
    smoke.add_argument("--data", help="a small training file instead of the example records")
    smoke.add_argument("--yes", action="store_true", help="start without asking for confirmation")
    smoke.add_argument("--local", action="store_true", help="on a fresh embedded default (config/smoke.yaml)")
    smoke.add_argument("--timeout", type=_positive(float), help="give up waiting after this many seconds")
    _add_target_arguments(smoke, json_output=False)
    return parser


def _aws_errors() -> tuple[type[Exception], ...]:
    """botocore's errors, for `except`: none when no command imported botocore (nothing can raise them)."""
    exceptions = sys.modules.get("botocore.exceptions")
    return (exceptions.BotoCoreError, exceptions.ClientError) if exceptions is not None else ()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rich.console import Console

    try:
        return int(args.run(args, Console(soft_wrap=True, highlight=False)))
    except _UsageError as error:
        _error(f"iterft {args.command}: {error}")
        return EXIT_USAGE
    except target.TargetError as error:
        _error(f"iterft {args.command}: {error}")
    except _aws_errors() as error:
        _error(f"iterft {args.command}: {target.describe_aws_error(error)}")
    except KeyboardInterrupt:
        _error(f"iterft {args.command}: interrupted")
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
