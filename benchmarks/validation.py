"""Issues 3, 15 and 17: the streaming validator against the `json.loads` floor, on a matrix of shapes,
and with the leakage check against a 10,000-record evaluation set.

A shape is a data format (nova, claude-haiku, prompt/completion for Llama 3.1), a record size
(about 0.5, 2 or 12 KB), single- or multi-turn (conversations only) and a record count: under the
family's record limit (at most --size-mb MiB) or far over it (twice the limit, read to the end for
the true count, whatever its size). Each shape's file is generated, valid but for the count; both
sides read it, each in a fresh interpreter (this module run as `python -m benchmarks.validation
SIDE FILE FAMILY`) so its peak RSS is its own: the child reports `ru_maxrss` (resource-based, not
tracemalloc) after its imports and after the pass. Sides are interleaved, --repeats times each;
the best time counts. Targets, per shape: the validator's wall-clock throughput at least the
floor's (ratio >= 1), its peak RSS under 100 MiB. The ratio is also printed in CPU time, which
other load on the machine hardly moves.

A third side (issue 17) runs the validator with the leakage check on, as the Validate step does,
against an evaluation set of EVALUATION_RECORDS support questions written like the training
questions (same vocabulary, other sentences: none is a duplicate, so the check finds nothing and
reads everything); target: its throughput at least half the validator's alone. Building the
evaluation set's index is a fixed cost of a round, timed apart (`leakage_index_build_seconds`).
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iterft_runtime.logic.lines import split_lines
from iterft_runtime.logic.validation import CONVERSATION_SCHEMA_VERSION, validate_lines
from iterft_runtime.models.families import (
    CLAUDE_HAIKU,
    LLAMA_PROMPT_COMPLETION,
    NOVA,
    DataFormat,
    ModelFamily,
    family_named,
)

from benchmarks import MB, Benchmark, Figure, Options

if TYPE_CHECKING:
    from iterft_runtime.logic.leakage import LeakageCheck

READ_CHUNK = 64 * 1024
"""The chunk size `iterft validate` reads a file in (iterft.commands.validate.READ_CHUNK)."""
THROUGHPUT_TARGET_RATIO = 1.0
LEAKAGE_TARGET_RATIO = 0.5
"""The validator with the leakage check on: at least this share of the validator's throughput alone."""
EVALUATION_RECORDS = 10_000
MEMORY_TARGET_MB = 100
MIN_MEASURED_SECONDS = 0.5
"""A side reads the file again until this long has passed: a small file's one pass lasts a few tens of
milliseconds, near what the CPU clock can tell apart."""
SEED = 3
FAMILIES = (NOVA, CLAUDE_HAIKU, LLAMA_PROMPT_COMPLETION)
RECORD_SIZES = {"0.5kb": 500, "2kb": 2_000, "12kb": 12_000}
UNDER_FRACTION = 0.9
"""An under-limit file holds at most this share of the family's record limit."""
OVER_FACTOR = 2
"""A far-over file holds this many times the family's record limit."""
POOL = 256
"""Distinct record bodies a file cycles through; each line also carries its own number, so no two
lines are equal (duplicates would only add warnings) while generating stays I/O-bound."""
NUMBER_MARK = "\u2063"
"""Where a record's line number goes (an invisible separator no generated text contains)."""
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
class Shape:
    family: ModelFamily
    size: str
    """A RECORD_SIZES key."""
    multi_turn: bool
    over_limit: bool

    @property
    def name(self) -> str:
        fmt = {DataFormat.CONVERSATION: "nova", DataFormat.CLAUDE_MESSAGES: "claude"}.get(
            self.family.data_format, "prompt_completion"
        )
        turns = "multi" if self.multi_turn else "single"
        return f"{fmt}_{self.size.replace('.', '_')}_{turns}_{'over' if self.over_limit else 'under'}"

    def records(self, size_mb: float) -> int:
        if self.over_limit:
            return OVER_FACTOR * self.family.max_records
        fitting = math.ceil(size_mb * MB / RECORD_SIZES[self.size])
        return max(self.family.min_records, min(int(UNDER_FRACTION * self.family.max_records), fitting))


def shapes() -> list[Shape]:
    """The matrix: every family x record size x turns (conversations) x under / far over the limit."""
    matrix = []
    for family in FAMILIES:
        turns = (False,) if family.data_format is DataFormat.PROMPT_COMPLETION else (False, True)
        for size in RECORD_SIZES:
            for multi_turn in turns:
                for over_limit in (False, True):
                    matrix.append(Shape(family, size, multi_turn, over_limit))
    return matrix


@dataclass(frozen=True)
class GeneratedFile:
    path: Path
    size_bytes: int
    records: int


