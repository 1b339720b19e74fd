"""Streaming validation of a training (or validation) JSONL file against a model family's rules.

One pass, one line in memory at a time: every problem is reported with its 1-based line number
and a stable `code`, the validator keeps going after a bad line, per-code counts are exact and
the listed examples are capped so a report of a million-line file stays small.

Each line first tries the fast path (validation_fast: typed decoders that validate while parsing,
then the few rules no decoder can express), which only proves a line clean; a line it cannot
prove clean takes the exact path (validation_records, with the rules in validation_rules), which
reports every problem as it always has. So the problems and messages are those of the exact path,
and clean files, nearly all lines of any file, validate at the speed of parsing (`make bench`).

The modules: validation_report (codes, the report), validation_rules (what each format must meet),
validation_records (the exact path for a line), validation_fast (the fast path),
validation_duplicates (the digests and their bounded window). This module keeps the public names.
"""

from __future__ import annotations

from collections.abc import Iterable

from iterft_runtime.logic.lines import TruncatedLine
from iterft_runtime.logic.validation_duplicates import DUPLICATE_WINDOW, MAX_NESTING
from iterft_runtime.logic.validation_fast import IMAGE, fast_check
from iterft_runtime.logic.validation_records import RecordChecker
from iterft_runtime.logic.validation_report import (
    CODES,
    MAX_EXAMPLES_PER_CODE,
    Problem,
    Severity,
    ValidationReport,
)
from iterft_runtime.logic.validation_rules import (
    CHARS_PER_TOKEN,
    CONVERSATION_SCHEMA_VERSION,
    MEDIA_KINDS,
    NEAR_LIMIT_FRACTION,
    RESERVED_CHECKS_PER_CHAR,
    WORDS_TO_TOKENS,
    estimate_tokens,
)
from iterft_runtime.logic.validation_strategies import needs_own_rules, validate_strategy_lines
from iterft_runtime.models.families import ModelFamily
from iterft_runtime.models.strategy_names import Strategy

__all__ = [
    "CHARS_PER_TOKEN",
    "CODES",
    "CONVERSATION_SCHEMA_VERSION",
    "DUPLICATE_WINDOW",
    "MAX_EXAMPLES_PER_CODE",
    "MAX_NESTING",
    "NEAR_LIMIT_FRACTION",
    "RESERVED_CHECKS_PER_CHAR",
    "WORDS_TO_TOKENS",
    "Problem",
    "Severity",
    "ValidationReport",
    "estimate_tokens",
    "validate_lines",
]


def validate_lines(
    lines: Iterable[bytes],
    family: ModelFamily,
    *,
    validation_file: bool = False,
    declared_size: int | None = None,
    strategy: Strategy = Strategy.FINE_TUNING,
) -> ValidationReport:
    """Validate JSONL `lines` (bytes, trailing newline optional) for `family`, in one streaming pass.

    `declared_size` (the object's size, when known up front) lets an oversized file be refused
    without reading it. Reading also stops once the bytes seen pass the family's file limit.
    `strategy` is the round's: data of any other than fine-tuning, and a family with rules of its own
    (Nova 2 Lite), are checked by validation_strategies, on the exact path.
    """
    if needs_own_rules(family, strategy):
        return validate_strategy_lines(
            lines, family, strategy, validation_file=validation_file, declared_size=declared_size
        )
    report = ValidationReport(
        family=family.name,
        data_format=family.data_format.value,
        model=family.model,
        validation_file=validation_file,
    )
    if validation_file:
        min_records, max_records = 1, family.validation_max_records
        max_bytes = family.validation_max_file_bytes
    else:
        min_records, max_records, max_bytes = family.min_records, family.max_records, family.max_file_bytes
    if declared_size is not None and declared_size > max_bytes:
        report.size_bytes = declared_size
        report.add(None, "file_too_large", _too_large(declared_size, max_bytes, validation_file))
        return report

    checker = RecordChecker(family, report)
    _read(lines, checker, max_bytes, validation_file)
    checker.check_file()

    if report.records == 0:
        report.add(None, "empty_file", "the file has no records")
    elif report.records < min_records:
        report.add(None, "too_few_records", f"{report.records} records; at least {min_records} are needed")
    elif report.records > max_records:
        report.add(None, "too_many_records", f"{report.records} records; at most {max_records} are allowed")
    report.problems.sort(key=lambda problem: (problem.line is None, problem.line or 0))
    return report


def _read(lines: Iterable[bytes], checker: RecordChecker, max_bytes: int, validation_file: bool) -> None:
    """Every line through the fast path, else the exact one, until the end or the size limit.

    The loop is the only per-line Python the fast path adds: its state lives in locals and is
    written to the report at the end.
    """
    report = checker.report
    fast = fast_check(checker.family)
    first_lines = checker.duplicates.first_lines
    first_media_line = checker.first_media_line
    size = records = tokens = 0
    for number, raw in enumerate(lines, start=1):
        truncated = raw.__class__ is TruncatedLine
        size += raw.full_length if truncated else len(raw)  # type: ignore[attr-defined]  # a TruncatedLine, checked above
        if size > max_bytes:
            report.add(
                None,
                "file_too_large",
                _too_large(size, max_bytes, validation_file) + "; reading stopped here",
            )
            break
        if number == 1:
            checker.check_first_bytes(raw)
        if not truncated:
            found = fast(raw)
            if found is not None:
                records += 1
                tokens += found[0]
                first = first_lines.get(found[1])
                if first is not None:
                    report.add(number, "duplicate_record", f"same record as line {first}")
                elif len(first_lines) < DUPLICATE_WINDOW:
                    first_lines[found[1]] = number
                if found[2]:
                    first_media_line.setdefault(MEDIA_KINDS[found[2] - IMAGE], number)
                continue
        checker.check_line(number, raw)
    report.size_bytes = size
    report.records += records
    report.estimated_tokens += tokens


def _too_large(size: int, limit: int, validation_file: bool) -> str:
    kind = "validation" if validation_file else "training"
    return f"the file is over {size:,} bytes; a {kind} file may have at most {limit:,}"
