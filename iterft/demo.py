"""`make demo`: two example lineages through their uploads on the embedded default.

Everything runs through the deployed stack: each file is put under incoming/<lineage>/
and the real chain (S3 -> EventBridge -> SQS -> trigger Lambda -> Step Functions) starts its
round. `support-bot` fine-tunes through four uploads: the first runs alone, the other three arrive
together and wait their turn. `support-distilled` starts from a distilled model (its default strategy:
Nova Pro, the stand-in teacher, answers a prompts file), then fine-tunes it on the team's corrections
(an upload whose S3 metadata says `strategy: fine_tuning`), and a third upload, distilling again on that
fine-tuned model, is refused before any job: the user guide does not document that chain.

Then the flywheel (docs/flywheel.md): a stretch of support-bot's live traffic (examples/support-bot/
traffic.jsonl: Converse calls on its serving model, tagged with its request metadata, which the invocation
logging stand-in logs), the team's feedback on some answers (ratings, corrected answers), and a curation
that makes them into a dataset under incoming/support-bot/, aimed at the weakest categories of the gap
analysis: its round runs through the same trigger chain and is decided by its scores like any other.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iterft_runtime.logic.gaps import weakest_categories
from rich.console import Console

from iterft.commands.common import print_table
from iterft.commands.flywheel import curation_lines
from iterft.commands.read import history_table, source_lines
from iterft.flywheel import ask, curate, put_feedback
from iterft.history import lineage_gaps, lineage_history, report_data, round_progress
from iterft.local.session import LocalSession
from iterft.report import lineage_breaks, markdown_report, write_report, yardstick_warning
from iterft.summary import deployment_summary

ENVIRONMENT = "dev"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
YARDSTICK = EXAMPLES / "support-bot" / "eval.jsonl"
"""Both lineages' evaluation set: the same questions, so their scores compare."""
TEACHER_CORPUS = EXAMPLES / "support-bot" / "teacher-corpus.jsonl"
"""What the stand-in teacher knows (docs/embedded-default.md, Customization types): not a model."""


@dataclass(frozen=True)
class Upload:
    """A file of the lineage's example directory, with the S3 user metadata it is uploaded with."""

    file: str
    metadata: dict[str, str] = field(default_factory=dict)
    note: str = ""
    """What the demo says of it, beside its name."""

    def label(self) -> str:
        return f"{self.file} ({self.note})" if self.note else self.file


@dataclass(frozen=True)
class DemoLineage:
    """A lineage of config/dev.yaml and its uploads: each batch arrives together, once the rounds of the
    batch before it have ended."""

    name: str
    batches: tuple[tuple[Upload, ...], ...]

    @property
    def examples(self) -> Path:
        return EXAMPLES / self.name

    @property
    def uploads(self) -> list[Upload]:
        return [upload for batch in self.batches for upload in batch]


LINEAGES = (
    DemoLineage(
        "support-bot",
        (
            (Upload("round-1-billing.jsonl"),),
            (
                Upload("round-2-storage-and-account.jsonl"),
                Upload("round-3-legacy-helpdesk-export.jsonl"),
                Upload("round-4-more-phrasings.jsonl"),
            ),
        ),
    ),
    DemoLineage(
        "support-distilled",
        (
            (Upload("round-1-distill-prompts.jsonl", note="the lineage's default strategy: distillation"),),
            (
                Upload(
                    "round-2-team-corrections.jsonl",
                    {"strategy": "fine_tuning"},
                    "S3 metadata strategy=fine_tuning",
                ),
                Upload(
                    "round-3-distill-again.jsonl",
                    note="the default: distillation, on the fine-tuned champion",
                ),
            ),
        ),
    ),
)
FLYWHEEL_LINEAGE = "support-bot"
TRAFFIC = EXAMPLES / "support-bot" / "traffic.jsonl"
"""Simulated live traffic: each row a question an application asks, with the team's feedback or null."""
OUT = Path("out/demo")
ROUND_TIMEOUT_SECONDS = 120


