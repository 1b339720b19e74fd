"""Feedback on live answers: `feedback/<lineage>/<name>.jsonl`, one record a line (docs/flywheel.md).

    {"request_id": "<the logged call's requestId>", "rating": 1..5, "corrected_answer": "<text>"?,
     "category": "<evaluation category>"?, "comment": "<text>"?}

`rating` is 1 (wrong) to 5 (exactly right); a `corrected_answer` is what the answer should have been
and becomes a fine-tuning answer whatever the rating. A file is checked whole, every problem with its line
(as datasets are): a file with any problem is not used by curation, which says so; a later file's record
for the same request replaces an earlier one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iterft_runtime.models.traffic import MAX_RATING, MIN_RATING

FEEDBACK_PREFIX = "feedback/"
FIELDS = ("request_id", "rating", "corrected_answer", "category", "comment")
MAX_REQUEST_ID = 256
MAX_TEXT = 100_000
"""Characters of a corrected answer or comment (a fine-tuning answer, not a document)."""


def feedback_prefix(lineage: str) -> str:
    return f"{FEEDBACK_PREFIX}{lineage}/"


def lineage_of_feedback_key(key: str) -> str | None:
    """`feedback/<lineage>/<file>` -> `<lineage>`; None for other keys (and folder markers)."""
    if not key.startswith(FEEDBACK_PREFIX):
        return None
    lineage, _, name = key[len(FEEDBACK_PREFIX) :].partition("/")
    return lineage if lineage and name and not name.endswith("/") else None


def report_document(uri: str, report: FeedbackReport, max_problems: int) -> dict[str, Any]:
    """What the arrival check records of a feedback file: valid or not, its records, every problem with
    its line (the first `max_problems`; `problem_count` has them all)."""
    return {
        "source": uri,
        "valid": report.valid,
        "records": len(report.records),
        "summary": report.summary(),
        "problem_count": len(report.problems),
        "problems": [{"line": line, "message": message} for line, message in report.problems[:max_problems]],
    }


@dataclass(frozen=True)
class Feedback:
    request_id: str
    rating: int
    corrected_answer: str | None = None
    category: str | None = None
    comment: str | None = None
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"request_id": self.request_id, "rating": self.rating}
        for name in ("corrected_answer", "category", "comment"):
            if getattr(self, name) is not None:
                record[name] = getattr(self, name)
        return record


@dataclass
class FeedbackReport:
    records: list[Feedback] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    """(line number, what is wrong), in line order."""

    @property
    def valid(self) -> bool:
        return not self.problems and bool(self.records)

    def summary(self) -> str:
        if self.valid:
            return f"{len(self.records)} feedback records"
        if not self.problems:
            return "no feedback records"
        return f"{len(self.problems)} problem(s), first: line {self.problems[0][0]}: {self.problems[0][1]}"


def check_feedback(lines: Iterable[bytes | str]) -> FeedbackReport:
    """Every record of a feedback file, and every problem with its line."""
    report = FeedbackReport()
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            report.problems.append((number, "not UTF-8 text"))
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            report.problems.append((number, "not JSON"))
            continue
        if not isinstance(value, Mapping):
            report.problems.append((number, "not a JSON object"))
            continue
        problems = _record_problems(value)
        request_id = value.get("request_id")
        if isinstance(request_id, str) and request_id in seen:
            problems.append(f"request_id {request_id!r} already has feedback on line {seen[request_id]}")
        report.problems += [(number, problem) for problem in problems]
        if problems or not isinstance(request_id, str):
            continue
        seen[request_id] = number
        report.records.append(
            Feedback(
                request_id=request_id,
                rating=value["rating"],
                corrected_answer=value.get("corrected_answer"),
                category=value.get("category"),
                comment=value.get("comment"),
                line=number,
            )
        )
    return report


def _record_problems(value: Mapping[str, Any]) -> list[str]:
    problems = [
        f"unknown field {name!r} (fields: {', '.join(FIELDS)})" for name in value if name not in FIELDS
    ]
    request_id = value.get("request_id")
    if not isinstance(request_id, str) or not request_id.strip():
        problems.append("request_id: required, the logged call's requestId (a non-empty string)")
    elif len(request_id) > MAX_REQUEST_ID:
        problems.append(f"request_id: longer than {MAX_REQUEST_ID} characters")
    rating = value.get("rating")
    if type(rating) is not int or not MIN_RATING <= rating <= MAX_RATING:
        problems.append(f"rating: required, a whole number from {MIN_RATING} to {MAX_RATING}, not {rating!r}")
    for name in ("corrected_answer", "category", "comment"):
        text = value.get(name)
        if name not in value:
            continue
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{name}: a non-empty string when given")
        elif len(text) > MAX_TEXT:
            problems.append(f"{name}: longer than {MAX_TEXT} characters")
    return problems


def latest_feedback(files: Iterable[tuple[str, FeedbackReport]]) -> dict[str, Feedback]:
    """Request id -> its feedback, from valid files in the given order (a later file's record wins)."""
    found: dict[str, Feedback] = {}
    for _, report in files:
        if report.valid:
            found.update((record.request_id, record) for record in report.records)
    return found
