"""Streaming validation of a training (or validation) JSONL file against a model family's rules.

One pass, one line in memory at a time: every problem is reported with its 1-based line number
and a stable `code`, the validator keeps going after a bad line, per-code counts are exact and
the listed examples are capped so a report of a million-line file stays small.

Token counts are estimated without a tokenizer, conservatively: `max(chars / 3, words * 1.5)`.
Common BPE tokenizers average about 4 characters and 1.3 tokens a word on English text, so
the estimate over-counts; a record it passes is very likely within the real limit, and
`near_token_limit` warns about records within 10% of it. (Titan's documented character quota,
6 characters a token, is looser than chars / 3, so it needs no check of its own.)

Lines are parsed with orjson, which is strict JSON (RFC 8259) where Python's `json` module is
not: NaN and Infinity, numbers too large for a double and escaped lone surrogates are
`invalid_json`, as is nesting past MAX_NESTING levels (`json` crashed on the deepest). Integers
past 64 bits become doubles. A key that appears twice in one object keeps its last value, as
with `json`; it is not reported.

Where the Bedrock guides are silent or disagree, the rule is the stricter one:
- schemaVersion must be "bedrock-conversation-2024": the Bedrock guide's format names it, while
  the Nova guide says any string; an exact value is never refused by either.
- Reserved tokens are refused in every text, the assistant's too (the guide names user and
  system prompts; AWS's Nova validator checks every text).
- Empty text is refused everywhere, system prompts included.
- Claude records carry only `system` and `messages`, messages only `role` and `content`
  (Anthropic's Bedrock fine-tuning guide: no extraneous keys).
- Images count per record, not per message, against the 10-image limit.
- Validation files: per-family caps where documented, else 1,000 records and 100 MB (see
  models/families.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from iterft_runtime.logic.lines import TruncatedLine
from iterft_runtime.models.families import DataFormat, MediaRules, ModelFamily


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
    "blank_line": Severity.WARNING,
    "duplicate_record": Severity.WARNING,
    "near_token_limit": Severity.WARNING,
    # whole file (line None)
    "empty_file": Severity.ERROR,
    "too_few_records": Severity.ERROR,
    "too_many_records": Severity.ERROR,
    "file_too_large": Severity.ERROR,
    # "mixed_media" also comes without a line: images in one record, videos in another.
}

CONVERSATION_SCHEMA_VERSION = DataFormat.CONVERSATION.value
CLAUDE_RECORD_KEYS = frozenset({"system", "messages"})
CLAUDE_MESSAGE_KEYS = frozenset({"role", "content"})
MEDIA_KINDS = ("image", "video")

MAX_EXAMPLES_PER_CODE = 50
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
MAX_NESTING = 254
"""Deepest nesting of objects and arrays checked (orjson parses 1,024); no record comes near it."""
DUPLICATE_WINDOW = 100_000
"""Records remembered for duplicate detection: above every family's record limit, so exact in practice."""
NEAR_LIMIT_FRACTION = 0.9
MAX_SHOWN_CHARS = 40
"""Longest quotation of the data in a problem's message."""
RESERVED_CHECKS_PER_CHAR = 64
"""Occurrences of a token's last character checked one by one before plain substring searches."""
_Add = Callable[[int | None, str, str], None]
"""ValidationReport.add, as the format checkers receive it."""


CHARS_PER_TOKEN = 3
WORDS_TO_TOKENS = 1.5


def estimate_tokens(text: str) -> int:
    """Conservative token estimate (see the module docstring for why these ratios)."""
    return math.ceil(max(len(text) / CHARS_PER_TOKEN, len(text.split()) * WORDS_TO_TOKENS))


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