class Progress:
    """Prints one line whenever an iteration of the lineage enters another step of the workflow (read
    from its execution's history, as `iterft status` does), with the time since the round started."""

    def __init__(self, console: Console, session: LocalSession, lineage: str) -> None:
        self.console, self.session, self.lineage = console, session, lineage
        self.seen: dict[int, str] = {}
        self.started: dict[int, float] = {}

    def ended_so_far(self, rows: list[dict[str, Any]]) -> None:
        """Print nothing more of the rounds in `rows` that have ended (shown before, by another Progress)."""
        for row in rows:
            if row["decision"] != "running":
                self.seen[row["iteration"]] = row["decision"]

    def poll(self) -> list[dict[str, Any]]:
        rows = lineage_history(self.session.deployment, self.lineage)
        for row in rows:
            iteration = row["iteration"]
            started = self.started.setdefault(iteration, time.monotonic())
            progress = round_progress(self.session.deployment, self.lineage, row["dataset"])
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
                self.session.wait_until_idle(self.lineage, timeout=ROUND_TIMEOUT_SECONDS)
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
        *(f".venv/bin/iterft history {lineage.name} --stack {stack}" for lineage in LINEAGES),
        *(f".venv/bin/iterft gaps {lineage.name} --stack {stack}" for lineage in LINEAGES),
        f".venv/bin/iterft curate {FLYWHEEL_LINEAGE} --dry-run --stack {stack}",
        *(
            f".venv/bin/iterft report {lineage.name} --out out/demo/report/{lineage.name} --stack {stack}"
            for lineage in LINEAGES
        ),
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


def run_lineage(console: Console, session: LocalSession, lineage: DemoLineage) -> list[dict[str, Any]]:
    """Upload the lineage's batches in turn, each once the rounds before it ended; its history."""
    console.rule(f"lineage {lineage.name}")
    progress = Progress(console, session, lineage.name)
    uploaded = 0
    for batch in lineage.batches:
        first, last = uploaded + 1, uploaded + len(batch)
        if len(batch) == 1:
            console.print(f"upload {first}: {batch[0].label()}", markup=False)
        else:
            names = ", ".join(upload.label() for upload in batch)
            console.print(
                f"uploads {first}-{last} arrive together: {names} (queued, run in upload order)", markup=False
            )
        for upload in batch:
            session.upload(lineage.name, lineage.examples / upload.file, metadata=upload.metadata or None)
        uploaded = last
        history = progress.wait_for(uploaded)
    return history


