"""The fast path: a line decoded straight into typed records, and the rules no decoder can express.

msgspec's `Struct` decoders check, in C while parsing, what the exact path checks in Python for
most records: strict JSON and UTF-8, required keys, types, no unknown keys, the roles' and the
schema version's values, non-empty content lists. What is left in Python is what no decoder can
say: turns alternating, no blank text, no reserved token, the token estimate, media counts and
sources. A record that passes all of it is valid and needs no message; anything else (a decode
error, a broken rule, a record near the token limit, an unknown key a format allows) returns None
and the line takes the exact path (validation_records), which says what is wrong exactly as before.

So the fast path never reports; it only proves lines clean. Whether it does depends only on the
record's JSON value (msgspec is as strict as orjson: lone surrogates, invalid UTF-8, control
characters, trailing data are all refused; a repeated key keeps its last value in both), so two
records equal as JSON always take the same path, and duplicates are compared by digests of one kind.

A check returns (estimated tokens, duplicate digest, media kinds: 1 image, 2 video, 0 none, and the
decoded record). The texts' own rules (none blank, no reserved token) and the digest are one call a
record, TextRules.scan: C (native/texts.c, the extension iterft_texts) where `make setup` built it,
else PythonTextRules, to the same answers.
"""

# No `from __future__ import annotations` here: msgspec reads the Structs' annotations when it builds a
# decoder, at the start of every file, and evaluating them from strings cost a third of a millisecond.
import os
import re
from collections.abc import Callable
from itertools import repeat
from typing import Annotated, Literal, Protocol, TypeVar

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from iterft_runtime.logic.native import require_interface
from iterft_runtime.logic.validation_rules import (
    CHARS_PER_TOKEN,
    CONVERSATION_SCHEMA_VERSION,
    NEAR_LIMIT_FRACTION,
    RESERVED_CHECKS_PER_CHAR,
    WORDS_TO_TOKENS,
    estimate_tokens,
    reserved_index,
    valid_media_uri,
)
from iterft_runtime.models.families import DataFormat, MediaRules, ModelFamily

TEXTS_INTERFACE = 1
"""native/texts.c's INTERFACE: TextRules(reserved, max_turns, key); scan, conversation, words, estimate."""

try:  # native/texts.c, built by `make setup` and shipped in the Lambda layer: scan in C
    from iterft_texts import TextRules as _NativeTextRules

    NativeTextRules: type[_NativeTextRules] | None = _NativeTextRules
except ImportError:  # not built for this interpreter: PythonTextRules, to the same answers
    NativeTextRules = None
else:
    require_interface("iterft_texts", TEXTS_INTERFACE)

FastResult = tuple[int, int, int]
FastCheck = Callable[[bytes], FastResult | None]
Checked = tuple[int, int, int, object]
"""A FastResult and the decoded record (None for media conversations), whose prompts the leakage check
reads (prompt_texts)."""
Scanned = tuple[int, int]
"""The texts' characters and their digest (TextRules.scan)."""

