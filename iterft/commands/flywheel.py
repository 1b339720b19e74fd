"""The flywheel (docs/flywheel.md): `iterft curate` (live traffic and feedback made into the next round's
data, or a dry run saying what it would take and why) and `iterft feedback` (a rating or a corrected answer
for a logged call, or a feedback file, checked here first: every problem with its line, nothing written
until the whole file is valid)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from iterft.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_target_arguments,
    command,
    deployment_of,
    print_error,
)

if TYPE_CHECKING:
    from rich.console import Console

MAX_SHOWN_CHOICES = 40
"""Choices a dry run prints one a line (--json has every one the result lists)."""
_OUTCOMES = ("fine_tuning", "distillation", "dropped")


def _curate(args: argparse.Namespace, console: Console) -> int:
    from iterft.flywheel import curate

    result = curate(deployment_of(args), args.lineage, since=args.since, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    for line in curation_lines(result):
        console.print(line, markup=False)
    return EXIT_OK


def curation_lines(result: dict[str, Any]) -> list[str]:
    """What `iterft curate` prints: where it read, what it found, what it took and why, what it wrote."""
    lineage = result["lineage"]
    counts = result.get("counts") or {}
    lines = [
        f"{lineage}: {'dry run: ' if result['dry_run'] else ''}{result['logged_calls']} logged calls in "
        f"{result['log_objects']} log objects under {result['log_location']} "
        f"({result['since']}..{result['until']}), {result['lineage_calls']} of them the lineage's",
        "taken: " + ", ".join(f"{counts.get(outcome, 0)} {outcome}" for outcome in _OUTCOMES),
    ]
    if result.get("prefer"):
        lines.append("categories preferred (weakest first): " + ", ".join(result["prefer"]))
    for feedback in result.get("feedback_files") or []:
        lines.append(f"feedback {feedback['uri']}: {feedback['summary']}")
    problems = result.get("problems") or []
    for problem in problems:
        lines.append(f"problem: {problem}")
    if result.get("problem_count", 0) > len(problems):
        lines.append(f"... {result['problem_count'] - len(problems)} more problem(s)")
    if result["dry_run"]:
        choices = result.get("choices") or []
        for choice in choices[:MAX_SHOWN_CHOICES]:
            lines.append(
                f"  {choice['outcome']:<12} [{choice['category']}] {choice['question']!r}: {choice['reason']}"
            )
        if len(choices) > MAX_SHOWN_CHOICES:
            lines.append(f"  ... {len(choices) - MAX_SHOWN_CHOICES} more (--json lists them)")
    lines += [f"note: {note}" for note in result.get("notes") or []]
    for written in result.get("written") or []:
        lines.append(
            f"wrote {written['uri']}: {written['records']} {written['strategy']} records; "
            f"the round starts when the lineage is idle (iterft status {lineage})"
        )
    if result.get("redacted"):
        lines.append(f"personal data replaced in {result['redacted']} text(s) (Amazon Comprehend)")
    if result["dry_run"]:
        lines.append("dry run: nothing was written")
    elif not result.get("written"):
        lines.append("nothing written: no round starts")
    return lines


def _read_lines(path: str) -> list[bytes]:
    if path == "-":
        return sys.stdin.buffer.read().splitlines()
    try:
        with open(path, "rb") as file:
            return file.read().splitlines()
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None


def _feedback(args: argparse.Namespace, console: Console) -> int:
    from iterft_runtime.logic.feedback import Feedback, check_feedback

    if args.file is not None:
        if args.request_id is not None or args.rating is not None:
            raise UsageError("give either --file or --request-id with --rating, not both")
        report = check_feedback(_read_lines(args.file))
        name = "standard input" if args.file == "-" else args.file
    else:
        if args.request_id is None or args.rating is None:
            raise UsageError("give --request-id and --rating (or --file)")
        record = Feedback(args.request_id, args.rating, args.corrected_answer, args.category, args.comment)
        report = check_feedback([json.dumps(record.to_dict())])
        name = "the feedback"
    if not report.valid:
        problems = report.problems or [(0, "no feedback records")]
        for line, message in problems:
            where = f"{name} line {line}" if line and args.file is not None else name
            print_error(f"{where}: {message}")
        print_error(f"iterft feedback: {len(problems)} problem(s); nothing was written")
        return EXIT_FAILED
    if args.check:
        console.print(f"{report.summary()}, valid (--check: nothing written)", markup=False)
        return EXIT_OK
    from iterft.flywheel import put_feedback

    uri = put_feedback(deployment_of(args), args.lineage, report.records)
    console.print(
        f"{args.lineage}: wrote {report.summary()} to {uri}; the next curation uses them", markup=False
    )
    return EXIT_OK


def _rating(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (1 to 5)") from None


def register(commands: Any) -> None:
    """The subcommands' parsers."""
    curate = command(
        commands,
        "curate",
        "make the lineage's live traffic (Bedrock invocation logs) and feedback into its next round's data, "
        "written under incoming/LINEAGE/ so the round starts like an upload; --dry-run says what it would "
        "take and why and changes nothing",
        [
            "iterft curate support-bot --dry-run --env dev",
            "iterft curate support-bot --since 2026-12-01 --env dev",
        ],
        _curate,
    )
    curate.add_argument("lineage")
    curate.add_argument(
        "--since", help="read the logs from this day (YYYY-MM-DD; default: the lineage's lookback_days)"
    )
    curate.add_argument(
        "--dry-run", action="store_true", help="print what would be taken and why; write nothing"
    )
    add_target_arguments(curate)

    feedback = command(
        commands,
        "feedback",
        "record feedback on a logged answer (a rating 1-5, optionally the corrected answer) or upload a "
        "feedback file (docs/flywheel.md), checked first: every problem with its line, nothing written "
        "unless all is valid",
        [
            "iterft feedback support-bot --request-id REQ --rating 2 --corrected-answer 'Go to Billing.'",
            "iterft feedback support-bot --file reviews.jsonl --env dev",
            "iterft feedback support-bot --file reviews.jsonl --check",
        ],
        _feedback,
    )
    feedback.add_argument("lineage")
    feedback.add_argument("--file", help="a feedback file (JSON Lines; - reads standard input)")
    feedback.add_argument("--request-id", help="the logged call's requestId")
    feedback.add_argument("--rating", type=_rating, help="1 (wrong) to 5 (exactly right)")
    feedback.add_argument("--corrected-answer", help="what the answer should have been")
    feedback.add_argument("--category", help="the evaluation category the question belongs to")
    feedback.add_argument("--comment", help="a note for the team (not trained on)")
    feedback.add_argument("--check", action="store_true", help="only check; write nothing")
    add_target_arguments(feedback, json_output=False)
