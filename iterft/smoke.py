"""`iterft smoke` (`make smoke ENV=...`): the smallest honest round an account allows, to prove it.

The dataset is the minimum record count of the lineage's model family (8 for Nova Micro, the cheapest
fine-tunable model of the capability table) taken from the example lineage, trained for one epoch, and
evaluated on the cheapest capacity the model has in the region (an on-demand deployment where there is
one). Before anything is uploaded it runs the doctor's checks for the lineage, prints the project's own
cost estimate (`logic/cost.py`) and asks for confirmation (`--yes` skips it); then it uploads, waits with
progress, reports the decision and lists what is left that could be billed by the hour. `--local` runs
the same on the embedded default (config/smoke.yaml), where nothing is billed and nothing is asked.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from iterft_runtime import naming
from iterft_runtime.logic.cost import PROVISIONED, RoundCost, estimate_round_cost
from iterft_runtime.logic.lines import split_lines
from iterft_runtime.logic.validation import ValidationReport, validate_lines
from iterft_runtime.models.capacity import CapacityKind
from iterft_runtime.models.lineage import LineageConfig
from rich.console import Console

from iterft import doctor, target
from iterft.doctor_checks import FAILED
from iterft.history import lineage_config, lineage_status
from iterft.summary import bedrock_inventory, left_behind

SMOKE_ENVIRONMENT = "smoke"
SMOKE_LINEAGE = "smoke"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "support-bot"
EXAMPLE_DATA = EXAMPLES / "round-1-billing.jsonl"
EXAMPLE_EVALUATION_SET = EXAMPLES / "eval.jsonl"
EPOCHS = 1
EVALUATION_HOURS = 1.0
"""How long the estimate assumes provisioned evaluation capacity lives (it is deleted once decided)."""
DECIDED = {"promoted", "rejected"}
CAPACITY_TEXT = {
    CapacityKind.DEPLOYMENT: "an on-demand deployment",
    CapacityKind.PROVISIONED: "provisioned throughput",
}


class SmokeError(RuntimeError):
    """The smoke round cannot start; the message says what to do."""


def smoke_dataset(config: LineageConfig, data: Path | None) -> bytes:
    """The given file, else the first `min_records` records of the example lineage's data (Nova's format)."""
    if data is not None:
        return data.read_bytes()
    family = config.model_family()
    lines = EXAMPLE_DATA.read_bytes().splitlines(keepends=True)
    if family.name != "nova" or len(lines) < family.min_records:
        raise SmokeError(
            f"no example data for family {family.name} ({family.min_records}+ records): pass --data FILE"
        )
    return b"".join(lines[: family.min_records])


def estimate(
    config: LineageConfig, body: bytes, region: str, now: datetime
) -> tuple[ValidationReport, RoundCost, CapacityKind | None]:
    """The dataset's validation report and the round's cost estimate, one epoch, evaluation capacity as
    the pipeline would create it (provisioned: one model unit for EVALUATION_HOURS)."""
    family = config.model_family()
    report = validate_lines(split_lines([body]), family, declared_size=len(body))
    row = config.model_capabilities()
    capacity = row.evaluation_capacity(region) if row else None
    created = (now - timedelta(hours=EVALUATION_HOURS)).isoformat()
    evaluation = (
        [{"kind": PROVISIONED, "model_units": 1, "created_at": created}]
        if capacity is CapacityKind.PROVISIONED
        else []
    )
    doc = {
        "validation": {"valid": report.valid, "estimated_tokens": report.estimated_tokens},
        "round": {"hyperparameters": {"epochCount": str(EPOCHS)}},
        "capacity": {"evaluation": evaluation},
    }
    return report, estimate_round_cost(doc, config.cost, family, now), capacity


def _dollars(value: float | None, unset: str) -> str:
    return f"${value:.4f}" if value is not None else f"no price set ({unset})"


def _print_estimate(console: Console, cost: RoundCost, capacity: CapacityKind | None) -> None:
    console.print(
        f"estimate: training {cost.training_tokens:,} tokens x {cost.epochs} epoch: "
        f"{_dollars(cost.training_usd, 'cost.training_usd_per_1k_tokens')}",
        markup=False,
    )
    if capacity is CapacityKind.PROVISIONED:
        console.print(
            f"estimate: evaluation on 1 no-commitment model unit for about {EVALUATION_HOURS:g} h: "
            f"{_dollars(cost.capacity_usd, 'cost.evaluation_capacity_usd_per_hour')}",
            markup=False,
        )
    else:
        console.print(
            "estimate: evaluation on an on-demand deployment: no hourly charge, inference per token"
        )
    console.print(
        "also billed: the evaluation calls by the token, and each custom model's monthly storage "
        "while it exists",
        markup=False,
    )


def _ensure_evaluation_set(deployment: target.Deployment, lineage: str, console: Console) -> None:
    """The example set, only where the lineage has none (an existing yardstick is never replaced)."""
    s3, key = deployment.client("s3"), naming.evaluation_set_key(lineage)
    try:
        s3.head_object(Bucket=deployment.bucket_name, Key=key)
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
            raise
        s3.put_object(Bucket=deployment.bucket_name, Key=key, Body=EXAMPLE_EVALUATION_SET.read_bytes())
        console.print(
            f"evaluation set: none yet, uploaded {EXAMPLE_EVALUATION_SET.name} to s3://{deployment.bucket_name}/{key}"
        )


def _confirmed(console: Console) -> bool:
    if not sys.stdin.isatty():
        raise SmokeError("not a terminal: pass --yes to start the round without asking")
    console.print("start this round? [y/N] ", end="", markup=False)
    return input().strip().lower() in ("y", "yes")


def smoke_round(
    deployment: target.Deployment,
    lineage: str,
    console: Console,
    *,
    data: Path | None = None,
    ask: bool = True,
    timeout: float | None = None,
    interval: float = 5.0,
) -> int:
    """Preflight, estimate, confirm, upload, wait, report; 0 when the round was decided and nothing but
    the serving capacity is left."""
    from iterft.commands.steer import wait_for_round

    config = lineage_config(deployment, lineage)
    region = deployment.client("s3").meta.region_name
    _ensure_evaluation_set(deployment, lineage, console)
    checks = doctor.diagnose(
        deployment.stack_name, region=region, endpoint_url=deployment.endpoint_url, lineages=[lineage]
    )
    for check in checks:
        console.print(check.line(), markup=False, style="red" if check.status == FAILED else None)
    if any(check.status == FAILED for check in checks):
        raise SmokeError("the preflight failed (above): fix what it names, then run the smoke round again")
    body = smoke_dataset(config, data)
    report, cost, capacity = estimate(config, body, region, datetime.now(UTC))
    if not report.valid:
        raise SmokeError(f"the smoke dataset is invalid: {report.summary()}")
    console.print(
        f"smoke round: {lineage} ({config.base_model}), {report.records} records, {EPOCHS} epoch, "
        f"evaluation on {CAPACITY_TEXT.get(capacity, 'nothing') if capacity else 'nothing'}",
        markup=False,
    )
    _print_estimate(console, cost, capacity)
    if ask and not _confirmed(console):
        console.print("not started")
        return 1
    key = f"{naming.incoming_prefix(lineage)}smoke-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.jsonl"
    put = deployment.client("s3").put_object(
        Bucket=deployment.bucket_name, Key=key, Body=body, Metadata={"hp-epochCount": str(EPOCHS)}
    )
    uri = f"s3://{deployment.bucket_name}/{key}"
    version = put.get("VersionId")
    console.print(f"uploaded {uri}", markup=False)
    dataset = f"{uri}?versionId={quote(version, safe='')}" if version else uri
    progress = wait_for_round(deployment, lineage, dataset, console, timeout=timeout, interval=interval)
    console.print(
        f"{lineage} #{progress.iteration or '-'}: {progress.decision}"
        + (f": {progress.reason}" if progress.reason else ""),
        markup=False,
    )
    inventory = bedrock_inventory(deployment.client("bedrock"))
    leftovers = left_behind(lineage_status(deployment), inventory)
    for leftover in leftovers:
        console.print(f"left behind: {leftover} serves no lineage: delete it", style="red", markup=False)
    if not leftovers:
        serving = [f"{item['kind']} {item['name']}" for item in inventory]
        console.print(
            f"inventory: nothing billable by the hour but what serves ({', '.join(serving) or 'nothing'})"
        )
    return 0 if progress.decision in DECIDED and not leftovers else 1


def run(
    args: argparse.Namespace, console: Console, deployment_of: Callable[[argparse.Namespace], Any]
) -> int:
    """`iterft smoke`: on the deployment of --env/--stack, or on a fresh embedded default (--local)."""
    data = Path(args.data) if args.data else None
    if not args.local:
        return smoke_round(
            deployment_of(args), args.lineage, console, data=data, ask=not args.yes, timeout=args.timeout
        )
    from iterft.demo import route_interpreter_logs
    from iterft.local.session import LocalSession

    warnings.filterwarnings("ignore", "Tried to parse AWS::", UserWarning)  # moto's CloudFormation skips
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    route_interpreter_logs(Path("out/smoke/moto.log"))
    console.print("embedded default: deploying config/smoke.yaml (no AWS account; nothing is billed)")
    with LocalSession.start(SMOKE_ENVIRONMENT) as session:
        subscribe_operator_queue(session)
        return smoke_round(
            session.deployment,
            args.lineage,
            console,
            data=data,
            ask=False,
            timeout=args.timeout,
            interval=0.2,
        )


def subscribe_operator_queue(session: Any, name: str = "iterft-smoke-operator") -> None:
    """On the embedded default the operator listens on a queue (a confirmed subscription), as a team
    would confirm its e-mail subscription on AWS."""
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    session.client("sns").subscribe(TopicArn=session.deployment.topic_arn, Protocol="sqs", Endpoint=arn)
