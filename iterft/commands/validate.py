"""`iterft validate`: check a training file before uploading it (no AWS SDK, no matplotlib)."""

from __future__ import annotations

import argparse
import json
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from iterft_runtime.models.families import FAMILIES
from iterft_runtime.models.strategy_names import Strategy

from iterft.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, command, print_error

if TYPE_CHECKING:
    from iterft_runtime.logic.validation import ValidationReport
    from rich.console import Console

READ_CHUNK = 64 * 1024
"""Bytes read at a time. A 1 MiB read buffer was fresh memory for the first several reads (page
faults: a few milliseconds of system time a file, a tenth of validating 16 MB); 64 KiB ones are
reused (split_lines joins a line across reads)."""


def file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(READ_CHUNK):
        yield chunk


def open_input(name: str) -> tuple[BinaryIO, str, int | None]:
    """The file to validate (`-`: standard input), the name to show and its size when known.

    Directories, devices (/dev/null) and sockets are refused; a named pipe (`<(zcat data.gz)`) streams.
    """
    if name == "-":
        return sys.stdin.buffer, "<stdin>", None
    path = Path(name)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{path} is a directory, not a file")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise UsageError(
            f"{path} is a device or socket, not a file (give a JSONL file, or - for standard input)"
        )
    try:
        handle = path.open("rb")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    return handle, str(path), path.stat().st_size if stat.S_ISREG(mode) else None


def print_report(report: ValidationReport, name: str, console: Console) -> None:
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


def run(args: argparse.Namespace, console: Console) -> int:
    from iterft_runtime.logic.lines import split_lines
    from iterft_runtime.logic.validation import validate_lines
    from iterft_runtime.logic.validation_strategies import strategy_problem
    from iterft_runtime.models import capabilities
    from iterft_runtime.models.capabilities import UnknownModelError
    from iterft_runtime.models.families import ModelFamily, family_for_model, family_named

    strategy = Strategy(args.strategy)
    try:
        family: ModelFamily = family_named(args.family) if args.family else family_for_model(args.model)
    except UnknownModelError as error:
        print_error(f"iterft validate: {error}")
        return EXIT_USAGE
    row = (capabilities.find(args.model) or capabilities.by_inference_id(args.model)) if args.model else None
    refused = strategy_problem(family, strategy)
    if refused is None and row is not None and strategy.customization_type not in row.customization:
        refused = f"{row.name} cannot be customized by {strategy} (docs/capabilities.md)"
    if refused is not None:
        print_error(f"iterft validate: {refused}")
        return EXIT_USAGE
    handle, name, size = open_input(args.file)
    try:
        report = validate_lines(
            split_lines(file_chunks(handle)),
            family,
            validation_file=args.validation,
            declared_size=size,
            strategy=strategy,
        )
    except OSError as error:  # e.g. EISDIR or EIO mid-read
        raise UsageError(f"cannot read {name}: {error.strerror or error}") from None
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print_report(report, name, console)
    return EXIT_OK if report.valid else EXIT_FAILED


def register(commands: Any) -> None:
    """The subcommands' parsers."""
    validate = command(
        commands,
        "validate",
        "check a training file before uploading it (exit 0 valid, 1 invalid, 2 usage error)",
        [
            "iterft validate data.jsonl --model amazon.nova-micro-v1:0:128k",
            "iterft validate val.jsonl --family nova --validation --json",
            "iterft validate prompts.jsonl --model amazon.nova-micro-v1:0:128k --strategy distillation",
        ],
        run,
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
    validate.add_argument(
        "--strategy",
        choices=[strategy.value for strategy in Strategy],
        default=Strategy.FINE_TUNING.value,
        help="check it as the data of this training strategy (default fine_tuning): distillation "
        "prompts (assistant turns optional), reinforcement chat records with a reference_answer, continued "
        'pre-training {"input": ...} records (docs/dataset-validation.md)',
    )
    validate.add_argument("--validation", action="store_true", help="check as a validation-data file")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
