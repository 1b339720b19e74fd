"""Amazon Comprehend's DetectPiiEntities on the embedded default: a documented stand-in, not Comprehend.

moto 5.2.5 answers DetectPiiEntities with one canned list of entities whatever the text (offsets into a
sentence of its own), which would redact the wrong characters. The stand-in finds, by pattern, the entity
types a support conversation most often carries and Comprehend reports with these names: EMAIL, PHONE
(North American numbers, with or without +1 and separators), SSN (ddd-dd-dddd), CREDIT_DEBIT_NUMBER
(13 to 19 digits, spaces or dashes allowed, passing the Luhn check), IP_ADDRESS (IPv4). It finds no names
or addresses (Comprehend's NAME and ADDRESS need a model). Each entity is `{Score, Type, BeginOffset,
EndOffset}` with character offsets, as Comprehend returns them. As Comprehend does, it refuses a text over
100,000 UTF-8 bytes (TextSizeLimitExceededException) and a language other than en or es.
"""

from __future__ import annotations

import re
from typing import Any

from moto.comprehend.exceptions import DetectPIIValidationException, TextSizeLimitExceededException
from moto.comprehend.models import ComprehendBackend

LANGUAGES = ["en", "es"]
MAX_BYTES = 100_000
SCORE = 0.99
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b")),
    ("SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("CREDIT_DEBIT_NUMBER", re.compile(r"\b\d(?:[ -]?\d){12,18}\b")),
    ("PHONE", re.compile(r"(?<![\w+])(\+?1[ .-]?)?(\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]?\d{4}\b")),
    ("IP_ADDRESS", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
)


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def detect_pii(text: str) -> list[dict[str, Any]]:
    """The entities the stand-in finds in `text`, by start offset; overlapping finds keep the first type."""
    found: list[dict[str, Any]] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(text):
            begin, end = match.span()
            if kind == "CREDIT_DEBIT_NUMBER" and not _luhn(re.sub(r"\D", "", match.group())):
                continue
            if any(begin < other_end and other_begin < end for other_begin, other_end in taken):
                continue
            taken.append((begin, end))
            found.append({"Score": SCORE, "Type": kind, "BeginOffset": begin, "EndOffset": end})
    return sorted(found, key=lambda entity: entity["BeginOffset"])


def _detect_pii_entities(self: ComprehendBackend, text: str, language: str) -> list[dict[str, Any]]:
    if language not in LANGUAGES:
        raise DetectPIIValidationException(language, LANGUAGES)
    size = len(text.encode())
    if size > MAX_BYTES:
        raise TextSizeLimitExceededException(size)
    return detect_pii(text)


def install_comprehend_standin() -> None:
    """Serve DetectPiiEntities from the stand-in (process-wide, idempotent)."""
    ComprehendBackend.detect_pii_entities = _detect_pii_entities  # type: ignore[method-assign]  # the stand-in replaces moto's canned answer
