"""What every command shares: exit codes, the one-line errors, the target arguments, table output."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from iterft import target

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A bad argument found after parsing (a file that cannot be read, a folder that cannot be
    written): one line on stderr and exit 2."""


def print_error(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True, highlight=False).print(message, style="red", markup=False)


def stack_name(args: argparse.Namespace) -> str:
    if args.endpoint_url:
        # The runtime's data-access layer builds its clients from boto3's defaults.
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    return str(args.stack or f"iterft-{args.env}")


def deployment_of(args: argparse.Namespace) -> target.Deployment:
    return target.resolve(stack_name(args), region=args.region, endpoint_url=args.endpoint_url)


def fmt(value: Any, digits: int = 4) -> str:
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


def elapsed(since: str | None) -> str:
    """How long ago a registry timestamp was, as `1h 2m`, `3m 4s` or `5s`."""
    if not since:
        return "?"
    seconds = max(0, int((datetime.now(UTC) - datetime.fromisoformat(since)).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


def positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def non_empty_reason(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty (it is recorded in the history and notified)")
    return text


def endpoint_url_type(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL (from --endpoint-url or AWS_ENDPOINT_URL): "
            "give the scheme too, e.g. http://127.0.0.1:PORT"
        )
    return text


def add_target_arguments(parser: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--env", default="dev", help="environment whose stack to use (stack iterft-ENV)")
    where.add_argument("--stack", help="stack name, instead of --env")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration)")
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        type=endpoint_url_type,
        help="AWS endpoint, e.g. the embedded default's http://127.0.0.1:PORT",
    )
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON")


def command(
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
