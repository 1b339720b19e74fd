"""Issue 4: evaluation's parallel scoring against the ideal `records x latency / concurrency`.

Runs the real workflow on the embedded default (iterft.local.session.LocalSession): a one-lineage
deployment with `evaluation.concurrency` C and a generated evaluation set. A first round scores
the starting point too (its score is then on record for this set version); the measured second
round calls only the candidate, once per record, with the Bedrock stand-in answering every call
after an artificial latency L. The wall time is read from the execution's history: from entering
Plan evaluation to leaving Aggregate evaluation. Target: within 1.3x of the ideal.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks import Benchmark, Figure, Options

TARGET_RATIO = 1.3
LINEAGE = "bench"
FIRST_STATE, LAST_STATE = "Plan evaluation", "Aggregate evaluation"
ROOT = Path(__file__).resolve().parent.parent
TRAINING_ROUNDS = (
    ROOT / "examples" / "support-bot" / "round-1-billing.jsonl",
    ROOT / "examples" / "support-bot" / "round-2-storage-and-account.jsonl",
)
ROUND_TIMEOUT_SECONDS = 600.0


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
        f'  - {{name: {LINEAGE}, base_model: "amazon.nova-micro-v1:0:128k"}}\n'
    )


def evaluation_seconds(history: list[dict[str, Any]]) -> float:
    """Entering the first evaluation state to leaving the last, from an execution's history events."""
    entered = _timestamp(history, "stateEnteredEventDetails", FIRST_STATE)
    exited = _timestamp(history, "stateExitedEventDetails", LAST_STATE)
    return (exited - entered).total_seconds()


def _timestamp(history: list[dict[str, Any]], details: str, state: str) -> datetime:
    for event in history:
        if event.get(details, {}).get("name") == state:
            stamp = event["timestamp"]
            return stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))
    raise RuntimeError(f"the execution never reached {state!r}; did the round fail?")


def measure(records: int, latency: float, concurrency: int) -> float:
    """Seconds the second round's evaluation took on a fresh embedded deployment."""
    from iterft.local.session import LocalSession  # the embedded default costs nothing until used

    with tempfile.TemporaryDirectory(prefix="iterft-bench-") as config_dir:
        (Path(config_dir) / "bench.yaml").write_text(config_yaml(concurrency))
        with LocalSession.start("bench", config_dir=Path(config_dir)) as session:
            eval_set = Path(config_dir) / "eval.jsonl"
            eval_set.write_bytes(evaluation_set(records))
            session.put_evaluation_set(LINEAGE, eval_set)
            session.upload(LINEAGE, TRAINING_ROUNDS[0])
            session.wait_until_idle(LINEAGE, timeout=ROUND_TIMEOUT_SECONDS)
            session.standin.set_latency(latency)
            session.upload(LINEAGE, TRAINING_ROUNDS[1])
            session.wait_until_idle(LINEAGE, timeout=ROUND_TIMEOUT_SECONDS)
            latest = max(session.executions(), key=lambda execution: execution["startDate"])
            sfn = session.client("stepfunctions")
            history = sfn.get_execution_history(executionArn=latest["executionArn"], maxResults=1000)
            events = list(history["events"])
            while history.get("nextToken"):
                history = sfn.get_execution_history(
                    executionArn=latest["executionArn"], maxResults=1000, nextToken=history["nextToken"]
                )
                events.extend(history["events"])
            return evaluation_seconds(events)


def figures(records: int, latency: float, concurrency: int, wall_seconds: float) -> Iterator[Figure]:
    ideal = records * latency / concurrency
    ratio = wall_seconds / ideal
    yield Figure("records", records)
    yield Figure("latency_s", latency, 3)
    yield Figure("concurrency", concurrency)
    yield Figure("wall_seconds", wall_seconds, 2)
    yield Figure("ideal_seconds", ideal, 2)
    yield Figure("ratio_to_ideal", ratio, 2)
    yield Figure("target_met", ratio <= TARGET_RATIO)


def run(options: Options) -> Iterator[Figure]:
    wall = measure(options.eval_records, options.eval_latency_s, options.eval_concurrency)
    yield from figures(options.eval_records, options.eval_latency_s, options.eval_concurrency, wall)


BENCHMARK = Benchmark(
    name="evaluation",
    measures="the Score shards Map on the embedded default vs records x latency / concurrency",
    run=run,
)
