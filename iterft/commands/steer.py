"""What operators change: `iterft start` (and waiting for its round), `resume`, `rollback`,
`withdraw`, `approve`, `reject`, `repair`."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from iterft import target
from iterft.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_target_arguments,
    command,
    deployment_of,
    elapsed,
    non_empty_reason,
    positive,
    print_error,
)

if TYPE_CHECKING:
    from rich.console import Console

    from iterft.history import RoundProgress


def _repair(args: argparse.Namespace, console: Console) -> int:
    """A missing serving pointer put back (iterft/retire.restore_pointer), then one line per repair the
    reconciler made (or would make); exit 1 when one of them failed."""
    from iterft.history import lineage_config
    from iterft.repair import repair_lineage
    from iterft.retire import restore_pointer

    deployment = deployment_of(args)
    restored = restore_pointer(deployment, lineage_config(deployment, args.lineage), dry_run=args.dry_run)
    if restored:
        console.print(restored, markup=False)
    outcomes = repair_lineage(deployment, args.lineage, dry_run=args.dry_run)
    if not outcomes and not restored:
        console.print(f"{args.lineage}: nothing to repair", markup=False)
    prefix = "would repair " if args.dry_run else ""
    for outcome in outcomes:
        console.print(prefix + outcome.line(), markup=False)
    return EXIT_FAILED if any(outcome.error for outcome in outcomes) else EXIT_OK


def _resume(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import resume_lineage

    deployment = deployment_of(args)
    queued = resume_lineage(deployment, args.lineage)
    console.print(f"{args.lineage}: resumed; {queued} queued upload(s) start in upload order", markup=False)
    return EXIT_OK


def _rollback(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import rollback_lineage

    iteration = rollback_lineage(deployment_of(args), args.lineage, args.to, args.reason)
    console.print(
        f"{args.lineage}: rollback to #{args.to} started as iteration #{iteration}; the serving pointer "
        "moves once the model is in service (iterft status / iterft history)",
        markup=False,
    )
    return EXIT_OK


def _withdraw(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import withdraw_upload

    record = withdraw_upload(deployment_of(args), args.lineage, args.upload, args.reason)
    console.print(
        f"{args.lineage}: withdrew {record.dataset.s3_uri}; it will not be trained "
        f"(iterft history {args.lineage} --uploads)",
        markup=False,
    )
    return EXIT_OK


def _approve(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import answer_review

    answer_review(deployment_of(args), args.lineage, args.iteration, approved=True, reason=args.reason)
    console.print(f"{args.lineage} #{args.iteration}: approved; the candidate will be promoted", markup=False)
    return EXIT_OK


def _reject(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import answer_review

    answer_review(deployment_of(args), args.lineage, args.iteration, approved=False, reason=args.reason)
    console.print(
        f"{args.lineage} #{args.iteration}: rejected; the candidate will be discarded", markup=False
    )
    return EXIT_OK


_DECIDED = {"promoted", "rejected"}


def _start(args: argparse.Namespace, console: Console) -> int:
    from iterft.control import start_round

    deployment = deployment_of(args)
    dataset = start_round(deployment, args.lineage, args.data, strategy=args.strategy)
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
        print_error(
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
                line = f"{lineage}: queued ({elapsed(requested)})"
            else:
                step = progress.step or "starting"
                line = f"{lineage} #{progress.iteration}: {step} ({elapsed(progress.started_at)})"
            if console.is_terminal:
                spinner.update(line)
            elif (progress.iteration, progress.decision, progress.step) != shown:
                console.print(line, markup=False)
            shown = (progress.iteration, progress.decision, progress.step)
            if deadline is not None and time.monotonic() > deadline:
                return progress
            time.sleep(interval)


def register(commands: Any) -> None:
    """The subcommands' parsers."""
    start = command(
        commands,
        "start",
        "run a round on a file already in the data bucket (through the same queue as uploads)",
        [
            "iterft start support-bot --data s3://DATA_BUCKET/incoming/billing-bot/round-3.jsonl --wait",
            "iterft start support-bot --data 's3://DATA_BUCKET/incoming/other-bot/r3.jsonl?versionId=V'",
            "iterft start billing-distilled --data s3://DATA_BUCKET/incoming/billing-distilled/fixes.jsonl "
            "--strategy fine_tuning",
        ],
        _start,
    )
    start.add_argument("lineage")
    start.add_argument(
        "--data",
        required=True,
        help="s3://BUCKET/incoming/.../FILE.jsonl in the stack's data bucket (?versionId= pins a version)",
    )
    start.add_argument(
        "--strategy",
        help="the round's training strategy, as docs/strategies.md names it (default: the upload's "
        "x-amz-meta-strategy, else the lineage's default)",
    )
    start.add_argument("--wait", action="store_true", help="show progress until the round ends")
    start.add_argument(
        "--timeout", type=positive(float), help="with --wait: give up waiting after this many seconds"
    )
    start.add_argument(
        "--interval",
        type=positive(float),
        default=2.0,
        help="with --wait: seconds between progress checks (default 2)",
    )
    add_target_arguments(start, json_output=False)

    repair = command(
        commands,
        "repair",
        "run the stack's reconciler for one lineage now: release a lock an ended execution holds, delete "
        "what no round records or uses, report a serving pointer that disagrees (recorded and notified)",
        ["iterft repair support-bot --dry-run --env prod", "iterft repair support-bot --env prod"],
        _repair,
    )
    repair.add_argument("lineage")
    repair.add_argument("--dry-run", action="store_true", help="say what would be repaired; change nothing")
    add_target_arguments(repair, json_output=False)

    resume = command(
        commands,
        "resume",
        "clear a converged lineage and start its queued uploads",
        ["iterft resume support-bot --env dev"],
        _resume,
    )
    resume.add_argument("lineage")
    add_target_arguments(resume, json_output=False)

    rollback = command(
        commands,
        "rollback",
        "serve an earlier promoted iteration's model again (recorded in the history)",
        ['iterft rollback support-bot --to 3 --reason "iteration 5 answers in the wrong tone" --env prod'],
        _rollback,
    )
    rollback.add_argument("lineage")
    rollback.add_argument(
        "--to", type=positive(int), required=True, metavar="ITERATION", help="a promoted iteration"
    )
    rollback.add_argument(
        "--reason", type=non_empty_reason, required=True, help="why: recorded in the history and notified"
    )
    add_target_arguments(rollback, json_output=False)

    withdraw = command(
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
        "--reason",
        type=non_empty_reason,
        required=True,
        help="why: recorded with who withdrew it (must not be empty)",
    )
    add_target_arguments(withdraw, json_output=False)

    approve = command(
        commands,
        "approve",
        "promote a candidate that waits for approval",
        ['iterft approve support-bot 7 --env prod --reason "spot-checked 20 answers"'],
        _approve,
    )
    approve.add_argument("lineage")
    approve.add_argument("iteration", type=positive(int))
    approve.add_argument(
        "--reason", type=non_empty_reason, default="approved", help="recorded with the approval"
    )
    add_target_arguments(approve, json_output=False)

    reject = command(
        commands,
        "reject",
        "turn down a candidate that waits for approval",
        ['iterft reject support-bot 7 --reason "leaks ticket ids" --env prod'],
        _reject,
    )
    reject.add_argument("lineage")
    reject.add_argument("iteration", type=positive(int))
    reject.add_argument(
        "--reason", type=non_empty_reason, required=True, help="why: recorded in the history and notified"
    )
    add_target_arguments(reject, json_output=False)