def generate(path: Path, shape: Shape, records: int, seed: int = SEED) -> GeneratedFile:
    """Write `records` valid, distinct records of `shape`, deterministically.

    Records vary like real support transcripts: an optional system prompt, short questions and
    long answers, paragraphs, quotes, non-ASCII text (half the bodies written with `\\u` escapes,
    as `json.dumps` does by default) and the characters the reserved-token check keys on.
    """
    rng = random.Random(seed)
    pool = _sentence_pool(rng)
    sentence_chars = sum(map(len, pool)) / len(pool) + 1
    mean_chars = RECORD_SIZES[shape.size]
    bodies = []
    for index in range(POOL):
        record = _record(rng, shape, mean_chars, pool, sentence_chars)
        text = json.dumps(record, ensure_ascii=index % 2 == 1)
        head, tail = text.split(NUMBER_MARK if index % 2 == 0 else "\\u2063")
        bodies.append((head.encode(), tail.encode() + b"\n"))
    written = 0
    with path.open("wb") as handle:
        for number in range(records):
            before, after = bodies[number % POOL]
            line = b"%s%d%s" % (before, number, after)
            handle.write(line)
            written += len(line)
    return GeneratedFile(path, written, records)


def generate_evaluation_set(path: Path, records: int = EVALUATION_RECORDS, seed: int = SEED) -> Path:
    """An evaluation set of `records` support questions of one or two sentences (about 40 to 160
    characters), in Bedrock's evaluation format, from sentences of their own (a pool the training
    files do not use): same vocabulary, no duplicates of the training questions."""
    rng = random.Random(seed + 1)
    pool = _sentence_pool(rng)
    sentence_chars = sum(map(len, pool)) / len(pool) + 1
    with path.open("w") as handle:
        for number in range(records):
            prompt = _text(rng, rng.choice((40, 80, 160)), pool, sentence_chars)
            reference = _text(rng, 200, pool, sentence_chars)
            row = {"prompt": prompt, "referenceResponse": reference, "category": f"c{number % 12}"}
            handle.write(json.dumps(row) + "\n")
    return path


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
    if chars < sentence_chars / 2:  # a short turn: the start of a sentence, cut at a word
        sentence = rng.choice(pool)
        return sentence[: max(int(chars), 8)].rsplit(" ", 1)[0] or sentence
    sentences = rng.choices(pool, k=max(1, round(chars / sentence_chars)))
    paragraph = rng.randint(3, 7)
    return "\n\n".join(
        " ".join(sentences[start : start + paragraph]) for start in range(0, len(sentences), paragraph)
    )


def _record(
    rng: random.Random, shape: Shape, mean_chars: float, pool: list[str], sentence_chars: float
) -> dict[str, Any]:
    """One record; its first question starts with NUMBER_MARK, replaced by the line's number."""
    pairs = rng.randint(2, 4) if shape.multi_turn else 1
    # The JSON around the texts: about 45 bytes a turn (nova's blocks), 35 for claude's.
    around = 60 + 2 * pairs * (45 if shape.family.data_format is DataFormat.CONVERSATION else 35)
    text_chars = max(mean_chars - around, 20 * pairs)
    # Log-normal lengths (sigma 0.5, mean `text_chars`), capped at 4 x the mean
    # and below the `near_token_limit` line (0.9 x the limit at characters / 3) with room to spare.
    cap = 2.4 * shape.family.max_tokens_per_record
    chars = min(rng.lognormvariate(math.log(text_chars) - 0.125, 0.5), 4 * text_chars, cap)
    system = None
    if rng.random() < 0.7:
        system = _text(rng, min(max(0.15 * chars, 20), 300), pool, sentence_chars)
        chars = max(chars - len(system), 10 * pairs)
    exchanges = []
    for pair in range(pairs):
        question = _text(rng, 0.15 * chars / pairs, pool, sentence_chars)
        if pair == 0:
            question = f"Ticket {NUMBER_MARK}. {question}"
        exchanges.append((question, _text(rng, 0.85 * chars / pairs, pool, sentence_chars)))
    data_format = shape.family.data_format
    if data_format is DataFormat.PROMPT_COMPLETION:
        question, answer = exchanges[0]
        return {"prompt": question if system is None else f"{system}\n\n{question}", "completion": answer}
    messages: list[dict[str, Any]] = []
    for question, answer in exchanges:
        if data_format is DataFormat.CLAUDE_MESSAGES:
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        else:
            messages += [
                {"role": "user", "content": [{"text": question}]},
                {"role": "assistant", "content": [{"text": answer}]},
            ]
    if data_format is DataFormat.CLAUDE_MESSAGES:
        return {"system": system, "messages": messages} if system is not None else {"messages": messages}
    record: dict[str, Any] = {"schemaVersion": CONVERSATION_SCHEMA_VERSION}
    if system is not None:
        record["system"] = [{"text": system}]
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


