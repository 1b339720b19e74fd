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
    iterft gaps LINEAGE [--weakest N] [--examples N] [--window N] [--env ENV | --stack NAME] [--json]
    iterft report LINEAGE --out DIR [--env ENV | --stack NAME]
    iterft doctor [LINEAGE...] [--env ENV | --stack NAME] [--json]
    iterft smoke [--lineage NAME] [--yes] [--env ENV | --stack NAME | --local]
    iterft repair LINEAGE [--dry-run] [--env ENV | --stack NAME]
    iterft curate LINEAGE [--since YYYY-MM-DD] [--dry-run] [--env ENV | --stack NAME] [--json]
    iterft feedback LINEAGE (--file FILE | --request-id ID --rating 1-5 [--corrected-answer TEXT])
        [--check] [--env ENV | --stack NAME]

Exit codes: 0 success (for validate: the file is valid; for start --wait: the round was
decided), 1 invalid data, a failed round or a failed lookup (unknown lineage, no stack,
missing or expired credentials: one line on stderr, never a traceback), 2 a usage error.
Commands that read a deployment find it through its stack's outputs, in a real account
(standard AWS profile and region resolution) or on the embedded default (--endpoint-url).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from botocore.exceptions import BotoCoreError, ClientError

from iterft import target
from iterft.commands import flywheel, operate, read, steer, validate
from iterft.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, print_error

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

# Each command (iterft/commands/) imports what it uses (rich, the AWS SDK through iterft.history and
# iterft.control, matplotlib through iterft.report) when it runs, so `iterft --help` and `iterft validate`
# start at once: tests/unit/test_cli_imports.py keeps these modules light, `make bench` times it.


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr (which command, what is wrong, where to look), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


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
    for group in (validate, read, steer, operate, flywheel):
        group.register(commands)
    return parser


def _aws_errors() -> tuple[type[BotoCoreError] | type[ClientError], ...]:
    """botocore's errors, for `except`: none when no command imported botocore (nothing can raise them)."""
    exceptions = sys.modules.get("botocore.exceptions")
    return (exceptions.BotoCoreError, exceptions.ClientError) if exceptions is not None else ()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rich.console import Console

    try:
        return int(args.run(args, Console(soft_wrap=True, highlight=False)))
    except UsageError as error:
        print_error(f"iterft {args.command}: {error}")
        return EXIT_USAGE
    except target.TargetError as error:
        print_error(f"iterft {args.command}: {error}")
    except _aws_errors() as error:
        print_error(f"iterft {args.command}: {target.describe_aws_error(error)}")
    except KeyboardInterrupt:
        print_error(f"iterft {args.command}: interrupted")
    except BrokenPipeError:  # the reader stopped early (`| head`): nothing to say, and no traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
