"""`python -m benchmarks [--only NAME] [--size-mb N] [--repeats N]`: one printed line per figure.

Runs every registered benchmark (or just --only NAME), each under a `# NAME: what it measures` header.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchmarks import Benchmark, Options, validation

BENCHMARKS: dict[str, Benchmark] = {
    benchmark.name: benchmark
    for benchmark in (validation.BENCHMARK,)  # a new benchmark adds its entry here
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run just this benchmark")
    parser.add_argument(
        "--size-mb", type=float, default=Options.size_mb, help="validation: the generated file's size in MiB"
    )
    parser.add_argument(
        "--repeats", type=int, default=Options.repeats, help="runs per measured side; the best time counts"
    )
    args = parser.parse_args(argv)
    if args.size_mb <= 0 or args.repeats < 1:
        parser.error("--size-mb must be positive and --repeats at least 1")
    options = Options(size_mb=args.size_mb, repeats=args.repeats)
    for name in [args.only] if args.only else BENCHMARKS:
        benchmark = BENCHMARKS[name]
        print(f"# {name}: {benchmark.measures}", flush=True)
        for figure in benchmark.run(options):
            print(f"{name}.{figure.name} {figure.formatted()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
