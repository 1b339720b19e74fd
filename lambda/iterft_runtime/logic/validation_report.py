"""What a validation finds: the problem codes with their severity, and the bounded report.

Counts per code are exact; the listed examples are capped (MAX_EXAMPLES_PER_CODE a code), so the
report of a million-line file stays small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


CODES: dict[str, Severity] = {
    # per line
    "invalid_utf8": Severity.ERROR,
    "utf8_bom": Severity.ERROR,
    "compressed_file": Severity.ERROR,
    "wrong_encoding": Severity.ERROR,
    "invalid_json": Severity.ERROR,
    "not_object": Severity.ERROR,
    "missing_key": Severity.ERROR,
    "wrong_type": Severity.ERROR,
    "bad_schema_version": Severity.ERROR,
    "no_messages": Severity.ERROR,
    "bad_role": Severity.ERROR,
    "roles_not_alternating": Severity.ERROR,
    "must_start_with_user": Severity.ERROR,
    "must_end_with_assistant": Severity.ERROR,
    "unexpected_key": Severity.ERROR,
    "unsupported_content": Severity.ERROR,
    "media_in_assistant_turn": Severity.ERROR,
    "bad_media_format": Severity.ERROR,
    "bad_media_source": Severity.ERROR,
    "too_many_images": Severity.ERROR,
    "too_many_videos": Severity.ERROR,
    "mixed_media": Severity.ERROR,
    "empty_text": Severity.ERROR,
    "reserved_token": Severity.ERROR,
    "too_many_tokens": Severity.ERROR,
    # per line, data of other strategies than fine-tuning and Nova 2 Lite's (validation_strategies)
    "multi_turn_prompt": Severity.ERROR,
    "must_end_with_user": Severity.ERROR,
    "system_not_first": Severity.ERROR,
    "reasoning_in_user_turn": Severity.ERROR,
    "reasoning_without_answer": Severity.ERROR,
    "tool_use_unsupported": Severity.ERROR,
    # per line, the leakage check (logic/leakage.py): a prompt that duplicates an evaluation prompt, under
    # the lineage's leakage.action: reject, drop, warn
    "evaluation_prompt": Severity.ERROR,
    "evaluation_prompt_dropped": Severity.WARNING,
    "evaluation_prompt_kept": Severity.WARNING,
    "blank_line": Severity.WARNING,
    "duplicate_record": Severity.WARNING,
    "near_token_limit": Severity.WARNING,
    # whole file (line None)
    "empty_file": Severity.ERROR,
    "too_few_records": Severity.ERROR,
    "too_many_records": Severity.ERROR,
    "file_too_large": Severity.ERROR,
    "unsupported_strategy": Severity.ERROR,
    "no_validation_file": Severity.ERROR,
    # "mixed_media" also comes without a line: images in one record, videos in another.
}

MAX_EXAMPLES_PER_CODE = 50


@dataclass(frozen=True)
class Problem:
    line: int | None
    code: str
    message: str

    @property
    def severity(self) -> Severity:
        return CODES[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
        }


@dataclass
class ValidationReport:
    family: str
    data_format: str
    model: str | None = None
    """Set when the limits were a model's own (e.g. Nova Micro's), None for the family defaults."""
    validation_file: bool = False
    strategy: str = "fine_tuning"
    """The training strategy whose data the file was checked as (a models.strategy_names.Strategy value)."""
    records: int = 0
    size_bytes: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    """Exact number of problems per code."""
    problems: list[Problem] = field(default_factory=list)
    """Examples, at most MAX_EXAMPLES_PER_CODE per code, in line order (file-level ones last)."""
    estimated_tokens: int = 0
    """The texts' tokens, summed over the records (what a round's cost estimate trains on): a
    record's characters / 3, or its full estimate where the token limit made the validator count
    words too. Splitting every text into words took longer than the whole validation (measured
    on the benchmark's 40 MB file); characters / 3 is what the full estimate comes to on prose,
    where the words x 1.5 term only wins at under 4.5 characters a word."""

    @property
    def valid(self) -> bool:
        return not any(CODES[code] is Severity.ERROR for code in self.counts)

    @property
    def error_count(self) -> int:
        return sum(n for code, n in self.counts.items() if CODES[code] is Severity.ERROR)

    @property
    def warning_count(self) -> int:
        return sum(n for code, n in self.counts.items() if CODES[code] is Severity.WARNING)

    def add(self, line: int | None, code: str, message: str) -> None:
        seen = self.counts.get(code, 0)
        self.counts[code] = seen + 1
        if seen < MAX_EXAMPLES_PER_CODE:
            self.problems.append(Problem(line, code, message))

    def summary(self) -> str:
        """One readable sentence: what is wrong (or that nothing is), most frequent codes first."""
        if not self.counts:
            return f"{self.records} records, no problems"
        by_count = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        listed = ", ".join(f"{code} x{count}" for code, count in by_count)
        verdict = "valid" if self.valid else "invalid"
        return (
            f"{verdict}: {self.records} records, {self.error_count} errors, "
            f"{self.warning_count} warnings ({listed})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "family": self.family,
            "model": self.model,
            "validation_file": self.validation_file,
            "strategy": self.strategy,
            "data_format": self.data_format,
            "records": self.records,
            "size_bytes": self.size_bytes,
            "estimated_tokens": self.estimated_tokens,
            "errors": self.error_count,
            "warnings": self.warning_count,
            "counts": dict(sorted(self.counts.items())),
            "problems": [problem.to_dict() for problem in self.problems],
            "examples_per_code": MAX_EXAMPLES_PER_CODE,
        }
