"""Issue 3: the streaming validator's throughput and peak memory against the plain `json` floor.

Both sides read the same generated valid nova file. Each runs in a fresh interpreter (this
module run as `python -m benchmarks.validation SIDE FILE`), so its peak RSS is its own: the
child reports `ru_maxrss` after its imports (the baseline) and after the pass (the peak).
Targets: the validator's throughput at least half the floor's; its peak RSS under 100 MiB
whatever the file size. The ratio is also printed in CPU time, which other load on the
machine hardly moves.
"""

from __future__ import annotations

import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iterft_runtime.logic.lines import split_lines
from iterft_runtime.logic.validation import CONVERSATION_SCHEMA_VERSION, validate_lines
from iterft_runtime.models.families import NOVA

from benchmarks import MB, Benchmark, Figure, Options

READ_CHUNK = 1024 * 1024
"""The chunk size `iterft validate` reads a file in (iterft.cli._file_chunks)."""
THROUGHPUT_TARGET_RATIO = 0.5
MEMORY_TARGET_MB = 100
SEED = 3

RECORD_BYTES = 12_000
"""Average record size while the file stays under PLANNED_MAX_RECORDS; larger files get larger records."""
PLANNED_MAX_RECORDS = 18_000
"""Below nova's 20,000-record limit with room for the random drift of the record sizes."""
MAX_RECORD_TEXT_CHARS = 75_000
"""Below the 90% `near_token_limit` line of nova's 32,000 tokens at the validator's chars / 3."""
MAX_AVERAGE_RECORD_BYTES = 30_000
"""With the lengths' spread and the per-record cap, the largest average that keeps the count planned."""
MAX_SIZE_BYTES = PLANNED_MAX_RECORDS * MAX_AVERAGE_RECORD_BYTES
ROOT = Path(__file__).resolve().parent.parent

_VOCABULARY = (
    "the a an and or but if then when while because so that this those these it its we you they "
    "our your their account order invoice refund payment card bank transfer delivery parcel address "
    "customer support agent team manager request ticket issue problem error message screen app "
    "website browser password login email phone number code link page setting option feature plan "
    "subscription trial upgrade downgrade cancel renew charge fee price discount coupon receipt "
    "return exchange warranty repair replacement device battery cable charger screen update version "
    "install restart reset check confirm verify review wait expect receive send open close click "
    "select enter save delete change move copy share sync backup restore export import report "
    "today tomorrow yesterday week month hour minute soon later usually always never sometimes "
    "please thanks sorry happy glad able unable quickly carefully again still already only also "
    "first second next last new old same different correct wrong available missing delayed "
    "café naïve résumé façade über déjà-vu"
)


@dataclass(frozen=True)
class GeneratedFile:
    path: Path
    size_bytes: int
    records: int


def generate(path: Path, size_bytes: int, seed: int = SEED) -> GeneratedFile:
    """Write a valid nova (bedrock-conversation-2024) file of at least `size_bytes`, deterministically.

    Records vary like real support transcripts: an optional system prompt, one to three turns,
    short questions and long answers, paragraphs, quotes and some non-ASCII text. Their average
    size keeps the count under nova's 20,000-record limit, so the validator sees a valid file.
    """
    if size_bytes > MAX_SIZE_BYTES:
        raise ValueError(
            f"a valid nova file holds at most {NOVA.max_records:,} records; this generator stops at "
            f"{MAX_SIZE_BYTES / MB:,.0f} MiB, asked for {size_bytes / MB:,.0f} MiB"
        )
    rng = random.Random(seed)
    planned = min(PLANNED_MAX_RECORDS, max(NOVA.min_records, math.ceil(size_bytes / RECORD_BYTES)))
    mean_chars = size_bytes / planned
    pool = _sentence_pool(rng)
    sentence_chars = sum(map(len, pool)) / len(pool) + 1
    written = records = 0
    with path.open("wb") as handle:
        while written < size_bytes or records < NOVA.min_records:
            record = _record(rng, records + 1, mean_chars, pool, sentence_chars)
            line = json.dumps(record, ensure_ascii=False).encode() + b"\n"
            handle.write(line)
            written += len(line)
            records += 1
    if records > NOVA.max_records:
        raise RuntimeError(f"generated {records} records, over nova's {NOVA.max_records}")
    return GeneratedFile(path, written, records)


