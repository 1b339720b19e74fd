"""Issue 14: how long the operator's first keystrokes take. Cold-process wall time of `iterft --help` and
of `iterft validate` on a small valid file (16 single-turn Nova records of 2 KB, about 32 KiB: the file
costs nothing, the startup is what is measured), against `python -c pass`, the interpreter's own floor.
Each command runs CLI_RUNS times in a fresh process; the median counts. Target: `iterft --help` under half
a second.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from iterft_runtime.models.families import NOVA

from benchmarks import Benchmark, Figure, Options
from benchmarks import validation as validation_bench

CLI_RUNS = 7
"""Runs per command; the median is printed (one slow start on a busy machine does not move it)."""
HELP_TARGET_SECONDS = 0.5
SMALL_FILE_SHAPE = validation_bench.Shape(NOVA, "2kb", multi_turn=False, over_limit=False)
SMALL_FILE_RECORDS = 16
MODEL = "amazon.nova-micro-v1:0:128k"


def iterft_command() -> list[str]:
    """The console script the virtualenv installs beside this interpreter, else the module."""
    script = Path(sys.executable).parent / "iterft"
    return [str(script)] if script.exists() else [sys.executable, "-m", "iterft.cli"]


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_seconds(command: Sequence[str], runs: int = CLI_RUNS) -> tuple[float, float]:
    """The median wall time and the median CPU time (user + system, which other load on the machine
    hardly moves) of `runs` fresh processes of `command`, each required to exit 0."""
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), _children_cpu_seconds()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def figures(
    floor: tuple[float, float], help_seconds: tuple[float, float], validate_seconds: tuple[float, float]
) -> Iterator[Figure]:
    """Per command, wall then CPU seconds (medians), and what it takes beyond `python -c pass`."""
    for name, (wall, cpu) in (
        ("python_pass", floor),
        ("help", help_seconds),
        ("validate_small", validate_seconds),
    ):
        yield Figure(f"{name}_seconds", wall, digits=3)
        yield Figure(f"{name}_cpu_seconds", cpu, digits=3)
        if name != "python_pass":
            yield Figure(f"{name}_over_floor_seconds", wall - floor[0], digits=3)
    yield Figure("help_target_met", help_seconds[0] < HELP_TARGET_SECONDS)


def run(options: Options) -> Iterator[Figure]:
    iterft = iterft_command()
    with tempfile.TemporaryDirectory(prefix="iterft-bench-cli-") as folder:
        small = validation_bench.generate(Path(folder) / "small.jsonl", SMALL_FILE_SHAPE, SMALL_FILE_RECORDS)
        floor = median_seconds([sys.executable, "-c", "pass"])
        help_seconds = median_seconds([*iterft, "--help"])
        validate_seconds = median_seconds([*iterft, "validate", str(small.path), "--model", MODEL])
    yield from figures(floor, help_seconds, validate_seconds)


BENCHMARK = Benchmark(
    name="cli_startup",
    measures=f"cold-process seconds, median of {CLI_RUNS}: iterft --help, iterft validate on a small "
    f"valid file, python -c pass (target: --help under {HELP_TARGET_SECONDS} s)",
    run=run,
)
