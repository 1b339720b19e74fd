"""Operating a deployment: `iterft doctor` (the preflight), `iterft smoke` (the smallest honest round),
`iterft retire` (a lineage out of service for good)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from iterft.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_target_arguments,
    command,
    deployment_of,
    non_empty_reason,
    positive,
    print_error,
    stack_name,
)

if TYPE_CHECKING:
    from rich.console import Console


def _doctor(args: argparse.Namespace, console: Console) -> int:
    from iterft import doctor  # the stack's version digest and every check's client: this command only

    stack = stack_name(args)
    return doctor.report(stack, args.region, args.endpoint_url, args.lineage, console, as_json=args.json)


def _smoke(args: argparse.Namespace, console: Console) -> int:
    from iterft import smoke  # and, with --local, the whole embedded default

    try:
        return smoke.run(args, console, deployment_of)
    except smoke.SmokeError as error:
        print_error(f"iterft smoke: {error}")
        return EXIT_FAILED


def _retire(args: argparse.Namespace, console: Console) -> int:
    from iterft.retire import plan_retirement, retire_lineage

    deployment = deployment_of(args)
    plan = plan_retirement(deployment, args.lineage)
    if plan.retired_at:
        console.print(f"{args.lineage}: retired on {plan.retired_at}; finishing what is left", markup=False)
    for line in plan.plan_lines():
        console.print(line, markup=False)
    if not args.yes:
        console.print(f"retire {args.lineage} for good? [y/N] ", end="", markup=False)
        try:
            answer = input()
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print_error(f"iterft retire: {args.lineage} not retired (confirm, or pass --yes)")
            return EXIT_FAILED
    done = retire_lineage(deployment, plan, args.reason)
    console.print(f"{args.lineage}: retired on {done.retired_at} by {done.retired_by}", markup=False)
    if done.configured:
        console.print(
            f"{args.lineage} is still in the config: remove it and deploy "
            "(until then its uploads are refused)",
            markup=False,
        )
    return EXIT_OK


def register(commands: Any) -> None:
    """The subcommands' parsers."""
    doctor = command(
        commands,
        "doctor",
        "preflight: credentials, CDK bootstrap, stack version, per lineage model, access, quotas, evaluation "
        "set, subscriptions, last errors (read-only; exit 1 when a check fails)",
        ["iterft doctor --env dev", "iterft doctor support-bot --stack iterft-prod --region us-east-1"],
        _doctor,
    )
    doctor.add_argument("lineage", nargs="*", help="check only these lineages (default: all)")
    add_target_arguments(doctor)

    smoke = command(
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
    smoke.add_argument("--timeout", type=positive(float), help="give up waiting after this many seconds")
    add_target_arguments(smoke, json_output=False)

    retire = command(
        commands,
        "retire",
        "take a lineage out of service for good: delete its serving capacity and serving pointer, refuse "
        "its uploads (refused while a round runs or uploads are queued; the registry keeps its history)",
        ['iterft retire old-bot --reason "replaced by support-bot" --env prod'],
        _retire,
    )
    retire.add_argument("lineage")
    retire.add_argument(
        "--reason",
        type=non_empty_reason,
        required=True,
        help="why: recorded in the registry with who retired it",
    )
    retire.add_argument("--yes", action="store_true", help="retire without asking for confirmation")
    add_target_arguments(retire, json_output=False)
