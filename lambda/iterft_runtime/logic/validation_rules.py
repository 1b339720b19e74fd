"""The rules a parsed record must meet, per data format: what Bedrock's guides and AWS's own
dataset validators refuse, each reported with its line and a stable code.

This is the exact path: it walks a record decoded into dicts and lists and says precisely what
is wrong. Most records never come here (see validation_fast): only those the typed decoders
refuse or whose texts a rule no decoder can express flags.

Token counts are estimated without a tokenizer, conservatively: `max(chars / 3, words * 1.5)`.
Common BPE tokenizers average about 4 characters and 1.3 tokens a word on English text, so
the estimate over-counts; a record it passes is very likely within the real limit, and
`near_token_limit` warns about records within 10% of it. (Titan's documented character quota,
6 characters a token, is looser than chars / 3, so it needs no check of its own.)

Where the Bedrock guides are silent or disagree, the rule is the stricter one:
- schemaVersion must be "bedrock-conversation-2024": the Bedrock guide's format names it, while
  the Nova guide says any string; an exact value is never refused by either.
- Reserved tokens are refused in every text, the assistant's too (the guide names user and
  system prompts; AWS's Nova validator checks every text).
- Empty text is refused everywhere, system prompts included.
- Claude records carry only `system` and `messages`, messages only `role` and `content`
  (Anthropic's Bedrock fine-tuning guide: no extraneous keys).
- Images count per record, not per message, against the 10-image limit.
- An image's or video's `s3Location.uri` is `s3://` then letters, digits, `_ - / .` only, as
  AWS's Nova dataset validator requires (`is_valid_path`, `^[\\w\\-/\\.]+$` on the URI without its
  scheme; see docs/dataset-validation.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from iterft_runtime.models.families import DataFormat, MediaRules, ModelFamily

CONVERSATION_SCHEMA_VERSION = DataFormat.CONVERSATION.value
CLAUDE_RECORD_KEYS = frozenset({"system", "messages"})
CLAUDE_MESSAGE_KEYS = frozenset({"role", "content"})
MEDIA_KINDS = ("image", "video")
S3_SCHEME = "s3://"
S3_KEY_CHARACTERS = re.compile(r"[\w\-/.]+")
"""What may follow `s3://` in a media URI (AWS's Nova validator: `\\w` is Unicode letters, digits and `_`)."""
NEAR_LIMIT_FRACTION = 0.9
MAX_SHOWN_CHARS = 40
"""Longest quotation of the data in a problem's message."""
RESERVED_CHECKS_PER_CHAR = 64
"""Occurrences of a token's last character checked one by one before plain substring searches."""
Add = Callable[[int | None, str, str], None]
"""ValidationReport.add, as the format checkers receive it."""
ReservedIndex = list[tuple[str, tuple[str, ...]]]
"""Reserved tokens grouped by their last character (see reserved_in)."""

CHARS_PER_TOKEN = 3
WORDS_TO_TOKENS = 1.5


def estimate_tokens(text: str) -> int:
    """Conservative token estimate (see the module docstring for why these ratios)."""
    return math.ceil(max(len(text) / CHARS_PER_TOKEN, len(text.split()) * WORDS_TO_TOKENS))


def reserved_index(tokens: tuple[str, ...]) -> ReservedIndex:
    by_last: dict[str, list[str]] = {}
    for token in tokens:
        by_last.setdefault(token[-1], []).append(token)
    return [(last, tuple(group)) for last, group in by_last.items()]


def valid_media_uri(uri: str) -> bool:
    return uri.startswith(S3_SCHEME) and S3_KEY_CHARACTERS.fullmatch(uri, len(S3_SCHEME)) is not None


class ConversationRules:
    """The conversation format's checks (bedrock-conversation-2024: Nova, Llama 3.2+).

    Holds the first line of each media kind between lines: a file is text with images or with
    videos, not both (checked at the end by the caller).
    """

    def __init__(self, family: ModelFamily) -> None:
        self.family = family
        self.first_media_line: dict[str, int] = {}
        """Media kind -> the first line with it."""

    def check(self, number: int, record: dict[str, Any], add: Add) -> Iterator[str]:
        version = record.get("schemaVersion")
        if version is None:
            add(number, "missing_key", f'schemaVersion is missing (expected "{CONVERSATION_SCHEMA_VERSION}")')
        elif version != CONVERSATION_SCHEMA_VERSION:
            add(
                number,
                "bad_schema_version",
                f'schemaVersion is {shown(version)}, expected "{CONVERSATION_SCHEMA_VERSION}"',
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
        self, number: int, index: int, role: str | None, content: object, media: dict[str, int], add: Add
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
        self, number: int, where: str, role: str | None, block: object, media: dict[str, int], add: Add
    ) -> None:
        """A content block that is not a non-blank text: a media block, or a problem to report."""
        if not isinstance(block, dict):
            add(number, "wrong_type", f"{where} must be an object, found {type_name(block)}")
        elif "text" in block:
            text = block["text"]
            if not isinstance(text, str):
                add(number, "wrong_type", f"{where}.text must be a string, found {type_name(text)}")
            else:
                add(number, "empty_text", f"{where}.text is empty")
        else:
            kind = next((kind for kind in MEDIA_KINDS if kind in block), None)
            if kind is None:
                keys = ", ".join(shown(key) for key in sorted(block)[:5]) or "no keys"
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
        add: Add,
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
            add(number, "wrong_type", f"{where} must be an object, found {type_name(value)}")
            return
        formats = rules.image_formats if kind == "image" else rules.video_formats
        found = value.get("format")
        if found not in formats:
            add(
                number,
                "bad_media_format",
                f"{where}.format is {shown(found)}; use one of {', '.join(formats)}",
            )
        source = value.get("source")
        location = source.get("s3Location") if isinstance(source, dict) else None
        uri = location.get("uri") if isinstance(location, dict) else None
        if not (isinstance(uri, str) and uri.startswith(S3_SCHEME) and len(uri) > len(S3_SCHEME)):
            add(number, "bad_media_source", f'{where}.source must be {{"s3Location": {{"uri": "s3://..."}}}}')
        elif not valid_media_uri(uri):
            bad = sorted({char for char in uri[len(S3_SCHEME) :] if not S3_KEY_CHARACTERS.fullmatch(char)})
            listed = " ".join(shown(char) for char in bad[:5]) + (" ..." if len(bad) > 5 else "")
            add(
                number,
                "bad_media_source",
                f"{where}.source.s3Location.uri has characters Bedrock cannot read ({listed}); "
                "after s3:// use only letters, digits, _ - / .",
            )


def reserved_in(text: str, by_last: ReservedIndex) -> set[str]:
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


def shown(value: object) -> str:
    """A value from the data, as quoted in a message: cut, so a report stays small whatever the data."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


def type_name(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _check_media_counts(number: int, rules: MediaRules, media: dict[str, int], add: Add) -> None:
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


def check_prompt_completion(number: int, record: dict[str, Any], add: Add) -> Iterator[str]:
    for key in ("prompt", "completion"):
        value = _required_string(number, record, key, add)
        if value is not None:
            yield value


def check_claude_messages(number: int, record: dict[str, Any], add: Add) -> Iterator[str]:
    _check_keys(number, record, CLAUDE_RECORD_KEYS, "the record", add)
    system = record.get("system")
    if system is not None:
        if not isinstance(system, str):
            add(number, "wrong_type", f"system must be a string, found {type_name(system)}")
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


def _check_keys(number: int, value: dict[str, Any], allowed: frozenset[str], where: str, add: Add) -> None:
    extra = [shown(key) for key in sorted(value) if key not in allowed]
    if extra:
        listed = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        add(number, "unexpected_key", f"{where} has keys {listed}; allowed: {', '.join(sorted(allowed))}")


def _required_string(number: int, record: dict[str, Any], key: str, add: Add) -> str | None:
    return _non_empty_string(number, record.get(key), key, add)


def _non_empty_string(number: int, value: object, where: str, add: Add) -> str | None:
    """`value` when it is a non-empty string; otherwise None, with the problem reported at `where`."""
    if value is None:
        add(number, "missing_key", f"{where} is missing")
    elif not isinstance(value, str):
        add(number, "wrong_type", f"{where} must be a string, found {type_name(value)}")
    elif not value or value.isspace():
        add(number, "empty_text", f"{where} is empty")
    else:
        return value
    return None


def _messages(number: int, record: dict[str, Any], add: Add) -> list[dict[str, Any] | None]:
    """The record's messages, None for one that is not an object; problems with the list are reported here.

    A None keeps the turn checks quiet: the roles of a list with a broken message are unknown.
    """
    messages = record.get("messages")
    if messages is None:
        add(number, "missing_key", "messages is missing")
        return []
    if not isinstance(messages, list):
        add(number, "wrong_type", f"messages must be a list, found {type_name(messages)}")
        return []
    if not messages:
        add(number, "no_messages", "messages is empty")
        return []
    objects: list[dict[str, Any] | None] = []
    for index, message in enumerate(messages, start=1):
        if isinstance(message, dict):
            objects.append(message)
        else:
            add(number, "wrong_type", f"messages[{index}] must be an object, found {type_name(message)}")
            objects.append(None)
    return objects


def _role(number: int, index: int, message: dict[str, Any], add: Add) -> str | None:
    role = message.get("role")
    if role is None:
        add(number, "missing_key", f"messages[{index}].role is missing")
    elif role not in ("user", "assistant"):
        add(number, "bad_role", f'messages[{index}].role is {shown(role)}; use "user" or "assistant"')
    else:
        return str(role)
    return None


def _check_turns(number: int, roles: list[str | None], add: Add) -> None:
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