IMAGE, VIDEO = 1, 2
"""Media kinds in a FastResult (validation_rules.MEDIA_KINDS order, from 1)."""
MAX_FAST_TURNS = 1_000
"""Longer conversations take the exact path (none comes near it)."""
_TURNS = {n: ("user", "assistant") * (n // 2) for n in range(2, MAX_FAST_TURNS + 1, 2)}
"""The only valid role sequence of each length: user first, alternating, assistant last."""
SCAN_CHARS_PER_CHECK = 256
"""A text dense in a token's last character (past RESERVED_CHECKS_PER_CHAR occurrences, more than
one in this many characters) gets the regex (reserved_finder): checking an occurrence in Python
costs about as much as the regex stepping through a few hundred characters."""
ASCII_WHITESPACE = bytes(code for code in range(128) if chr(code).isspace())
"""The ASCII characters str.split() splits on (estimate_near_limit)."""
DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)
"""What a refused line raises (invalid UTF-8 comes as UnicodeDecodeError)."""
# Digests: a flat tuple a record, whose first item is never a (key, value) pair, as every first
# item of the exact path's canonical form is; text-only and media conversations differ in it too.

Role = Literal["user", "assistant"]
assert CONVERSATION_SCHEMA_VERSION == "bedrock-conversation-2024"


class _Text(Struct, forbid_unknown_fields=True, gc=False):
    text: str


class _S3Location(Struct, forbid_unknown_fields=True, gc=False):
    uri: str


class _Source(Struct, forbid_unknown_fields=True, gc=False):
    s3Location: _S3Location


class _Media(Struct, forbid_unknown_fields=True, gc=False):
    format: str
    source: _Source


class _Block(Struct, forbid_unknown_fields=True, gc=False):
    text: str | UnsetType = UNSET
    image: _Media | UnsetType = UNSET
    video: _Media | UnsetType = UNSET


T = TypeVar("T")
# Concrete structs, not one Generic pair: msgspec builds a decoder for a parametrized Generic
# through typing's machinery, 17 ms a decoder at the start of every file (a quarter of a 16 MB
# file's validation); for these, a fifth of a millisecond.


class _TextTurn(Struct, forbid_unknown_fields=True, gc=False):
    role: Role
    content: Annotated[list[_Text], Meta(min_length=1)]


class _MediaTurn(Struct, forbid_unknown_fields=True, gc=False):
    role: Role
    content: Annotated[list[_Block], Meta(min_length=1)]


class _TextConversation(Struct, forbid_unknown_fields=True, gc=False):
    """Blocks of text only: tried first, then _MediaConversation (blocks of text, image or video)."""

    schemaVersion: Literal["bedrock-conversation-2024"]
    messages: list[_TextTurn]
    system: list[_Text] | UnsetType = UNSET


class _MediaConversation(Struct, forbid_unknown_fields=True, gc=False):
    schemaVersion: Literal["bedrock-conversation-2024"]
    messages: list[_MediaTurn]
    system: list[_Text] | UnsetType = UNSET


class _ClaudeTurn(Struct, forbid_unknown_fields=True, gc=False):
    role: Role
    content: str


class _Claude(Struct, forbid_unknown_fields=True, gc=False):
    messages: list[_ClaudeTurn]
    system: str | UnsetType = UNSET


class _PromptCompletion(Struct, forbid_unknown_fields=True, gc=False):
    prompt: str
    completion: str


class TextRules(Protocol):
    """A family's rules for a record's texts, and their digest (native/texts.c or PythonTextRules)."""

    def scan(self, texts: list[str], seed: int, /) -> Scanned | None:
        """None when a text is empty, only whitespace or holds a reserved token; else the texts'
        characters and a digest of them from `seed` (equal for equal texts and seed, within a run)."""
        ...

    def conversation(self, messages: list[_TextTurn], system: list[_Text] | None, /) -> Scanned | None:
        """None unless the turns alternate from user to assistant (2 to MAX_FAST_TURNS) and `scan`
        passes their texts, then the system's (None: no system); else the characters and a digest of
        the texts, the blocks a turn and the system's."""
        ...

    def estimate(self, texts: list[str], escaped: int, /) -> int:
        """The exact path's token estimate of `texts` (the sum of estimate_tokens), which `escaped`
        (the line's bytes less the texts' characters) may help prove without counting words."""
        ...


class PythonTextRules:
    """TextRules in Python, where the extension is not built: the same answers, the digest Python's
    hash (a digest only compares with those of the same run)."""

    def __init__(self, reserved: tuple[str, ...]) -> None:
        if any("\0" in token for token in reserved):  # texts are searched "\0"-joined
            raise ValueError('a reserved token may not hold "\\0"')
        self.found = reserved_finder(reserved)

    def scan(self, texts: list[str], seed: int, /) -> Scanned | None:
        if "" in texts or any(map(str.isspace, texts)):
            return None
        if self.found is not None and self.found("\0".join(texts)):  # no token holds "\0": none spans two
            return None
        return sum(map(len, texts)), hash((seed, *texts))

    def conversation(self, messages: list[_TextTurn], system: list[_Text] | None, /) -> Scanned | None:
        if tuple([turn.role for turn in messages]) != _TURNS.get(len(messages)):
            return None
        shape = tuple([len(turn.content) for turn in messages])
        return self.scan(
            conversation_texts(messages, system), hash((-1 if system is None else len(system), shape))
        )

    def estimate(self, texts: list[str], escaped: int, /) -> int:
        return estimate_near_limit(texts, escaped)


def conversation_texts(messages: list[_TextTurn], system: list[_Text] | None) -> list[str]:
    """The texts of a conversation's turns, then its system's."""
    texts = [block.text for turn in messages for block in turn.content]
    return texts if system is None else texts + [block.text for block in system]


def text_rules(reserved: tuple[str, ...], *, use_native: bool = True) -> TextRules:
    """The extension's TextRules when built (and `use_native`), else PythonTextRules. The extension's
    digests start from a random key, as Python's hash does (PYTHONHASHSEED): nobody who writes a
    record can aim its digest at another record's."""
    if use_native and NativeTextRules is not None:
        # os.urandom, not secrets: importing secrets (hashlib, OpenSSL) adds 4 MiB and 10 ms to every run.
        return NativeTextRules(reserved, MAX_FAST_TURNS, int.from_bytes(os.urandom(8), "little"))
    return PythonTextRules(reserved)


class FastPath:
    """A format's fast path: `read` decodes a line and applies every rule a clean record meets
    (None: the line takes the exact path); `check` is `read` without the record."""

    def __init__(self, family: ModelFamily, *, use_native: bool = True) -> None:
        limits = _Limits(family, use_native)
        self.read: Callable[[bytes], Checked | None]
        if family.data_format is DataFormat.CONVERSATION:
            self.read = _conversation_check(limits, family.media)
        elif family.data_format is DataFormat.CLAUDE_MESSAGES:
            self.read = _claude_check(limits)
        else:
            self.read = _prompt_completion_check(limits)

    def check(self, raw: bytes) -> FastResult | None:
        """One line through the fast path."""
        found = self.read(raw)
        return None if found is None else found[:3]


def fast_check(family: ModelFamily, *, use_native: bool = True) -> FastCheck:
    """The fast path for `family`'s data format, a line at a time."""
    return FastPath(family, use_native=use_native).check


class _Limits:
    """The text rules every format shares: non-blank, no reserved token (scan), under the warning line."""

    def __init__(self, family: ModelFamily, use_native: bool) -> None:
        rules = text_rules(family.reserved_tokens, use_native=use_native)
        self.scan, self.conversation, self.estimate = rules.scan, rules.conversation, rules.estimate
        self.budget = NEAR_LIMIT_FRACTION * family.max_tokens_per_record
        self.short = int(self.budget / 2.75)
        """Characters up to which texts are surely under the warning line: each text has one or
        more, so 0.75 x characters + 2 x texts is at most 2.75 x characters (see tokens)."""

    def tokens(self, texts: list[str], chars: int, line_bytes: int) -> int | None:
        """The estimated tokens of `texts`, `chars` characters in all, from a line of `line_bytes`
        bytes, or None when the record is near the limit and needs the exact path.

        A text of n chars has at most (n + 1) // 2 words, so its estimate is at most 0.75 n + 2:
        under that line, characters alone decide (as in RecordChecker._check_texts); over it, words
        may (TextRules.estimate).
        """
        if chars <= self.short or 0.75 * chars + 2 * len(texts) <= self.budget:
            return -(-chars // 3)  # math.ceil(chars / CHARS_PER_TOKEN) in integers
        tokens = self.estimate(texts, line_bytes - chars)
        return tokens if tokens <= self.budget else None

    def checked(
        self, scanned: Scanned | None, texts: list[str], line_bytes: int, record: object
    ) -> Checked | None:
        """A text-only record's Checked from what scan said of its `texts` (None: declined)."""
        if scanned is None:
            return None
        chars = scanned[0]
        tokens = -(-chars // 3) if chars <= self.short else self.tokens(texts, chars, line_bytes)
        return None if tokens is None else (tokens, scanned[1], 0, record)


def estimate_near_limit(texts: list[str], escaped: int) -> int:
    """The exact path's estimate of texts long enough that words may count, in Python.

    Splitting a 20,000-character text into words costs five times parsing its record; an upper
    bound on its words usually proves the characters decide without it. A word ends at whitespace
    or at the end, so words <= whitespace characters + 1. `escaped` (the line's bytes less the
    texts' characters) bounds the texts' characters that were escaped in the line or are not ASCII:
    each takes two bytes or more there, and JSON escapes every ASCII whitespace character but the
    space. So a text's whitespace is at most its spaces plus `escaped`: one C count (str.count), 0.45
    ns a character, against 1.2 for the bound on its UTF-8 (utf8_whitespace_bound, tried next) and
    4.3 for splitting it (tried last). A text for which `escaped` alone is too much whitespace (a
    prompt beside a long answer) skips the count.
    """
    tokens = 0
    for text in texts:
        length = len(text)
        by_chars = length / CHARS_PER_TOKEN
        if (
            WORDS_TO_TOKENS * (escaped + 1) <= by_chars  # else no count of spaces can prove it
            and WORDS_TO_TOKENS * (text.count(" ") + escaped + 1) <= by_chars
        ) or WORDS_TO_TOKENS * (utf8_whitespace_bound(text) + 1) <= by_chars:
            tokens += -(-length // CHARS_PER_TOKEN)  # estimate_tokens(text), its words proven fewer
        else:
            tokens += estimate_tokens(text)
    return tokens


def utf8_whitespace_bound(text: str) -> int:
    """At most how many whitespace characters `text` has: the ASCII whitespace bytes of its UTF-8 plus
    its non-ASCII characters (each of those is two bytes or more, so there are at most len(utf8) -
    len(text)): a C copy and a C delete."""
    raw = text.encode("utf-8", "surrogatepass")
    return 2 * len(raw) - len(text) - len(raw.translate(None, ASCII_WHITESPACE))


Found = Callable[[str], bool]


def reserved_finder(tokens: tuple[str, ...]) -> Found | None:
    """Whether a text holds any of `tokens` (None when there are none).

    The text is scanned like reserved_in does: str.find to each occurrence of a token's last
    character (memchr speed), the character before it, then one endswith over the group; a regex
    steps through every character in Python's engine, several times slower. A text dense in that
    character (past RESERVED_CHECKS_PER_CHAR occurrences, more than one in SCAN_CHARS_PER_CHECK
    characters) gets the regex from there on, compiled when first needed. PythonTextRules searches a
    record's texts as one text.
    """
    if not tokens:
        return None
    # With each group, the characters its tokens have before the last ("" when one has none): most
    # occurrences of ':' follow none of them, and indexing is cheaper than endswith over nine tokens.
    groups = [
        (last, group, "" if min(map(len, group)) < 2 else "".join({token[-2] for token in group}))
        for last, group in reserved_index(tokens)
    ]
    regexes: dict[str, re.Pattern[str]] = {}

    def regex(last: str, group: tuple[str, ...]) -> re.Pattern[str]:
        """The pattern starts with `last`; a lookbehind a token checks what comes before it."""
        if last not in regexes:
            behind = "|".join(f"(?<={re.escape(token)})" for token in group)
            regexes[last] = re.compile(f"{re.escape(last)}(?:{behind})")
        return regexes[last]

    def found(text: str) -> bool:
        find, endswith = text.find, text.endswith
        allowed = max(RESERVED_CHECKS_PER_CHAR, len(text) // SCAN_CHARS_PER_CHECK)
        for last, group, before in groups:
            at = find(last)
            # Up to `allowed` occurrences, counted by repeat (in C). At 0, text[-1] may be in `before`,
            # but no token of two characters or more ends there.
            for _ in repeat(None, allowed):
                if at < 0:
                    break
                if (not before or text[at - 1] in before) and endswith(group, 0, at + 1):
                    return True
                at = find(last, at + 1)
            else:  # dense in `last`: the regex, from the next occurrence on
                if at >= 0 and regex(last, group).search(text, at) is not None:
                    return True
        return False

    return found


def _conversation_check(limits: _Limits, media: MediaRules | None) -> Callable[[bytes], Checked | None]:
    decode = msgspec.json.Decoder(_TextConversation).decode
    media_check: FastCheck | None = None  # built for the first line the text decoder refuses
    conversation, tokens_of, short = limits.conversation, limits.tokens, limits.short

    def check(raw: bytes) -> Checked | None:
        nonlocal media_check
        try:
            record = decode(raw)
        except DECODE_ERRORS:
            if media is None:
                return None
            if media_check is None:
                media_check = _media_conversation_check(limits, media)
            found = media_check(raw)
            return None if found is None else (*found, None)
        system = None if record.system is UNSET else record.system
        scanned = conversation(record.messages, system)  # role order, texts, digest: one call
        if scanned is None:
            return None
        chars = scanned[0]
        if chars <= short:
            return -(-chars // 3), scanned[1], 0, record
        tokens = tokens_of(conversation_texts(record.messages, system), chars, len(raw))
        return None if tokens is None else (tokens, scanned[1], 0, record)

    return check


def _media_conversation_check(limits: _Limits, rules: MediaRules) -> FastCheck:
    """Conversations with images or videos, for a model that takes them: each block is exactly one
    of text, image or video; media in user turns only, in a known format, from a readable s3 URI;
    at most the record's limit, and one kind a record."""
    decode = _attempt(_MediaConversation)
    formats = {IMAGE: rules.image_formats, VIDEO: rules.video_formats}

    def check(raw: bytes) -> FastResult | None:
        record = decode(raw)
        if record is None:
            return None
        messages = record.messages
        if tuple([turn.role for turn in messages]) != _TURNS.get(len(messages)):
            return None
        texts: list[str] = []
        blocks: list[tuple[int, str, str] | None] = []
        counts = {IMAGE: 0, VIDEO: 0}
        for turn in messages:
            for block in turn.content:
                if block.text is not UNSET:
                    if block.image is not UNSET or block.video is not UNSET:
                        return None
                    texts.append(block.text)
                    blocks.append(None)
                    continue
                if block.image is not UNSET and block.video is UNSET:
                    kind, item = IMAGE, block.image
                elif block.video is not UNSET and block.image is UNSET:
                    kind, item = VIDEO, block.video
                else:
                    return None
                uri = item.source.s3Location.uri
                if turn.role != "user" or item.format not in formats[kind] or not valid_media_uri(uri):
                    return None
                counts[kind] += 1
                blocks.append((kind, item.format, uri))
        images, videos = counts[IMAGE], counts[VIDEO]
        if (
            images > rules.max_images_per_record
            or videos > rules.max_videos_per_record
            or (images and videos)
        ):
            return None
        system = record.system
        head = None if system is UNSET else tuple([block.text for block in system])
        texts += head or ()
        shape = tuple([len(turn.content) for turn in messages])
        scanned = limits.scan(texts, hash(("media", head is not None, shape, tuple(blocks))))
        if scanned is None:
            return None
        tokens = limits.tokens(texts, scanned[0], len(raw))
        return None if tokens is None else (tokens, scanned[1], IMAGE if images else VIDEO)

    return check


def _claude_check(limits: _Limits) -> Callable[[bytes], Checked | None]:
    decode = msgspec.json.Decoder(_Claude).decode
    scan, checked = limits.scan, limits.checked
    turns = _TURNS

    def check(raw: bytes) -> Checked | None:
        try:
            record = decode(raw)
        except DECODE_ERRORS:
            return None
        messages = record.messages
        count = len(messages)
        if count == 2:
            question, answer = messages
            if question.role != "user" or answer.role != "assistant":
                return None
            texts = [question.content, answer.content]
        elif tuple([turn.role for turn in messages]) == turns.get(count):
            texts = [turn.content for turn in messages]
        else:
            return None
        system = record.system
        if system is not UNSET:
            texts.append(system)
        # The seed tells a system from a last turn.
        return checked(scan(texts, system is UNSET), texts, len(raw), record)

    return check


def _prompt_completion_check(limits: _Limits) -> Callable[[bytes], Checked | None]:
    decode = msgspec.json.Decoder(_PromptCompletion).decode
    scan, checked = limits.scan, limits.checked

    def check(raw: bytes) -> Checked | None:
        try:
            record = decode(raw)
        except DECODE_ERRORS:
            return None
        texts = [record.prompt, record.completion]
        return checked(scan(texts, 0), texts, len(raw), record)

    return check


def prompt_texts(record: object) -> list[str] | None:
    """The prompts of a record the fast path decoded (the last item of a Checked): each user turn's text
    (its text blocks "\n"-joined), or the prompt; None for a record it does not keep (media)."""
    kind = record.__class__
    if kind is _TextConversation:
        return [
            turn.content[0].text
            if len(turn.content) == 1
            else "\n".join([block.text for block in turn.content])
            for turn in record.messages[::2]  # type: ignore[attr-defined]  # checked above
        ]
    if kind is _Claude:
        return [turn.content for turn in record.messages[::2]]  # type: ignore[attr-defined]  # checked above
    if kind is _PromptCompletion:
        return [record.prompt]  # type: ignore[attr-defined]  # checked above
    return None


def _attempt(kind: type[T]) -> Callable[[bytes], T | None]:
    """A decoder into `kind` that returns None for a line it refuses (the exact path says why)."""
    decode = msgspec.json.Decoder(kind).decode

    def attempt(raw: bytes) -> T | None:
        try:
            return decode(raw)
        except DECODE_ERRORS:
            return None

    return attempt