def validate_lines(
    lines: Iterable[bytes],
    family: ModelFamily,
    *,
    validation_file: bool = False,
    declared_size: int | None = None,
) -> ValidationReport:
    """Validate JSONL `lines` (bytes, trailing newline optional) for `family`, in one streaming pass.

    `declared_size` (the object's size, when known up front) lets an oversized file be refused
    without reading it. Reading also stops once the bytes seen pass the family's file limit.
    """
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

    checker = _RecordChecker(family, report)
    for number, raw in enumerate(lines, start=1):
        report.size_bytes += raw.full_length if isinstance(raw, TruncatedLine) else len(raw)
        if report.size_bytes > max_bytes:
            report.add(
                None,
                "file_too_large",
                _too_large(report.size_bytes, max_bytes, validation_file) + "; reading stopped here",
            )
            break
        checker.check_line(number, raw)
    checker.check_file()

    if report.records == 0:
        report.add(None, "empty_file", "the file has no records")
    elif report.records < min_records:
        report.add(None, "too_few_records", f"{report.records} records; at least {min_records} are needed")
    elif report.records > max_records:
        report.add(None, "too_many_records", f"{report.records} records; at most {max_records} are allowed")
    report.problems.sort(key=lambda problem: (problem.line is None, problem.line or 0))
    return report


def _too_large(size: int, limit: int, validation_file: bool) -> str:
    kind = "validation" if validation_file else "training"
    return f"the file is over {size:,} bytes; a {kind} file may have at most {limit:,}"


class _TooDeep(Exception):
    """A record nested deeper than MAX_NESTING: refused rather than walked with unbounded recursion."""


