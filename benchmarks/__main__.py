"""`python -m benchmarks [--only NAME] [--size-mb N] [--shape NAME] [--repeats N]`: one line per figure.

Runs every registered benchmark (or just --only NAME), each under a `# NAME: what it measures` header.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchmarks import Benchmark, Options, bootstrap, cli_startup, evaluation, reliability, validation

BENCHMARKS: dict[str, Benchmark] = {
    benchmark.name: benchmark
    # a new benchmark adds its entry here
    for benchmark in (
        validation.BENCHMARK,
        evaluation.BENCHMARK,
        reliability.BENCHMARK,
        cli_startup.BENCHMARK,
        bootstrap.BENCHMARK,
    )
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run just this benchmark")
    parser.add_argument(
        "--size-mb",
        type=float,
        default=Options.size_mb,
        help="validation: the most an under-the-limit file holds, in MiB",
    )
    parser.add_argument(
        "--shape", action="append", default=[], help="validation: run just this shape (repeatable)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=Options.repeats,
        help="runs per measured side (evaluation: measured rounds); the best time counts",
    )
    parser.add_argument(
        "--eval-records", type=int, default=Options.eval_records, help="evaluation: records in the set"
    )
    parser.add_argument(
        "--eval-latency", type=float, default=Options.eval_latency_s, help="evaluation: seconds per call"
    )
    parser.add_argument(
        "--eval-concurrency", type=int, default=Options.eval_concurrency, help="evaluation: Map concurrency"
    )
    args = parser.parse_args(argv)
    if args.size_mb <= 0 or args.repeats < 1:
        parser.error("--size-mb must be positive and --repeats at least 1")
    if args.eval_records < 1 or args.eval_latency <= 0 or not 1 <= args.eval_concurrency <= 40:
        parser.error("--eval-records and --eval-latency must be positive, --eval-concurrency 1 to 40")
    options = Options(
        size_mb=args.size_mb,
        shapes=tuple(args.shape),
        repeats=args.repeats,
        eval_records=args.eval_records,
        eval_latency_s=args.eval_latency,
        eval_concurrency=args.eval_concurrency,
    )
    for name in [args.only] if args.only else BENCHMARKS:
        benchmark = BENCHMARKS[name]
        print(f"# {name}: {benchmark.measures}", flush=True)
        for figure in benchmark.run(options):
            print(f"{name}.{figure.name} {figure.formatted()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
