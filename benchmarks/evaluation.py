"""Issue 4: evaluation's parallel scoring against the ideal `records x latency / concurrency`.

Runs the real workflow on the embedded default (iterft.local.session.LocalSession): a one-lineage
deployment with `evaluation.concurrency` C and a generated evaluation set. A first round scores
the starting point too (its score is then on record for this set version); each measured round
after it calls only the candidate, once per record, with the Bedrock stand-in answering every call
after an artificial latency L. The wall time is read from the execution's history: from entering
Plan evaluation to leaving Aggregate evaluation. Target: within 1.3x of the ideal. The best of
`--repeats` measured rounds (one deployment) is reported, with the process CPU time those seconds
took (sampled, so independent of what else the machine runs) and the machine's load average.

The default L is 0.3 s: the fast end of what a real Converse call to a small model takes (about
0.3 s to 2 s, by answer length and model), so it is the hardest realistic case for the overhead.
Everything else (moto's server, the Step Functions interpreter, the in-process Lambdas, boto3)
shares one Python process, and its cost per call does not shrink with L: `cpu_ms_per_record` is
that cost, and `--eval-latency 0.02` shows where it becomes the limit.

The handlers' JSON logs and everything else the run writes go to out/bench/evaluation.log (the
runner's output stays one line per figure).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks import OUT, Benchmark, Figure, Options, output_to

TARGET_RATIO = 1.3
LINEAGE = "bench"
FIRST_STATE, LAST_STATE = "Plan evaluation", "Aggregate evaluation"
ROOT = Path(__file__).resolve().parent.parent
TRAINING_ROUNDS = (
    ROOT / "examples" / "support-bot" / "round-1-billing.jsonl",
    ROOT / "examples" / "support-bot" / "round-2-storage-and-account.jsonl",
)
ROUND_TIMEOUT_SECONDS = 600.0
CPU_SAMPLE_SECONDS = 0.02


@dataclass(frozen=True)
class Measured:
    """One measured round's evaluation: its wall time and the process CPU time spent meanwhile."""

    wall_seconds: float
    cpu_seconds: float


class CpuClock:
    """Samples (wall clock, process CPU time) on a thread, to read the CPU time spent between two
    wall-clock moments afterwards (the execution history gives the moments)."""

    def __init__(self) -> None:
        self._walls: list[float] = []
        self._cpus: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-cpu-clock", daemon=True)

    def __enter__(self) -> CpuClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._walls.append(time.time())
            self._cpus.append(time.process_time())
            self._stop.wait(CPU_SAMPLE_SECONDS)

    def cpu_at(self, wall: float) -> float:
        """Process CPU seconds at wall-clock time `wall`, linearly between the nearest samples."""
        return cpu_between(self._walls, self._cpus, wall)


def cpu_between(walls: list[float], cpus: list[float], wall: float) -> float:
    """`cpus` interpolated at `wall` (both lists in sample order; clamped to the first and last)."""
    if not walls:
        raise ValueError("no CPU samples")
    index = bisect_left(walls, wall)
    if index == 0:
        return cpus[0]
    if index == len(walls):
        return cpus[-1]
    before, after = walls[index - 1], walls[index]
    share = (wall - before) / (after - before) if after > before else 1.0
    return cpus[index - 1] + share * (cpus[index] - cpus[index - 1])


def evaluation_set(records: int) -> bytes:
    """`records` distinct prompts with references and a few categories, as JSONL."""
    categories = ("billing", "account", "delivery", None)
    lines = []
    for index in range(records):
        record: dict[str, Any] = {
            "prompt": f"Customer question {index}: how do I change the card on my account?",
            "referenceResponse": f"Open Settings, then Billing, and replace the card (case {index}).",
        }
        category = categories[index % len(categories)]
        if category is not None:
            record["category"] = category
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


def config_yaml(concurrency: int) -> str:
    return (
        "environment: bench\n"
        "region: us-east-1\n"
        "retention: {log_days: 1, destroy_data_on_delete: true}\n"
        f"evaluation: {{concurrency: {concurrency}}}\n"
        "lineages:\n"
        f'  - {{name: {LINEAGE}, base_model: "amazon.nova-micro-v1:0:128k",\n'
        "      gate: {pause_when_converged: false}}\n"  # repeated rounds are marginal by design
    )