class _RecordChecker:
    """Per-line checks; holds only the bounded duplicate window and two media line numbers between lines."""

    def __init__(self, family: ModelFamily, report: ValidationReport) -> None:
        self.family = family
        self.report = report
        self.reserved = family.reserved_tokens
        by_last: dict[str, list[str]] = {}
        for token in self.reserved:
            by_last.setdefault(token[-1], []).append(token)
        self.reserved_by_last = [(last, tuple(tokens)) for last, tokens in by_last.items()]
        self.seen: dict[int, int] = {}
        """Record hash -> first line. 64-bit hashes: a false match is about n**2 / 2**65 likely."""
        self.first_media_line: dict[str, int] = {}
        """Media kind -> the first line with it: a file is text with images or with videos, not both."""
        self.check_format: Callable[[int, dict[str, Any], _Add], Iterator[str]] = {
            DataFormat.PROMPT_COMPLETION: _check_prompt_completion,
            DataFormat.CLAUDE_MESSAGES: _check_claude_messages,
            DataFormat.CONVERSATION: self._check_conversation,
        }[family.data_format]

    def check_line(self, number: int, raw: bytes) -> None:
        add = self.report.add
        if number == 1:
            _check_first_bytes(raw, add)
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
            _report_unparsable(number, raw, error, add)
            return
        if type(record) is not dict:
            add(number, "not_object", f"each line must be a JSON object, found {_type_name(record)}")
            return
        try:
            canonical = _canonical(record)
        except _TooDeep:
            add(number, "invalid_json", f"invalid JSON: nested more than {MAX_NESTING} levels deep")
            return
        texts = list(self.check_format(number, record, add))
        self._check_texts(number, texts)
        self._check_duplicate(number, canonical)

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
            found = _reserved_in("\0".join(texts), self.reserved_by_last)
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

    def _check_duplicate(self, number: int, canonical: tuple[Any, ...]) -> None:
        digest = hash(canonical)
        first = self.seen.get(digest)
        if first is not None:
            self.report.add(number, "duplicate_record", f"same record as line {first}")
        elif len(self.seen) < DUPLICATE_WINDOW:
            self.seen[digest] = number

    def _check_conversation(self, number: int, record: dict[str, Any], add: _Add) -> Iterator[str]:
        version = record.get("schemaVersion")
        if version is None:
            add(number, "missing_key", f'schemaVersion is missing (expected "{CONVERSATION_SCHEMA_VERSION}")')
        elif version != CONVERSATION_SCHEMA_VERSION:
            add(
                number,
                "bad_schema_version",
                f'schemaVersion is {_shown(version)}, expected "{CONVERSATION_SCHEMA_VERSION}"',
            )
        system = record.get("system")
        if system is not None:
            if isinstance(system, list) and all(
                isinstance(b, dict) and isinstance(b.get("text"), str) for b in system
            ):
                for index, block in enumerate(system, start=1):
                    if block["text"] and not block["text"].isspace():
                        yield block["text"]
                    else:
                        add(number, "empty_text", f"system[{index}].text is empty")
            else:
                add(number, "wrong_type", 'system must be a list of {"text": "..."} blocks')
        roles: list[str | None] = []
        media = {"image": 0, "video": 0}  # MEDIA_KINDS
        for index, message in enumerate(_messages(number, record, add), start=1):
            if message is None:
                roles.append(None)
                continue
            role = message.get("role")
            if role != "user" and role != "assistant":
                role = _role(number, index, message, add)
            roles.append(role)
            yield from self._content_blocks(number, index, role, message.get("content"), media, add)
        _check_turns(number, roles, add)
        if self.family.media is not None and (media["image"] or media["video"]):
            _check_media_counts(number, self.family.media, media, add)

    def _content_blocks(
        self, number: int, index: int, role: str | None, content: object, media: dict[str, int], add: _Add
    ) -> Iterator[str]:
        if type(content) is not list or not content:
            where = f"messages[{index}].content"
            if content is None:
                add(number, "missing_key", f"{where} is missing")
            else:
                add(number, "wrong_type", f'{where} must be a non-empty list of {{"text": "..."}} blocks')
            return
        for block_index, block in enumerate(content, start=1):
            # The common case first, without building a message: a block with a non-blank text.
            text = block.get("text") if type(block) is dict else None
            if type(text) is str and text and not text.isspace():
                yield text
            else:
                where = f"messages[{index}].content[{block_index}]"
                self._other_block(number, where, role, block, media, add)

    def _other_block(
        self, number: int, where: str, role: str | None, block: object, media: dict[str, int], add: _Add
    ) -> None:
        """A content block that is not a non-blank text: a media block, or a problem to report."""
        if not isinstance(block, dict):
            add(number, "wrong_type", f"{where} must be an object, found {_type_name(block)}")
        elif "text" in block:
            text = block["text"]
            if not isinstance(text, str):
                add(number, "wrong_type", f"{where}.text must be a string, found {_type_name(text)}")
            else:
                add(number, "empty_text", f"{where}.text is empty")
        else:
            kind = next((kind for kind in MEDIA_KINDS if kind in block), None)
            if kind is None:
                keys = ", ".join(_shown(key) for key in sorted(block)[:5]) or "no keys"
                add(number, "unsupported_content", f"{where} has no text ({keys})")
            else:
                self._media_block(number, f"{where}.{kind}", kind, role, block[kind], media, add)

    def _media_block(
        self,
        number: int,
        where: str,
        kind: str,
        role: str | None,
        value: object,
        media: dict[str, int],
        add: _Add,
    ) -> None:
        """One image or video block: a model that takes media, a user turn, a known format, an s3 source."""
        rules = self.family.media
        if rules is None:
            who = self.family.model or f"the {self.family.name} family"
            add(number, "unsupported_content", f"{where}: {who} takes text only, no {kind}s")
            return
        media[kind] += 1
        self.first_media_line.setdefault(kind, number)
        if role == "assistant":
            add(number, "media_in_assistant_turn", f"{where}: images and videos belong in user turns only")
        if not isinstance(value, dict):
            add(number, "wrong_type", f"{where} must be an object, found {_type_name(value)}")
            return
        formats = rules.image_formats if kind == "image" else rules.video_formats
        found = value.get("format")
        if found not in formats:
            add(
                number,
                "bad_media_format",
                f"{where}.format is {_shown(found)}; use one of {', '.join(formats)}",
            )
        source = value.get("source")
        location = source.get("s3Location") if isinstance(source, dict) else None
        uri = location.get("uri") if isinstance(location, dict) else None
        if not (isinstance(uri, str) and uri.startswith("s3://") and len(uri) > len("s3://")):
            add(number, "bad_media_source", f'{where}.source must be {{"s3Location": {{"uri": "s3://..."}}}}')


