"""Issue 18: what the gate's paired bootstrap costs Decide. The CPU time (process time: other load on the
machine hardly moves it) of `logic.paired.compare` with RESAMPLES resamples, on sets of several sizes
scored on six metrics (the three reference metrics and three more, e.g. a judge and Bedrock's), with the
primary's per-category intervals (eight categories) as `gate.max_category_drop` asks. Best of
`--repeats`. Target: under 5 s at 2,000 records (Decide's Lambda has 15 minutes; the round's
evaluation took far longer).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from iterft_runtime.logic.paired import RESAMPLES, compare

from benchmarks import Benchmark, Figure, Options

SIZES = (22, 200, 1000, 2000)
METRICS = ("token_f1", "exact_match", "rouge_l", "judge", "bedrock_accuracy", "bedrock_robustness")
CATEGORIES = 8
TARGET_SECONDS = 5.0


def cpu_seconds(records: int, repeats: int) -> float:
    """The best process CPU time of one round's bootstrap on `records` records."""
    generator = random.Random(records)
    candidate = {name: [generator.random() for _ in range(records)] for name in METRICS}
    champion = {name: [generator.random() for _ in range(records)] for name in METRICS}
    categories = [f"category-{index % CATEGORIES}" for index in range(records)]
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        compare(candidate, champion, categories, confidence=0.95, seed=records, category_metric="token_f1")
        best = min(best, time.process_time() - started)
    return best


def run(options: Options) -> Iterator[Figure]:
    for records in SIZES:
        yield Figure(f"cpu_s_{records}_records", cpu_seconds(records, options.repeats), digits=3)
    yield Figure("within_target", cpu_seconds(SIZES[-1], 1) < TARGET_SECONDS)


BENCHMARK = Benchmark(
    name="bootstrap",
    measures=f"CPU seconds of a round's paired bootstrap ({RESAMPLES} resamples, {len(METRICS)} metrics, "
    f"{CATEGORIES} categories), per set size; target under {TARGET_SECONDS:g} s at {SIZES[-1]} records",
    run=run,
)