def measure_here(
    side: str, path: Path, family: ModelFamily = NOVA, evaluation_set: Path | None = None
) -> dict[str, Any]:
    """`side` ("validator", "leakage": the validator with the leakage check against `evaluation_set`,
    or "floor") over `path` in this process, pass after pass for at least MIN_MEASURED_SECONDS; call in
    a fresh one. `bytes` is what all the passes read; the records and counts are one pass's."""
    check = None
    result: dict[str, Any] = {"side": side}
    if side == "leakage":
        if evaluation_set is None:
            raise ValueError("the leakage side needs an evaluation set")
        check, result["index_seconds"] = _leakage_check(evaluation_set)
    if side not in ("validator", "leakage", "floor"):
        raise ValueError(f"unknown side {side!r}")
    baseline = _rss_kib()
    size = path.stat().st_size
    passes = 0
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    while not passes or time.perf_counter() - start < MIN_MEASURED_SECONDS:
        passes += 1
        if side == "floor":
            records = 0
            with path.open("rb") as handle:
                for line in handle:
                    json.loads(line)
                    records += 1
            result["records"] = records
            continue
        fresh = type(check)(check.index) if check is not None else None  # no findings carried over
        report = validate_lines(split_lines(_file_chunks(path)), family, declared_size=size, leakage=fresh)
        result.update(valid=report.valid, records=report.records, counts=report.counts)
        if fresh is not None:
            result["matched"] = len(fresh.findings)
    result["seconds"] = time.perf_counter() - start
    result["cpu_seconds"] = _cpu_seconds() - cpu_start
    result.update(passes=passes, bytes=size * passes, baseline_rss_kib=baseline, peak_rss_kib=_rss_kib())
    return result


def _leakage_check(evaluation_set: Path) -> tuple[LeakageCheck, float]:
    """The Validate step's check against `evaluation_set` (the default config), and the seconds its
    index took to build (the set parsed as Validate parses it). Imported here: the other sides' peak
    RSS is theirs, not that of the models the check's config is."""
    from iterft_runtime.logic.evaluation import parse_evaluation_set
    from iterft_runtime.logic.leakage import LeakageCheck, LeakageIndex
    from iterft_runtime.models.leakage import LeakageConfig

    start = time.perf_counter()
    parsed = parse_evaluation_set(_file_chunks(evaluation_set), str(evaluation_set))
    index = LeakageIndex(((item.line, item.prompt) for item in parsed.items), LeakageConfig())
    return LeakageCheck(index), time.perf_counter() - start


def measure(
    side: str, path: Path, family: ModelFamily = NOVA, evaluation_set: Path | None = None
) -> dict[str, Any]:
    """`measure_here` in a fresh interpreter, so the peak RSS is that side's alone."""
    extra = [str(evaluation_set)] if evaluation_set is not None else []
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.validation", side, str(path), family.model or family.name, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the {side} run failed:\n{completed.stderr}")
    measured: dict[str, Any] = json.loads(completed.stdout)
    return measured


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's figures over repeated runs: the highest throughput and the least CPU time a byte (the
    least disturbed by other load; runs read the file a different number of times), the highest peak
    RSS and increase (memory is not noise)."""
    fastest = max(runs, key=lambda run: run["bytes"] / run["seconds"])
    return {
        **fastest,
        "cpu_seconds_per_byte": min(run["cpu_seconds"] / run["bytes"] for run in runs),
        "peak_rss_kib": max(run["peak_rss_kib"] for run in runs),
        "rss_increase_kib": max(run["peak_rss_kib"] - run["baseline_rss_kib"] for run in runs),
    }


def expected_counts(shape: Shape) -> dict[str, int]:
    return {"too_many_records": 1} if shape.over_limit else {}


def figures(
    shape: Shape,
    generated: GeneratedFile,
    validator_runs: list[dict[str, Any]],
    floor_runs: list[dict[str, Any]],
    leakage_runs: Sequence[dict[str, Any]] = (),
) -> Iterator[Figure]:
    """One shape's printed figures; refuses a file the validator did not judge as generated."""
    for validator in [*validator_runs, *leakage_runs]:
        if validator["counts"] != expected_counts(shape) or validator["records"] != generated.records:
            raise RuntimeError(f"{shape.name}: the generated file is not judged as expected: {validator}")
        if validator.get("matched"):
            raise RuntimeError(f"{shape.name}: the leakage check matched generated records: {validator}")
    for floor in floor_runs:
        if floor["records"] != generated.records:
            raise RuntimeError(f"the floor read {floor['records']} lines, not {generated.records}")
    prefix = shape.name + "."
    yield Figure(prefix + "file_size_mb", generated.size_bytes / MB)
    yield Figure(prefix + "records", generated.records)
    yield Figure(prefix + "mean_record_bytes", round(generated.size_bytes / generated.records))
    sides = {"validator": best(validator_runs), "floor": best(floor_runs)}
    throughput = {name: side["bytes"] / MB / side["seconds"] for name, side in sides.items()}
    for name in sides:
        yield Figure(f"{prefix}{name}_throughput_mb_s", throughput[name])
    ratio = throughput["validator"] / throughput["floor"]
    yield Figure(prefix + "throughput_ratio", ratio, 2)
    # Both sides are single-threaded, so this one barely moves when other processes share the cores.
    yield Figure(
        prefix + "cpu_time_ratio",
        sides["floor"]["cpu_seconds_per_byte"] / sides["validator"]["cpu_seconds_per_byte"],
        2,
    )
    for name, side in sides.items():
        yield Figure(f"{prefix}{name}_peak_rss_mb", side["peak_rss_kib"] / 1024)
    yield Figure(prefix + "target_throughput_met", ratio >= THROUGHPUT_TARGET_RATIO)
    yield Figure(prefix + "target_memory_met", sides["validator"]["peak_rss_kib"] / 1024 < MEMORY_TARGET_MB)
    if leakage_runs:
        checked = best(list(leakage_runs))
        checked_mb_s = checked["bytes"] / MB / checked["seconds"]
        yield Figure(prefix + "validator_with_leakage_check_throughput_mb_s", checked_mb_s)
        leakage_ratio = checked_mb_s / throughput["validator"]
        yield Figure(prefix + "leakage_check_throughput_ratio", leakage_ratio, 2)
        cpu_ratio = sides["validator"]["cpu_seconds_per_byte"] / checked["cpu_seconds_per_byte"]
        yield Figure(prefix + "leakage_check_cpu_time_ratio", cpu_ratio, 2)
        yield Figure(prefix + "validator_with_leakage_check_peak_rss_mb", checked["peak_rss_kib"] / 1024)
        yield Figure(prefix + "target_leakage_check_met", leakage_ratio >= LEAKAGE_TARGET_RATIO)


