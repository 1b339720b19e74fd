"""Reliability under seeded chaos (issue 19): the chaos scenario of tests/integration/test_chaos.py, bigger.

Rounds on several lineages of the embedded default, uploaded in sequence while faults are injected
(iterft/local/chaos.py: Bedrock control-plane throttling and 500s, failed jobs and capacities, handler-side
DynamoDB and S3 faults), settled and checked (iterft/local/chaos_run.py). Every figure is counted from
the run: rounds, faults injected by kind, failed, decided and repaired rounds, invariant violations and
wall time.

What the run writes besides its figures goes to out/bench/: reliability.log (the handlers' JSON logs
and metrics, moto's errors, then one line per round with its decision and reason) and
reliability-violations.txt (each invariant violated, one line each, also printed to stderr).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import OUT, Benchmark, Figure, Options, output_to

if TYPE_CHECKING:
    from iterft.local.chaos_run import ChaosResult

LINEAGES = ("chaos-od", "chaos-pt", "chaos-none", "chaos-od-b", "chaos-pt-b")
ROUNDS_PER_LINEAGE = 20
SEED = 19
SETTLE_TIMEOUT_SECONDS = 900.0
FAULT_KINDS = (
    "bedrock_throttled",
    "bedrock_500",
    "bedrock_500_after_effect",
    "job_failed",
    "capacity_failed",
    "dynamodb_fault",
    "s3_fault",
)
LOG = OUT / "reliability.log"
VIOLATIONS = OUT / "reliability-violations.txt"


def config_yaml(lineages: tuple[str, ...]) -> str:
    """The benchmark's environment: one lineage per name, serving modes taken in turn."""
    modes = ("on_demand", "provisioned", "none")
    lines = [
        "environment: bench",
        "region: us-east-1",
        "retention: {log_days: 1, destroy_data_on_delete: true}",
        "lineages:",
    ]
    for index, lineage in enumerate(lineages):
        lines.append(
            f'  - {{name: {lineage}, base_model: "amazon.nova-micro-v1:0:128k", '
            f"gate: {{pause_when_converged: false}}, serving: {{mode: {modes[index % len(modes)]}}}}}"
        )
    return "\n".join(lines) + "\n"


def run(options: Options) -> Iterator[Figure]:
    del options  # the scenario's size is fixed: figures stay comparable between runs
    from iterft.local.chaos import ChaosConfig  # the embedded default costs nothing until used
    from iterft.local.chaos_run import EXAMPLES, run_chaos
    from iterft.local.session import LocalSession

    with output_to(LOG), tempfile.TemporaryDirectory(prefix="iterft-bench-") as config_dir:
        (Path(config_dir) / "bench.yaml").write_text(config_yaml(LINEAGES))
        with LocalSession.start("bench", config_dir=Path(config_dir)) as session:
            for lineage in LINEAGES:
                session.put_evaluation_set(lineage, EXAMPLES / "eval.jsonl")
            result = run_chaos(
                session, LINEAGES, ROUNDS_PER_LINEAGE, ChaosConfig(seed=SEED), timeout=SETTLE_TIMEOUT_SECONDS
            )
    record_findings(result)
    yield Figure("lineages", len(LINEAGES))
    yield Figure("rounds", len(result.rounds))
    yield Figure("faults_injected", sum(result.injected.values()))
    for kind in FAULT_KINDS:
        yield Figure(f"faults_{kind}", result.injected.get(kind, 0))
    yield Figure("failed_rounds", result.failed)
    yield Figure("repairs", result.repairs)
    yield Figure("decided_rounds", result.decided)
    yield Figure("fine_tune_transient_rounds", len(result.fine_tune_faulted))
    yield Figure("invariant_violations", len(result.violations))
    yield Figure("wall_seconds", result.wall_seconds, 1)


def record_findings(result: ChaosResult) -> None:
    """Each round's outcome appended to the log; each violation to its file and to stderr."""
    with LOG.open("a", encoding="utf-8") as log:
        for lineage, rows in result.histories.items():
            for row in rows:
                line = {key: row.get(key) for key in ("iteration", "decision", "reason")}
                log.write(f"round {lineage} {json.dumps(line)}\n")
    VIOLATIONS.write_text("".join(f"{violation}\n" for violation in result.violations), encoding="utf-8")
    for violation in result.violations:
        print(f"reliability: invariant violated: {violation}", file=sys.stderr)


BENCHMARK = Benchmark(
    name="reliability",
    measures=(
        f"{ROUNDS_PER_LINEAGE * len(LINEAGES)} rounds over {len(LINEAGES)} lineages of the embedded default "
        f"under seeded chaos (seed {SEED}): faults injected, failed, repaired and decided rounds"
    ),
    run=run,
)