def run_flywheel(
    console: Console, session: LocalSession, lineage: DemoLineage, history: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Live traffic on the lineage's serving model, feedback on some answers, a curation, and the curated
    round (when curation wrote a dataset); the lineage's history."""
    from iterft_runtime.logic.feedback import Feedback

    console.rule(f"lineage {lineage.name}: live traffic, feedback, curation")
    console.print(gaps_line(session, lineage.name), markup=False)
    deployment, metadata = session.deployment, {"lineage": lineage.name}
    rows = [json.loads(line) for line in TRAFFIC.read_text().splitlines() if line.strip()]
    feedback = []
    for row in rows:
        request_id, _ = ask(deployment, lineage.name, row["question"], metadata)
        if row.get("feedback") is not None:
            feedback.append(Feedback(request_id=request_id, **row["feedback"]))
    corrected = sum(1 for record in feedback if record.corrected_answer is not None)
    console.print(
        f"live traffic: {len(rows)} Converse calls on the serving model with requestMetadata "
        f"{json.dumps(metadata)} (examples/support-bot/traffic.jsonl), each logged by the invocation logging "
        "stand-in",
        markup=False,
    )
    uri = put_feedback(deployment, lineage.name, feedback)
    console.print(
        f"feedback (as iterft feedback writes it): {len(feedback) - corrected} ratings and {corrected} "
        f"corrected answers on those calls' request ids, {uri}",
        markup=False,
    )
    console.print(f"iterft curate {lineage.name}:", markup=False)
    result = curate(deployment, lineage.name, requested_by="make demo")
    for line in curation_lines(result):
        console.print(f"  {line}", markup=False)
    progress = Progress(console, session, lineage.name)
    progress.ended_so_far(history)
    return progress.wait_for(len(history) + len(result.get("written") or []))


def report_lineage(console: Console, session: LocalSession, name: str, history: list[dict[str, Any]]) -> bool:
    """Print the lineage's table, what it can roll back to and its lineage check; False when a round was
    not built on the champion of its time."""
    starting_model = session.config.lineage(name).base_model
    print_table(console, history_table(name, history))  # at its natural width through a pipe
    for line in source_lines(history):
        console.print(line, markup=False)
    targets = [row["iteration"] for row in history if row.get("rollback") == "possible"]
    console.print(
        "rollback possible to iteration "
        + ", ".join(str(n) for n in targets)
        + f" (iterft rollback {name} --to N --reason ...); rejected candidates were deleted"
        if targets
        else "rollback: no earlier promoted model is kept"
    )
    console.print(gaps_line(session, name, traffic=True), markup=False)
    gate = session.config.lineage(name).gate
    inconclusive = [str(row["iteration"]) for row in history if row.get("inconclusive")]
    console.print(
        f"gate ({gate.decide_on}, {gate.confidence:.0%} intervals): "
        + (
            f"inconclusive round(s) {', '.join(inconclusive)}: their intervals straddle min_improvement "
            f"{gate.min_improvement:g}"
            if inconclusive
            else "every decided round's interval was clear of min_improvement "
            f"{gate.min_improvement:g} (no round inconclusive)"
        ),
        markup=False,
    )
    warning = yardstick_warning(history)
    if warning:
        console.print(f"yardstick too small: {warning}", markup=False)
    breaks = lineage_breaks(history, starting_model)
    for problem in breaks:
        console.print(f"[red]lineage check: {problem}[/red]")
    if not breaks:
        console.print("lineage check: every iteration's base model was the champion when it began")
    return not breaks


def gaps_line(session: LocalSession, name: str, *, traffic: bool = False) -> str:
    """The champion's weakest category after the lineage's last evaluated round, and where to see more;
    with `traffic`, its share of the lineage's recent calls when it captures traffic."""
    analysis = lineage_gaps(session.deployment, name, traffic=traffic)
    if analysis is None:
        return "gaps: no evaluated round"
    weakest = weakest_categories(analysis, 1)
    if not weakest:
        return "gaps: the champion answers every category perfectly"
    gap = next(gap for gap in analysis.categories if gap.category == weakest[0])
    share = f", {gap.traffic_share:.0%} of recent traffic" if gap.traffic_share is not None else ""
    return (
        f"gaps: the champion's weakest category is {gap.category} ({analysis.metric} {gap.score:.4f}, "
        f"{gap.failing} of {gap.records} records below perfect{share}); its worst records: iterft gaps {name}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iterft.demo",
        description="The example lineages' rounds on the embedded default (config/dev.yaml).",
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
        for lineage in LINEAGES:
            session.put_evaluation_set(lineage.name, YARDSTICK)
        names = " and ".join(lineage.name for lineage in LINEAGES)
        console.print(
            f"evaluation set of {names}: examples/support-bot/eval.jsonl (the yardstick of every round)"
        )
        for lineage in LINEAGES:
            distillation = session.config.lineage(lineage.name).strategies.distillation
            if distillation is not None:
                pairs = session.standin.load_teacher_corpus(distillation.teacher, TEACHER_CORPUS)
                console.print(
                    f"stand-in teacher of {lineage.name}: {distillation.teacher} knows "
                    f"examples/support-bot/teacher-corpus.jsonl ({pairs} question/answer pairs, every fact "
                    "in its own words; a stand-in for what a large model knows, not a model)",
                    markup=False,
                )
        histories = {lineage.name: run_lineage(console, session, lineage) for lineage in LINEAGES}
        flywheel = next(lineage for lineage in LINEAGES if lineage.name == FLYWHEEL_LINEAGE)
        histories[flywheel.name] = run_flywheel(console, session, flywheel, histories[flywheel.name])

        console.rule("results")
        checked = [report_lineage(console, session, name, history) for name, history in histories.items()]
        out.mkdir(parents=True, exist_ok=True)
        (out / "history.json").write_text(json.dumps(histories, indent=2) + "\n")
        report = "\n".join(
            markdown_report(name, session.config.lineage(name).base_model, history)
            for name, history in histories.items()
        )
        (out / "report.md").write_text(report)
        summary, leftovers = deployment_summary(session)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        for leftover in leftovers:
            console.print(f"[red]inventory check: {leftover} exists but serves no lineage[/red]")
        if not leftovers:
            served = ", ".join(
                f"{name}: {summary['lineages'][name]['serving_mode']} "
                f"{summary['lineages'][name]['serving_model_id'] or 'nothing'}"
                for name in histories
            )
            console.print(f"inventory check: only the serving capacities exist ({served})", markup=False)
        console.print(f"notifications published: {len(session.notifications())}")
        pages = [
            write_report(report_data(session.deployment, name), out / "report" / name) for name in histories
        ]
        console.print(
            f"wrote {out / 'history.json'}, {out / 'summary.json'} and {out / 'report.md'} "
            f"(the interpreter's own log: {out / 'moto.log'})"
        )
        console.print(f"reports (charts and history): {', '.join(str(page) for page in pages)}")
        console.print(f"demo finished in {time.monotonic() - started:.1f} s")
        if args.keep:
            _serve_until_interrupted(console, session)
        return 1 if not all(checked) or leftovers else 0
    finally:
        session.close()


if __name__ == "__main__":
    sys.exit(main())
