"""Streaming validation of a training (or validation) JSONL file against a model family's rules.

One pass, a batch of lines (about BATCH_BYTES) in memory at a time: every problem is reported
with its 1-based line number and a stable `code`, the validator keeps going after a bad line,
per-code counts are exact and the listed examples are capped so a report of a million-line file
stays small.

Each line first tries the fast path (validation_fast: typed decoders that validate while parsing,
then the few rules no decoder can express), which only proves a line clean; a line it cannot
prove clean takes the exact path (validation_records, with the rules in validation_rules), which
reports every problem as it always has. So the problems and messages are those of the exact path,
and clean files, nearly all lines of any file, validate at the speed of parsing (`make bench`).
Lines are read in batches (_Reader): a batch the fast path proves clean costs no Python a line
beyond the fast path's own; any other goes line by line, with the same result.

The modules: validation_report (codes, the report), validation_rules (what each format must meet),
validation_records (the exact path for a line), validation_fast (the fast path),
validation_duplicates (the digests and their bounded window). This module keeps the public names.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING, cast

from iterft_runtime.logic.lines import TruncatedLine
from iterft_runtime.logic.validation_duplicates import DUPLICATE_WINDOW, MAX_NESTING
from iterft_runtime.logic.validation_fast import IMAGE, Checked, FastPath
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

if TYPE_CHECKING:  # at run time the caller brings it: `iterft validate` imports no pydantic
    from iterft_runtime.logic.leakage import LeakageCheck

BATCH_BYTES = 64 * 1024
"""About how many bytes of lines _Reader checks together (a batch stays in the CPU's cache)."""
MAX_BATCH_LINES = 1_024
_TOKENS, _DIGEST, _MEDIA = itemgetter(0), itemgetter(1), itemgetter(2)
"""The items of a Checked."""

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
    leakage: LeakageCheck | None = None,
) -> ValidationReport:
    """Validate JSONL `lines` (bytes, trailing newline optional) for `family`, in one streaming pass.

    `declared_size` (the object's size, when known up front) lets an oversized file be refused
    without reading it. Reading also stops once the bytes seen pass the family's file limit.
    `strategy` is the round's: data of any other than fine-tuning, and a family with rules of its own
    (Nova 2 Lite), are checked by validation_strategies, on the exact path.
    `leakage`, when given, sees every line read (its findings are not added to the report here).
    """
    if leakage is not None and needs_own_rules(family, strategy):
        lines = leakage.watch(lines)
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
    _Reader(checker, max_bytes, validation_file, leakage).read(lines)
    checker.check_file()

    if report.records == 0:
        report.add(None, "empty_file", "the file has no records")
    elif report.records < min_records:
        report.add(None, "too_few_records", f"{report.records} records; at least {min_records} are needed")
    elif report.records > max_records:
        report.add(None, "too_many_records", f"{report.records} records; at most {max_records} are allowed")
    report.problems.sort(key=lambda problem: (problem.line is None, problem.line or 0))
    return report


class _Reader:
    """Every line through the fast path, else the exact one, until the end or the size limit.

    Lines come in batches of about BATCH_BYTES. The fast path checks a batch in one C-level loop
    (map); a batch it proves clean, no record a duplicate, is counted in a few C calls: no Python
    runs a line but the fast path's own. Any other batch (a line the fast path declines, a duplicate,
    media, line 1, a truncated line, the size limit) goes line by line, in order, as it always did
    (one_by_one), so every problem, count and example is what one line at a time makes.
    """

    def __init__(
        self, checker: RecordChecker, max_bytes: int, validation_file: bool, leakage: LeakageCheck | None
    ) -> None:
        self.checker = checker
        self.leakage = leakage
        """Shown each batch with what the fast path decoded of it (LeakageCheck.observe)."""
        self.path = FastPath(checker.family)
        self.max_bytes = max_bytes
        self.validation_file = validation_file
        self.size = self.records = self.tokens = 0
        """Bytes read, records and estimated tokens of the lines the fast path proved clean."""

    def read(self, lines: Iterable[bytes]) -> None:
        read = self.path.read
        first_lines = self.checker.duplicates.first_lines
        observe = self.leakage.observe if self.leakage is not None else None
        stream = iter(lines)
        number = 0  # the last line read
        wanted = 1  # lines in the next batch: line 1 alone (its first bytes are checked)
        while batch := list(islice(stream, wanted)):
            first, count = number + 1, len(batch)
            number += count
            batch_bytes = sum(map(len, batch))
            found: list[Checked | None] | None = None
            if (
                first > 1
                and self.size + batch_bytes <= self.max_bytes
                and TruncatedLine not in map(type, batch)
            ):
                found = list(map(read, batch))
            if observe is not None:
                observe(first, batch, found)
            if found is not None and None not in found:
                clean = cast(list[Checked], found)
                if not any(map(_MEDIA, clean)) and _remember(first_lines, list(map(_DIGEST, clean)), first):
                    self.size += batch_bytes
                    self.records += count
                    self.tokens += sum(map(_TOKENS, clean))
                    batch = []
            if batch and not self.one_by_one(first, batch, found):
                break
            # About BATCH_BYTES of lines like these next, no more than fit under the size limit
            # (so reading stops soon after it), and at least one.
            per_line = batch_bytes // count or 1
            wanted = max(
                1, min(MAX_BATCH_LINES, BATCH_BYTES // per_line, (self.max_bytes - self.size) // per_line)
            )
        report = self.checker.report
        report.size_bytes = self.size
        report.records += self.records
        report.estimated_tokens += self.tokens

    def one_by_one(self, first: int, batch: list[bytes], found: list[Checked | None] | None) -> bool:
        """Lines `first`, `first` + 1, ..., `found` what the fast path made of them (None: not known
        yet); False when the size limit stopped the reading."""
        checker, report, path = self.checker, self.checker.report, self.path
        first_line = checker.duplicates.first_line
        for number, raw in enumerate(batch, start=first):
            truncated = raw.__class__ is TruncatedLine
            self.size += raw.full_length if truncated else len(raw)  # type: ignore[attr-defined]  # a TruncatedLine, checked above
            if self.size > self.max_bytes:
                report.add(
                    None,
                    "file_too_large",
                    _too_large(self.size, self.max_bytes, self.validation_file) + "; reading stopped here",
                )
                return False
            if number == 1:
                checker.check_first_bytes(raw)
            if not truncated:
                result = path.read(raw) if found is None else found[number - first]
                if result is not None:
                    self.records += 1
                    self.tokens += result[0]
                    seen = first_line(number, result[1])
                    if seen is not None:
                        report.add(number, "duplicate_record", f"same record as line {seen}")
                    if result[2]:
                        checker.first_media_line.setdefault(MEDIA_KINDS[result[2] - IMAGE], number)
                    continue
            checker.check_line(number, raw)
        return True


def _remember(first_lines: dict[int, int], digests: list[int], first: int) -> bool:
    """Remember `digests`, of lines `first`, `first` + 1, ..., when none is a duplicate and all fit
    in the window (then True); else remember none (the batch goes line by line)."""
    fresh = dict(zip(digests, range(first, first + len(digests)), strict=True))
    if (
        len(fresh) < len(digests)
        or len(first_lines) + len(fresh) > DUPLICATE_WINDOW
        or not first_lines.keys().isdisjoint(fresh)
    ):
        return False
    first_lines.update(fresh)
    return True


def _too_large(size: int, limit: int, validation_file: bool) -> str:
    kind = "validation" if validation_file else "training"
    return f"the file is over {size:,} bytes; a {kind} file may have at most {limit:,}"