def _reserved_in(text: str, by_last: list[tuple[str, tuple[str, ...]]]) -> set[str]:
    """The tokens `text` contains, looked for only where a token's last character occurs.

    Finding one character runs at memchr speed, several times faster than a substring search
    per token; a text dense in that character (RESERVED_CHECKS_PER_CHAR occurrences) gets the
    plain substring searches instead.
    """
    found: set[str] = set()
    for last, tokens in by_last:
        at = text.find(last)
        for _ in range(RESERVED_CHECKS_PER_CHAR):
            if at < 0:
                break
            if text.endswith(tokens, 0, at + 1):
                found.update(token for token in tokens if text.endswith(token, 0, at + 1))
            at = text.find(last, at + 1)
        else:
            found.update(token for token in tokens if token in text)
    return found


def _check_first_bytes(raw: bytes, add: _Add) -> None:
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
        encoding = {
            (False, True, True, True): "UTF-32 LE",
            (True, True, True, False): "UTF-32 BE",
            (False, True, False, True): "UTF-16 LE",
            (True, False, True, False): "UTF-16 BE",
        }.get(tuple(byte == 0 for byte in head))
        found = f"zero bytes around its characters ({head.hex(' ')})"
        source = (encoding or "").replace(" ", "")
    if encoding is not None:
        add(
            1,
            "wrong_encoding",
            f"the file is {encoding} text (it starts with {found}); save it as UTF-8 without a byte order "
            f"mark (e.g. iconv -f {source} -t UTF-8 FILE)",
        )


def _report_unparsable(number: int, raw: bytes, error: orjson.JSONDecodeError, add: _Add) -> None:
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


def _canonical(value: Any, depth: int = 1) -> Any:
    """A hashable form equal for records equal as JSON, whatever their key order and spacing.

    Hashing it is about twice as fast as hashing `orjson.dumps(record, option=OPT_SORT_KEYS)` on
    the benchmark's file: strings are hashed where they are, not encoded and copied. Non-string
    scalars keep their type and repr, so 1, 1.0 and true stay different, as their JSON texts are.
    """
    if depth > MAX_NESTING:
        raise _TooDeep
    kind = type(value)  # the parser makes exact types; bool, a subclass of int, must stay apart
    if kind is dict:  # sorted (key, value) pairs; no other form is a tuple of pairs
        items = []
        for key, item in value.items():
            items.append((key, item if type(item) is str else _canonical(item, depth + 1)))
        items.sort()  # keys are unique, so values are never compared
        return tuple(items)
    if kind is list:  # `list`, then the items: no other form starts with a type that is not a scalar's
        return (list, *[item if type(item) is str else _canonical(item, depth + 1) for item in value])
    if kind is str:
        return value
    return (kind, repr(value))


