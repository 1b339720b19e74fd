"""The exact path for one line: bytes to a parsed record to every rule, each problem with its line.

Lines are parsed with orjson, which is strict JSON (RFC 8259) where Python's `json` module is
not: NaN and Infinity, numbers too large for a double and escaped lone surrogates are
`invalid_json`, as is nesting past MAX_NESTING levels (`json` crashed on the deepest). Integers
past 64 bits become doubles. A key that appears twice in one object keeps its last value, as
with `json`; it is not reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from iterft_runtime.logic.lines import TruncatedLine
from iterft_runtime.logic.validation_duplicates import MAX_NESTING, DuplicateWindow, TooDeep, canonical
from iterft_runtime.logic.validation_report import ValidationReport
from iterft_runtime.logic.validation_rules import (
    CHARS_PER_TOKEN,
    MEDIA_KINDS,
    NEAR_LIMIT_FRACTION,
    Add,
    ConversationRules,
    check_claude_messages,
    check_prompt_completion,
    estimate_tokens,
    reserved_in,
    reserved_index,
    type_name,
)
from iterft_runtime.models.families import DataFormat, ModelFamily

UTF8_BOM = b"\xef\xbb\xbf"
COMPRESSED_MAGIC = (
    (b"\x1f\x8b", "gzip", "gunzip FILE"),
    (b"BZh", "bzip2", "bunzip2 FILE"),
    (b"\xfd7zXZ\x00", "xz", "unxz FILE"),
    (b"\x28\xb5\x2f\xfd", "zstd", "unzstd FILE"),
    (b"PK\x03\x04", "zip", "unzip FILE"),
)
"""What compressed files start with, and how to decompress them."""
ENCODING_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 LE"),
    (b"\x00\x00\xfe\xff", "UTF-32 BE"),
    (b"\xff\xfe", "UTF-16 LE"),
    (b"\xfe\xff", "UTF-16 BE"),
)
"""Byte order marks, longest first (UTF-32 LE's begins with UTF-16 LE's)."""


class RecordChecker:
    """Per-line checks; holds only the bounded duplicate window and two media line numbers between lines."""

    def __init__(self, family: ModelFamily, report: ValidationReport) -> None:
        self.family = family
        self.report = report
        self.reserved = family.reserved_tokens
        self.reserved_by_last = reserved_index(self.reserved)
        self.duplicates = DuplicateWindow()
        """Shared with the fast path (see validation_duplicates)."""
        self.conversation = ConversationRules(family)
        self.first_media_line = self.conversation.first_media_line
        """Media kind -> the first line with it: a file is text with images or with videos, not both."""
        self.check_format: Callable[[int, dict[str, Any], Add], Iterator[str]] = {
            DataFormat.PROMPT_COMPLETION: check_prompt_completion,
            DataFormat.CLAUDE_MESSAGES: check_claude_messages,
            DataFormat.CONVERSATION: self.conversation.check,
        }[family.data_format]

    def check_line(self, number: int, raw: bytes) -> None:
        """Every rule for one line (its first bytes, when line 1, are checked by check_first_bytes)."""
        add = self.report.add
        if isinstance(raw, TruncatedLine):
            self.report.records += 1
            add(
                number,
                "too_many_tokens",
                f"the line is {raw.full_length:,} bytes, far beyond any token limit",
            )
            return
        if not raw or raw.isspace():
            add(number, "blank_line", "blank line (skipped)")
            return
        self.report.records += 1
        if number == 1 and raw.startswith(UTF8_BOM):
            add(number, "utf8_bom", "the file starts with a UTF-8 byte order mark; save it without one")
            return
        try:
            record = orjson.loads(raw)  # checks UTF-8 itself; JSON whitespace includes the b"\r\n"
        except orjson.JSONDecodeError as error:
            report_unparsable(number, raw, error, add)
            return
        if type(record) is not dict:
            add(number, "not_object", f"each line must be a JSON object, found {type_name(record)}")
            return
        try:
            form = canonical(record)
        except TooDeep:
            add(number, "invalid_json", f"invalid JSON: nested more than {MAX_NESTING} levels deep")
            return
        texts = list(self.check_format(number, record, add))
        self._check_texts(number, texts)
        self._check_duplicate(number, form)

    def check_first_bytes(self, raw: bytes) -> None:
        check_first_bytes(raw, self.report.add)

    def check_file(self) -> None:
        """File-level rules that need every line seen: one media modality a file."""
        if len(self.first_media_line) == len(MEDIA_KINDS):
            image, video = (self.first_media_line[kind] for kind in MEDIA_KINDS)
            self.report.add(
                None,
                "mixed_media",
                f"the file has images (first on line {image}) and videos (first on line {video}); "
                "a file may hold text with images or text with videos, not both",
            )

    def _check_texts(self, number: int, texts: list[str]) -> None:
        if self.reserved:
            # "\0" joins: no token contains it, so no match spans two texts.
            found = reserved_in("\0".join(texts), self.reserved_by_last)
            for token in self.reserved:
                if token in found:
                    self.report.add(number, "reserved_token", f"text contains the reserved token {token!r}")
        limit = self.family.max_tokens_per_record
        chars = sum(map(len, texts))
        # A text of n chars has at most (n + 1) // 2 words, so its estimate is at most 0.75 n + 2:
        # below the warning line, the exact count (splitting every text into words) can't matter,
        # and the dataset's total counts the record by its characters alone (see estimated_tokens).
        if 0.75 * chars + 2 * len(texts) <= NEAR_LIMIT_FRACTION * limit:
            self.report.estimated_tokens += math.ceil(chars / CHARS_PER_TOKEN)
            return
        tokens = sum(estimate_tokens(text) for text in texts)
        self.report.estimated_tokens += tokens
        if tokens > limit:
            self.report.add(number, "too_many_tokens", f"about {tokens:,} tokens; the limit is {limit:,}")
        elif tokens > NEAR_LIMIT_FRACTION * limit:
            self.report.add(
                number, "near_token_limit", f"about {tokens:,} tokens, close to the limit of {limit:,}"
            )

    def _check_duplicate(self, number: int, form: tuple[Any, ...]) -> None:
        first = self.duplicates.first_line(number, hash(form))
        if first is not None:
            self.report.add(number, "duplicate_record", f"same record as line {first}")


def check_first_bytes(raw: bytes, add: Add) -> None:
    """A compressed file, or text in UTF-16 or UTF-32, named from the file's first bytes.

    Only line 1 is looked at (the hot loop is unchanged); the lines are still checked one by one,
    so their own problems (`invalid_utf8`, `invalid_json`) follow this one.
    """
    for magic, kind, command in COMPRESSED_MAGIC:
        if raw.startswith(magic):
            add(
                1,
                "compressed_file",
                f"the file is {kind}-compressed (it starts with {magic.hex(' ')}); decompress it "
                f"({command}) and upload the JSONL text",
            )
            return
    encoding = next((name for bom, name in ENCODING_BOMS if raw.startswith(bom)), None)
    found, source = "", ""
    if encoding is not None:
        found = f"the byte order mark {raw[: 4 if '32' in encoding else 2].hex(' ')}"
        source = encoding.split()[0]  # iconv reads the byte order from the mark, and drops it
    head = raw[:4]
    if encoding is None and len(head) == 4 and b"\x00" in head:
        # JSON text starts with an ASCII character: the zeros around it give the encoding away.
        encodings: dict[tuple[bool, ...], str] = {
            (False, True, True, True): "UTF-32 LE",
            (True, True, True, False): "UTF-32 BE",
            (False, True, False, True): "UTF-16 LE",
            (True, False, True, False): "UTF-16 BE",
        }
        encoding = encodings.get(tuple(byte == 0 for byte in head))
        found = f"zero bytes around its characters ({head.hex(' ')})"
        source = (encoding or "").replace(" ", "")
    if encoding is not None:
        add(
            1,
            "wrong_encoding",
            f"the file is {encoding} text (it starts with {found}); save it as UTF-8 without a byte order "
            f"mark (e.g. iconv -f {source} -t UTF-8 FILE)",
        )


def report_unparsable(number: int, raw: bytes, error: orjson.JSONDecodeError, add: Add) -> None:
    """Why a line is not JSON: bytes that are not UTF-8 first (with the byte), else the parser's reason.

    orjson is stricter than the `json` module, and Bedrock's reader should be too: NaN and
    Infinity, numbers too large for a double and escaped lone surrogates are not JSON.
    """
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        add(number, "invalid_utf8", f"not UTF-8 at byte {bad.start + 1} of the line")
        return
    add(number, "invalid_json", f"invalid JSON: {error.msg} (column {error.colno})")