def evaluation_seconds(history: list[dict[str, Any]]) -> float:
    """Entering the first evaluation state to leaving the last, from an execution's history events."""
    entered, exited = evaluation_window(history)
    return (exited - entered).total_seconds()


def evaluation_window(history: list[dict[str, Any]]) -> tuple[datetime, datetime]:
    """When the first evaluation state was entered and the last one left."""
    entered = _timestamp(history, "stateEnteredEventDetails", FIRST_STATE)
    exited = _timestamp(history, "stateExitedEventDetails", LAST_STATE)
    return entered, exited


def _timestamp(history: list[dict[str, Any]], details: str, state: str) -> datetime:
    for event in history:
        if event.get(details, {}).get("name") == state:
            stamp = event["timestamp"]
            return stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))
    raise RuntimeError(f"the execution never reached {state!r}; did the round fail?")


def measure(records: int, latency: float, concurrency: int, rounds: int = 1) -> list[Measured]:
    """Each of `rounds` evaluations (after the first round) on one fresh embedded deployment."""
    from iterft.local.session import LocalSession  # the embedded default costs nothing until used

    with tempfile.TemporaryDirectory(prefix="iterft-bench-") as config_dir:
        (Path(config_dir) / "bench.yaml").write_text(config_yaml(concurrency))
        with LocalSession.start("bench", config_dir=Path(config_dir)) as session, CpuClock() as clock:
            eval_set = Path(config_dir) / "eval.jsonl"
            eval_set.write_bytes(evaluation_set(records))
            session.put_evaluation_set(LINEAGE, eval_set)
            session.upload(LINEAGE, TRAINING_ROUNDS[0])
            session.wait_until_idle(LINEAGE, timeout=ROUND_TIMEOUT_SECONDS)
            session.standin.set_latency(latency)
            measured = []
            for number in range(rounds):
                data = TRAINING_ROUNDS[1]
                session.upload(LINEAGE, data.read_bytes(), name=f"measured-{number}-{data.name}")
                session.wait_until_idle(LINEAGE, timeout=ROUND_TIMEOUT_SECONDS)
                latest = max(session.executions(), key=lambda execution: execution["startDate"])
                entered, exited = evaluation_window(_history(session, latest["executionArn"]))
                cpu = clock.cpu_at(exited.timestamp()) - clock.cpu_at(entered.timestamp())
                measured.append(Measured((exited - entered).total_seconds(), cpu))
            return measured


def _history(session: Any, execution_arn: str) -> list[dict[str, Any]]:
    sfn = session.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)
    events = list(history["events"])
    while history.get("nextToken"):
        history = sfn.get_execution_history(
            executionArn=execution_arn, maxResults=1000, nextToken=history["nextToken"]
        )
        events.extend(history["events"])
    return events


def figures(
    records: int, latency: float, concurrency: int, best: Measured, load: float | None = None
) -> Iterator[Figure]:
    ideal = records * latency / concurrency
    ratio = best.wall_seconds / ideal
    yield Figure("records", records)
    yield Figure("latency_s", latency, 3)
    yield Figure("concurrency", concurrency)
    yield Figure("wall_seconds", best.wall_seconds, 2)
    yield Figure("ideal_seconds", ideal, 2)
    yield Figure("overhead_seconds", best.wall_seconds - ideal, 2)
    yield Figure("cpu_seconds", best.cpu_seconds, 2)
    yield Figure("cpu_ms_per_record", 1000 * best.cpu_seconds / records, 2)
    yield Figure("ratio_to_ideal", ratio, 2)
    yield Figure("target_met", ratio <= TARGET_RATIO)
    if load is not None:
        yield Figure("load_average", load, 2)  # 1-minute: other jobs share the cores


LOG = OUT / "evaluation.log"


def run(options: Options) -> Iterator[Figure]:
    with output_to(LOG):
        measured = measure(
            options.eval_records, options.eval_latency_s, options.eval_concurrency, rounds=options.repeats
        )
    best = min(measured, key=lambda one: one.wall_seconds)
    load = os.getloadavg()[0]
    yield from figures(options.eval_records, options.eval_latency_s, options.eval_concurrency, best, load)


BENCHMARK = Benchmark(
    name="evaluation",
    measures="the Score shards Map on the embedded default vs records x latency / concurrency",
    run=run,
)
