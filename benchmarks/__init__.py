"""The project's benchmarks: what `make bench` (`python -m benchmarks`) runs.

Performance is measured here, never by timed assertions in tests. Each benchmark yields
figures; the runner prints one line per figure, `<benchmark>.<name_with_unit> <value>`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MB = 1024 * 1024
"""Every `_mb` figure is in MiB (2**20 bytes)."""
OUT = Path("out/bench")
"""Where a benchmark writes what is not a figure (logs, findings), under the working directory."""


@dataclass(frozen=True)
class Options:
    """The runner's options; a benchmark reads the ones that concern it."""

    size_mb: float = 16.0
    """validation: the most an under-the-record-limit file of the matrix holds, in MiB."""
    shapes: tuple[str, ...] = ()
    """validation: the shapes to run (names as printed); empty for the whole matrix."""
    repeats: int = 3
    eval_records: int = 1000
    eval_latency_s: float = 0.3
    """The stand-in's artificial latency per Converse call: the fast end of a real call (0.3-2 s)."""
    eval_concurrency: int = 8


@dataclass(frozen=True)
class Figure:
    name: str
    """With its unit, e.g. `throughput_mb_s`; counts and flags name what they count."""
    value: float | int | bool
    digits: int = 1

    def formatted(self) -> str:
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        if isinstance(self.value, int):
            return str(self.value)
        return f"{self.value:.{self.digits}f}"


@dataclass(frozen=True)
class Benchmark:
    name: str
    measures: str
    """The header line: what the figures measure and on what input."""
    run: Callable[[Options], Iterator[Figure]]


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Within the block, everything the process writes to its standard output and error goes to `path`
    (overwritten): prints, logging, the in-process Lambda handlers' JSON logs and metrics, moto's errors,
    from any thread, at the file-descriptor level (a handler bound to `sys.stdout` earlier included). The
    runner's output stays one line per figure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with path.open("wb") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        os.close(saved[0])
        os.close(saved[1])
