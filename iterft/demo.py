"""`make demo`: the example lineage through four uploads on the embedded default.

Everything runs through the deployed stack: each file is put under incoming/<lineage>/
and the real chain (S3 -> EventBridge -> SQS -> trigger Lambda -> Step Functions) starts its
round. The first upload runs alone; the other three arrive together and wait their turn.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from iterft.commands.common import print_table
from iterft.commands.read import history_table
from iterft.history import lineage_history, report_data, round_progress
from iterft.local.session import LocalSession
from iterft.report import lineage_breaks, markdown_report, write_report
from iterft.summary import deployment_summary

ENVIRONMENT = "dev"
LINEAGE = "support-bot"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / LINEAGE
UPLOADS = (
    "round-1-billing.jsonl",
    "round-2-storage-and-account.jsonl",
    "round-3-legacy-helpdesk-export.jsonl",
    "round-4-more-phrasings.jsonl",
)
OUT = Path("out/demo")
ROUND_TIMEOUT_SECONDS = 120


class Progress:
    """Prints one line whenever an iteration enters another step of the workflow (read from its
    execution's history, as `iterft status` does), with the time since the round started."""

    def __init__(self, console: Console, session: LocalSession) -> None:
        self.console, self.session = console, session
        self.seen: dict[int, str] = {}
        self.started: dict[int, float] = {}

    def poll(self) -> list[dict[str, Any]]:
        rows = lineage_history(self.session.deployment, LINEAGE)
        for row in rows:
            iteration = row["iteration"]
            started = self.started.setdefault(iteration, time.monotonic())
            progress = round_progress(self.session.deployment, LINEAGE, row["dataset"])
            ended = progress.decision != "running"
            step = progress.decision if ended else progress.step or "starting"
            if self.seen.get(iteration) != step:
                self.seen[iteration] = step
                dataset = (row["dataset"] or "").split("/")[-1].split("?")[0]
                detail = f": {progress.reason}" if ended and progress.reason else ""
                elapsed = time.monotonic() - started
                self.console.print(
                    f"  iteration {iteration} ({dataset}) {elapsed:5.1f} s: {step}{detail}", markup=False
                )
        return rows

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        """Until `count` iterations have ended; the registry is the only thing watched."""
        deadline = time.monotonic() + ROUND_TIMEOUT_SECONDS * count
        while time.monotonic() < deadline:
            rows = self.poll()
            if len(rows) >= count and all(row["decision"] != "running" for row in rows):
                self.session.wait_until_idle(LINEAGE, timeout=ROUND_TIMEOUT_SECONDS)
                return self.poll()
            time.sleep(0.1)
        raise TimeoutError(f"{count} iterations did not end within {ROUND_TIMEOUT_SECONDS * count} s")


INTERPRETER_LOGGERS = ("moto",)
"""moto logs its interpreter's internals at ERROR (e.g. `Exception=NoSuchJsonPathError ... at
'(StringJsonPath|...'` for a path a Choice tests before it exists): the demo sends them to a file."""


def route_interpreter_logs(path: Path) -> logging.Handler:
    """moto's log records go to `path` only, not to the terminal (Python's last-resort handler prints
    WARNING and above to stderr when nothing else handles them). The demo's own lines are printed by
    its console, not logged, so nothing of its progress is hidden."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in INTERPRETER_LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
    return handler


def keep_instructions(endpoint: str, region: str, stack: str) -> list[str]:
    """What to type in another terminal to use `iterft` against the kept embedded default."""
    return [
        f"export AWS_ENDPOINT_URL={endpoint} AWS_DEFAULT_REGION={region} "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
        f".venv/bin/iterft status --stack {stack}",
        f".venv/bin/iterft history {LINEAGE} --stack {stack}",
        f".venv/bin/iterft report {LINEAGE} --out out/demo/report --stack {stack}",
    ]


def _serve_until_interrupted(console: Console, session: LocalSession) -> None:
    """Keep the embedded default (and its in-process Lambdas) running until Ctrl-C."""
    console.rule("the embedded default keeps running; in another terminal:")
    for line in keep_instructions(session.endpoint, session.aws.region, session.deployment.stack_name):
        console.print(f"  {line}", markup=False)
    console.print("Ctrl-C stops it.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        console.print("stopping the embedded default")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iterft.demo",
        description="Four rounds of the example lineage on the embedded default.",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the embedded default running afterwards for iterft commands (make demo KEEP=1)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write the results (default {OUT})")
    args = parser.parse_args(argv)
    out: Path = args.out
    # The handlers run in this process: keep their structured logs to warnings and errors.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # and their metrics' JSON lines off
    console = Console(highlight=False, soft_wrap=True)
    route_interpreter_logs(out / "moto.log")
    started = time.monotonic()
    console.rule("iterft demo: the embedded default (moto on loopback, Bedrock stand-in; no AWS account)")
    with console.status("synthesizing config/dev.yaml and deploying it into the embedded AWS"):
        session = LocalSession.start(ENVIRONMENT)
    try:
        console.print(
            f"stack {session.deployment.stack_name} deployed at {session.endpoint} "
            f"in {time.monotonic() - started:.1f} s"
        )
        session.put_evaluation_set(LINEAGE, EXAMPLES / "eval.jsonl")
        console.print(f"evaluation set: examples/{LINEAGE}/eval.jsonl (the yardstick of every round)")
        progress = Progress(console, session)

        console.print(f"upload 1: {UPLOADS[0]}")
        session.upload(LINEAGE, EXAMPLES / UPLOADS[0])
        progress.wait_for(1)
        console.print(f"uploads 2-4 arrive together: {', '.join(UPLOADS[1:])} (queued, run in upload order)")
        for name in UPLOADS[1:]:
            session.upload(LINEAGE, EXAMPLES / name)
        history = progress.wait_for(len(UPLOADS))

        starting_model = session.config.lineage(LINEAGE).base_model
        print_table(console, history_table(LINEAGE, history))  # at its natural width through a pipe
        out.mkdir(parents=True, exist_ok=True)
        (out / "history.json").write_text(json.dumps({LINEAGE: history}, indent=2) + "\n")
        report = markdown_report(LINEAGE, starting_model, history)
        (out / "report.md").write_text(report)
        targets = [row["iteration"] for row in history if row.get("rollback") == "possible"]
        console.print(
            "rollback possible to iteration "
            + ", ".join(str(n) for n in targets)
            + f" (iterft rollback {LINEAGE} --to N --reason ...); rejected candidates were deleted"
            if targets
            else "rollback: no earlier promoted model is kept"
        )
        breaks = lineage_breaks(history, starting_model)
        for problem in breaks:
            console.print(f"[red]lineage check: {problem}[/red]")
        if not breaks:
            console.print("lineage check: every iteration's base model was the champion when it began")
        summary, leftovers = deployment_summary(session)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        for leftover in leftovers:
            console.print(f"[red]inventory check: {leftover} exists but serves no lineage[/red]")
        if not leftovers:
            served = summary["lineages"][LINEAGE]
            console.print(
                f"inventory check: only the serving capacity exists ({served['serving_mode']}: "
                f"{served['serving_model_id'] or 'nothing'})"
            )
        console.print(f"notifications published: {len(session.notifications())}")
        page = write_report(report_data(session.deployment, LINEAGE), out / "report")
        console.print(
            f"wrote {out / 'history.json'}, {out / 'summary.json'} and {out / 'report.md'} "
            f"(the interpreter's own log: {out / 'moto.log'})"
        )
        console.print(f"report (charts and history): {page}")
        console.print(f"demo finished in {time.monotonic() - started:.1f} s")
        if args.keep:
            _serve_until_interrupted(console, session)
        return 1 if breaks or leftovers else 0
    finally:
        session.close()


if __name__ == "__main__":
    sys.exit(main())