def run(options: Options) -> Iterator[Figure]:
    chosen = [shape for shape in shapes() if not options.shapes or shape.name in options.shapes]
    yield Figure("shapes", len(chosen))
    yield Figure("runs_per_side", options.repeats)
    yield Figure("evaluation_set_records", EVALUATION_RECORDS)
    met = 0
    builds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="iterft-bench-") as directory:
        evaluation_set = generate_evaluation_set(Path(directory) / "eval.jsonl")
        for shape in chosen:
            runs: dict[str, list[dict[str, Any]]] = {"floor": [], "validator": [], "leakage": []}
            path = Path(directory) / "train.jsonl"
            generated = generate(path, shape, shape.records(options.size_mb))
            for _ in range(options.repeats):  # interleaved, so a burst of other load hits every side
                for side, side_runs in runs.items():
                    side_runs.append(measure(side, path, shape.family, evaluation_set))
            path.unlink()
            builds += [run["index_seconds"] for run in runs["leakage"]]
            shown = list(figures(shape, generated, runs["validator"], runs["floor"], runs["leakage"]))
            met += all(figure.value for figure in shown if figure.name.endswith("_met"))
            yield from shown
    yield Figure("leakage_index_build_seconds", min(builds, default=0.0), 3)
    yield Figure("shapes_meeting_targets", met)
    yield Figure("all_targets_met", met == len(chosen))


BENCHMARK = Benchmark(
    name="validation",
    measures=(
        "streaming validator (split_lines + validate_lines over 64 KiB chunks, as `iterft validate`) "
        "vs the floor of json.loads on every line of the same file, per shape of a matrix: nova, "
        "claude-haiku and llama prompt/completion x records of ~0.5, 2 and 12 KB x single- and "
        "multi-turn x under the record limit (at most --size-mb MiB) and twice over it (read to the "
        "end); each side --repeats times, interleaved, each run in a fresh process reading the file "
        f"pass after pass for at least {MIN_MEASURED_SECONDS} s: best wall and "
        "CPU time, highest peak RSS (ru_maxrss, resource-based); targets per shape (wall-clock "
        f"throughput): throughput >= {THROUGHPUT_TARGET_RATIO} x floor, peak RSS < {MEMORY_TARGET_MB} MiB; "
        "and the validator with the leakage check on (default config) against a "
        f"{EVALUATION_RECORDS:,}-record evaluation set: throughput >= {LEAKAGE_TARGET_RATIO} x the "
        "validator's alone"
    ),
    run=run,
)


if __name__ == "__main__":
    evaluation = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    print(json.dumps(measure_here(sys.argv[1], Path(sys.argv[2]), family_named(sys.argv[3]), evaluation)))