def _sentence_pool(rng: random.Random, size: int = 3_000) -> list[str]:
    vocabulary = _VOCABULARY.split()
    pool = []
    for _ in range(size):
        words = rng.choices(vocabulary, k=rng.randint(5, 24))
        if rng.random() < 0.1:
            at = rng.randrange(len(words))
            words[at] = f'"{words[at]}"'
        sentence = " ".join(words)
        sentence = sentence[0].upper() + sentence[1:] + rng.choice(".....?!")
        # Characters the reserved-token check keys on, as support text has them.
        roll = rng.random()
        if roll < 0.08:
            sentence = rng.choice(("Note", "Step 2", "Tip", "Update", "Order status")) + ": " + sentence
        elif roll < 0.12:
            sentence = sentence[:-1] + f" by {rng.randint(1, 12)}:{rng.randint(0, 59):02d}."
        elif roll < 0.14:
            sentence = sentence[:-1] + f" [{rng.randint(1, 9)}]."
        elif roll < 0.15:
            sentence = "Settings -> " + sentence
        pool.append(sentence)
    return pool


def _text(rng: random.Random, chars: float, pool: list[str], sentence_chars: float) -> str:
    sentences = rng.choices(pool, k=max(1, round(chars / sentence_chars)))
    paragraph = rng.randint(3, 7)
    return "\n\n".join(
        " ".join(sentences[start : start + paragraph]) for start in range(0, len(sentences), paragraph)
    )


def _record(
    rng: random.Random, number: int, mean_chars: float, pool: list[str], sentence_chars: float
) -> dict[str, Any]:
    # Log-normal lengths (sigma 0.5, mean `mean_chars`), capped below the token warning.
    chars = min(rng.lognormvariate(math.log(mean_chars) - 0.125, 0.5), 4 * mean_chars, MAX_RECORD_TEXT_CHARS)
    pairs = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
    record: dict[str, Any] = {"schemaVersion": CONVERSATION_SCHEMA_VERSION}
    if rng.random() < 0.7:
        record["system"] = [{"text": _text(rng, rng.uniform(80, 400), pool, sentence_chars)}]
    messages = []
    for pair in range(pairs):
        question = _text(rng, 0.15 * chars / pairs, pool, sentence_chars)
        if pair == 0:
            question = f"Ticket {number}. {question}"
        messages.append({"role": "user", "content": [{"text": question}]})
        answer = _text(rng, 0.85 * chars / pairs, pool, sentence_chars)
        messages.append({"role": "assistant", "content": [{"text": answer}]})
    record["messages"] = messages
    return record


def _file_chunks(path: Path) -> Iterator[bytes]:
    """The file as `iterft validate` reads it."""
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            yield chunk


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_here(side: str, path: Path) -> dict[str, Any]:
    """One pass of `side` ("validator" or "floor") over `path` in this process; call in a fresh one."""
    baseline = _rss_kib()
    size = path.stat().st_size
    result: dict[str, Any] = {"side": side}
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    if side == "validator":
        report = validate_lines(split_lines(_file_chunks(path)), NOVA, declared_size=size)
        result.update(valid=report.valid, records=report.records, counts=report.counts)
    elif side == "floor":
        records = 0
        with path.open("rb") as handle:
            for line in handle:
                json.loads(line)
                records += 1
        result["records"] = records
    else:
        raise ValueError(f"unknown side {side!r}")
    result["seconds"] = time.perf_counter() - start
    result["cpu_seconds"] = _cpu_seconds() - cpu_start
    result.update(bytes=size, baseline_rss_kib=baseline, peak_rss_kib=_rss_kib())
    return result