def _shown(value: object) -> str:
    """A value from the data, as quoted in a message: cut, so a report stays small whatever the data."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


def _type_name(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _check_media_counts(number: int, rules: MediaRules, media: dict[str, int], add: _Add) -> None:
    if media["image"] > rules.max_images_per_record:
        add(
            number,
            "too_many_images",
            f"{media['image']} images; a record may have at most {rules.max_images_per_record}",
        )
    if media["video"] > rules.max_videos_per_record:
        add(
            number,
            "too_many_videos",
            f"{media['video']} videos; a record may have at most {rules.max_videos_per_record}",
        )
    if media["image"] and media["video"]:
        add(number, "mixed_media", "a record may have images or a video, not both")


def _check_prompt_completion(number: int, record: dict[str, Any], add: _Add) -> Iterator[str]:
    for key in ("prompt", "completion"):
        value = _required_string(number, record, key, add)
        if value is not None:
            yield value


def _check_claude_messages(number: int, record: dict[str, Any], add: _Add) -> Iterator[str]:
    _check_keys(number, record, CLAUDE_RECORD_KEYS, "the record", add)
    system = record.get("system")
    if system is not None:
        if not isinstance(system, str):
            add(number, "wrong_type", f"system must be a string, found {_type_name(system)}")
        elif not system or system.isspace():
            add(number, "empty_text", "system is empty; leave it out instead")
        else:
            yield system
    roles: list[str | None] = []
    for index, message in enumerate(_messages(number, record, add), start=1):
        if message is None:
            roles.append(None)
            continue
        _check_keys(number, message, CLAUDE_MESSAGE_KEYS, f"messages[{index}]", add)
        roles.append(_role(number, index, message, add))
        content = _non_empty_string(number, message.get("content"), f"messages[{index}].content", add)
        if content is not None:
            yield content
    _check_turns(number, roles, add)


def _check_keys(number: int, value: dict[str, Any], allowed: frozenset[str], where: str, add: _Add) -> None:
    extra = [_shown(key) for key in sorted(value) if key not in allowed]
    if extra:
        listed = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        add(number, "unexpected_key", f"{where} has keys {listed}; allowed: {', '.join(sorted(allowed))}")


def _required_string(number: int, record: dict[str, Any], key: str, add: _Add) -> str | None:
    return _non_empty_string(number, record.get(key), key, add)


def _non_empty_string(number: int, value: object, where: str, add: _Add) -> str | None:
    """`value` when it is a non-empty string; otherwise None, with the problem reported at `where`."""
    if value is None:
        add(number, "missing_key", f"{where} is missing")
    elif not isinstance(value, str):
        add(number, "wrong_type", f"{where} must be a string, found {_type_name(value)}")
    elif not value or value.isspace():
        add(number, "empty_text", f"{where} is empty")
    else:
        return value
    return None


def _messages(number: int, record: dict[str, Any], add: _Add) -> list[dict[str, Any] | None]:
    """The record's messages, None for one that is not an object; problems with the list are reported here.

    A None keeps the turn checks quiet: the roles of a list with a broken message are unknown.
    """
    messages = record.get("messages")
    if messages is None:
        add(number, "missing_key", "messages is missing")
        return []
    if not isinstance(messages, list):
        add(number, "wrong_type", f"messages must be a list, found {_type_name(messages)}")
        return []
    if not messages:
        add(number, "no_messages", "messages is empty")
        return []
    objects: list[dict[str, Any] | None] = []
    for index, message in enumerate(messages, start=1):
        if isinstance(message, dict):
            objects.append(message)
        else:
            add(number, "wrong_type", f"messages[{index}] must be an object, found {_type_name(message)}")
            objects.append(None)
    return objects


def _role(number: int, index: int, message: dict[str, Any], add: _Add) -> str | None:
    role = message.get("role")
    if role is None:
        add(number, "missing_key", f"messages[{index}].role is missing")
    elif role not in ("user", "assistant"):
        add(number, "bad_role", f'messages[{index}].role is {_shown(role)}; use "user" or "assistant"')
    else:
        return role
    return None


def _check_turns(number: int, roles: list[str | None], add: _Add) -> None:
    """Turns start with user, alternate and end with assistant; unknown roles are reported elsewhere."""
    if not roles or None in roles:
        return
    if roles[0] != "user":
        add(number, "must_start_with_user", "the first message must be from the user")
    for index in range(1, len(roles)):
        if roles[index] == roles[index - 1]:
            add(
                number, "roles_not_alternating", f"messages {index} and {index + 1} are both {roles[index]!r}"
            )
            break
    if roles[-1] != "assistant":
        add(number, "must_end_with_assistant", "the last message must be from the assistant")