def measure(side: str, path: Path) -> dict[str, Any]:
    """`measure_here` in a fresh interpreter, so the peak RSS is that side's alone."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.validation", side, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the {side} run failed:\n{completed.stderr}")
    return json.loads(completed.stdout)


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's figures over repeated runs: the fastest time and the least CPU time (the least
    disturbed by other load), the highest peak RSS and increase (memory is not noise)."""
    fastest = min(runs, key=lambda run: run["seconds"])
    return {
        **fastest,
        "cpu_seconds": min(run["cpu_seconds"] for run in runs),
        "peak_rss_kib": max(run["peak_rss_kib"] for run in runs),
        "rss_increase_kib": max(run["peak_rss_kib"] - run["baseline_rss_kib"] for run in runs),
    }


def figures(
    generated: GeneratedFile, validator_runs: list[dict[str, Any]], floor_runs: list[dict[str, Any]]
) -> Iterator[Figure]:
    """The printed figures from both sides' runs; refuses a file the validator did not pass."""
    for validator in validator_runs:
        if not validator["valid"] or validator["counts"] or validator["records"] != generated.records:
            raise RuntimeError(f"the generated file is not clean and valid: {validator}")
    for floor in floor_runs:
        if floor["records"] != generated.records:
            raise RuntimeError(f"the floor read {floor['records']} lines, not {generated.records}")
    yield Figure("file_size_mb", generated.size_bytes / MB)
    yield Figure("records", generated.records)
    yield Figure("runs_per_side", len(validator_runs))
    throughput = {}
    sides = {"validator": best(validator_runs), "floor": best(floor_runs)}
    for name, side in sides.items():
        throughput[name] = side["bytes"] / MB / side["seconds"]
        yield Figure(f"{name}_seconds", side["seconds"], 2)
        yield Figure(f"{name}_cpu_seconds", side["cpu_seconds"], 2)
        yield Figure(f"{name}_throughput_mb_s", throughput[name])
        yield Figure(f"{name}_peak_rss_mb", side["peak_rss_kib"] / 1024)
        yield Figure(f"{name}_rss_increase_mb", side["rss_increase_kib"] / 1024)
    ratio = throughput["validator"] / throughput["floor"]
    yield Figure("throughput_ratio", ratio, 2)
    # The same ratio in CPU time: both sides are single-threaded, so this one barely moves when
    # other processes share the cores, while the wall-clock ratio (the target's) drifts with them.
    yield Figure("cpu_time_ratio", sides["floor"]["cpu_seconds"] / sides["validator"]["cpu_seconds"], 2)
    yield Figure("target_throughput_met", ratio >= THROUGHPUT_TARGET_RATIO)
    yield Figure("target_memory_met", sides["validator"]["peak_rss_kib"] / 1024 < MEMORY_TARGET_MB)


def run(options: Options) -> Iterator[Figure]:
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "validator": []}
    with tempfile.TemporaryDirectory(prefix="iterft-bench-") as directory:
        generated = generate(Path(directory) / "train.jsonl", int(options.size_mb * MB))
        for _ in range(options.repeats):  # interleaved, so a burst of other load hits both sides
            for side, side_runs in runs.items():
                side_runs.append(measure(side, generated.path))
    yield from figures(generated, runs["validator"], runs["floor"])


BENCHMARK = Benchmark(
    name="validation",
    measures=(
        "streaming validator (split_lines + validate_lines over 1 MiB chunks, as `iterft validate`) "
        "vs the floor of json.loads on every line of the same file; a generated valid nova file of "
        "--size-mb MiB with records of ~12 KB (larger above ~200 MiB) so it stays under nova's "
        "20,000-record limit; each side --repeats times, interleaved, each run in a fresh process: "
        "best wall and CPU time, highest peak RSS (ru_maxrss) and increase over the post-import "
        "baseline; targets (wall-clock throughput): "
        f"throughput >= {THROUGHPUT_TARGET_RATIO} x floor, peak RSS < {MEMORY_TARGET_MB} MiB"
    ),
    run=run,
)


if __name__ == "__main__":
    print(json.dumps(measure_here(sys.argv[1], Path(sys.argv[2]))))
