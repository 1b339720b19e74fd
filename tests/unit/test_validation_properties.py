"""Property-based checks of the validator: generated valid records pass for every format, and each
single mutation of a valid record is caught with its code on its line, the other lines staying clean."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from family_params import ALL_FAMILIES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iterft_runtime.logic.validation import CODES, Severity, validate_lines
from iterft_runtime.models.families import (
    NOVA,
    DataFormat,
    MediaRules,
    ModelFamily,
)

# No deadline and no too-slow health check: generation speed depends on the machine's load (CI shares
# two cores), and neither says anything about whether the validator is right.
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ALL_RESERVED = NOVA.reserved_tokens
# Any printable text, surrogates excluded (not encodable), reserved tokens filtered out so a
# generated record is valid for every family.
texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(
    lambda text: text.strip() != "" and not any(token in text for token in ALL_RESERVED)
)


def image_block(draw: st.DrawFn, rules: MediaRules) -> dict[str, Any]:
    name = draw(st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True))
    fmt = draw(st.sampled_from(rules.image_formats))
    return {"image": {"format": fmt, "source": {"s3Location": {"uri": f"s3://data/media/{name}.{fmt}"}}}}


@st.composite
def records(draw: st.DrawFn, family: ModelFamily) -> dict[str, Any]:
    """A valid record of `family`'s format: optional system prompt, one to three exchanges."""
    if family.data_format is DataFormat.PROMPT_COMPLETION:
        return {"prompt": draw(texts), "completion": draw(texts)}
    exchanges = draw(st.integers(1, 3))
    if family.data_format is DataFormat.CLAUDE_MESSAGES:
        messages: list[dict[str, Any]] = []
        for _ in range(exchanges):
            messages += [
                {"role": "user", "content": draw(texts)},
                {"role": "assistant", "content": draw(texts)},
            ]
        record: dict[str, Any] = {"messages": messages}
        if draw(st.booleans()):
            record["system"] = draw(texts)
        return record
    messages = []
    for _ in range(exchanges):
        user: list[dict[str, Any]] = [{"text": draw(texts)}]
        if family.media is not None and draw(st.booleans()):
            user = [image_block(draw, family.media) for _ in range(draw(st.integers(1, 3)))] + user
        messages += [
            {"role": "user", "content": user},
            {"role": "assistant", "content": [{"text": draw(texts)}]},
        ]
    record = {"schemaVersion": "bedrock-conversation-2024", "messages": messages}
    if draw(st.booleans()):
        record["system"] = [{"text": draw(texts)}]
    return record


def fillers(family: ModelFamily) -> tuple[bytes, ...]:
    """Distinct valid records up to the family's minimum, so a file of them plus one more is valid."""
    if family.data_format is DataFormat.PROMPT_COMPLETION:
        made: list[Any] = [{"prompt": f"filler {i}", "completion": "ok"} for i in range(family.min_records)]
    elif family.data_format is DataFormat.CLAUDE_MESSAGES:
        made = [
            {"messages": [{"role": "user", "content": f"filler {i}"}, {"role": "assistant", "content": "ok"}]}
            for i in range(family.min_records)
        ]
    else:
        made = [
            {
                "schemaVersion": "bedrock-conversation-2024",
                "messages": [
                    {"role": "user", "content": [{"text": f"filler {i}"}]},
                    {"role": "assistant", "content": [{"text": "ok"}]},
                ],
            }
            for i in range(family.min_records)
        ]
    return tuple(json.dumps(record).encode() + b"\n" for record in made)


def errors_by_line(family: ModelFamily, lines: list[bytes]) -> dict[int | None, set[str]]:
    found: dict[int | None, set[str]] = {}
    for problem in validate_lines(lines, family).problems:
        if CODES[problem.code] is Severity.ERROR:
            found.setdefault(problem.line, set()).add(problem.code)
    return found


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_generated_valid_records_pass(family: ModelFamily) -> None:
    padding = fillers(family)

    @PROPERTY_SETTINGS
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        batch = data.draw(st.lists(records(family), min_size=1, max_size=5), label="records")
        lines = [
            json.dumps(record, ensure_ascii=data.draw(st.booleans())).encode() + b"\n" for record in batch
        ]
        report = validate_lines([*lines, *padding], family)
        assert report.valid, report.problems
        assert report.records == len(lines) + family.min_records

    check()


# A mutation: (the record, its family, a draw) -> (the line's bytes, the code it must cause).
Mutation = Callable[[dict[str, Any], ModelFamily, st.DataObject], tuple[bytes, str]]


def serialized(record: Any) -> bytes:
    return json.dumps(record).encode()


def texts_of(record: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(container, key) of every text in a record, system prompts included."""
    places: list[tuple[Any, Any]] = []
    if "prompt" in record:
        return [(record, "prompt"), (record, "completion")]
    system = record.get("system")
    if isinstance(system, str):
        places.append((record, "system"))
    elif isinstance(system, list):
        places += [(block, "text") for block in system]
    for message in record["messages"]:
        if isinstance(message["content"], str):
            places.append((message, "content"))
        else:
            places += [(block, "text") for block in message["content"] if "text" in block]
    return places


def break_json(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    text = serialized(record)
    cut = data.draw(st.integers(1, len(text) - 1), label="cut")
    return text[:cut], "invalid_json"


def non_utf8(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    text = serialized(record)
    at = data.draw(st.integers(0, len(text)), label="at")
    bad = data.draw(st.sampled_from([b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80"]), label="bytes")
    return text[:at] + bad + text[at:], "invalid_utf8"


def not_object(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    return serialized(data.draw(st.sampled_from([[record], "text", 3, None]), label="value")), "not_object"


def drop_required_key(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    required = {
        DataFormat.PROMPT_COMPLETION: ["prompt", "completion"],
        DataFormat.CLAUDE_MESSAGES: ["messages"],
        DataFormat.CONVERSATION: ["schemaVersion", "messages"],
    }[family.data_format]
    if "messages" in record:
        required += [
            f"{index}.{key}" for index in range(len(record["messages"])) for key in ("role", "content")
        ]
    key = data.draw(st.sampled_from(required), label="key")
    if "." in key:
        index, name = key.split(".")
        del record["messages"][int(index)][name]
    else:
        del record[key]
    return serialized(record), "missing_key"


def wrong_type(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    value = data.draw(st.sampled_from([7, 1.5, True, {"x": 1}]), label="value")
    container, key = data.draw(st.sampled_from(texts_of(record)), label="text")
    container[key] = value
    return serialized(record), "wrong_type"


def empty_text(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    container, key = data.draw(st.sampled_from(texts_of(record)), label="text")
    container[key] = data.draw(st.sampled_from(["", " ", "\n\t "]), label="blank")
    return serialized(record), "empty_text"


def swap_role(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    messages = record["messages"]
    index = data.draw(st.integers(0, len(messages) - 1), label="message")
    message = messages[index]
    message["role"] = "assistant" if message["role"] == "user" else "user"
    if index == 0:
        return serialized(record), "must_start_with_user"
    if index == len(messages) - 1:
        return serialized(record), "must_end_with_assistant"
    return serialized(record), "roles_not_alternating"


def unknown_role(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    message = data.draw(st.sampled_from(record["messages"]), label="message")
    message["role"] = data.draw(st.sampled_from(["system", "bot", "User", "tool"]), label="role")
    return serialized(record), "bad_role"


def no_messages(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    record["messages"] = []
    return serialized(record), "no_messages"


def reserved_token(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    container, key = data.draw(st.sampled_from(texts_of(record)), label="text")
    token = data.draw(st.sampled_from(family.reserved_tokens), label="token")
    text = container[key]
    at = data.draw(st.integers(0, len(text)), label="at")
    container[key] = text[:at] + token + text[at:]
    return serialized(record), "reserved_token"


def schema_version(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    record["schemaVersion"] = data.draw(st.sampled_from(["bedrock-conversation-2023", "", "v1"]), label="v")
    return serialized(record), "bad_schema_version"


def too_many_tokens(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    container, key = data.draw(st.sampled_from(texts_of(record)), label="text")
    container[key] = "x" * (3 * family.max_tokens_per_record + 3)
    return serialized(record), "too_many_tokens"


def extra_key(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    target = data.draw(st.sampled_from([record, *record["messages"]]), label="where")
    target[data.draw(st.sampled_from(["name", "prompt", "metadata"]), label="key")] = "x"
    return serialized(record), "unexpected_key"


def media_block(record: dict[str, Any], family: ModelFamily, data: st.DataObject) -> tuple[bytes, str]:
    """An image in a user turn where the model takes none, or in an assistant turn where it does."""
    messages = record["messages"]
    index = data.draw(st.integers(0, len(messages) - 1), label="message")
    image = {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://data/a.png"}}}}
    if family.media is not None:
        index |= 1  # an assistant turn (odd index in a valid record)
    messages[index]["content"].insert(0, image)
    return serialized(record), "unsupported_content" if family.media is None else "media_in_assistant_turn"


COMMON: list[Mutation] = [
    break_json,
    non_utf8,
    not_object,
    drop_required_key,
    wrong_type,
    empty_text,
    too_many_tokens,
]
CONVERSATIONAL: list[Mutation] = [swap_role, unknown_role, no_messages]
MUTATIONS: dict[str, list[Mutation]] = {
    "nova": [*COMMON, *CONVERSATIONAL, reserved_token, schema_version, media_block],
    "amazon.nova-micro": [*COMMON, *CONVERSATIONAL, reserved_token, schema_version, media_block],
    "llama-conversation": [*COMMON, *CONVERSATIONAL, schema_version, media_block],
    "claude-haiku": [*COMMON, *CONVERSATIONAL, extra_key],
    "prompt-completion": COMMON,
    "llama-prompt-completion": COMMON,
}


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_each_single_mutation_is_caught_on_its_line(family: ModelFamily) -> None:
    mutations = MUTATIONS[family.model or family.name]
    padding = fillers(family)

    @PROPERTY_SETTINGS
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        record = copy.deepcopy(data.draw(records(family), label="record"))
        mutate = data.draw(st.sampled_from(mutations), label="mutation")
        line, code = mutate(record, family, data)
        position = data.draw(st.integers(0, family.min_records), label="position")
        lines = list(padding)
        lines.insert(position, line + b"\n")
        found = errors_by_line(family, lines)
        assert code in found.get(position + 1, set()), (mutate.__name__, found)
        assert set(found) == {position + 1}, found  # every other line, and the file, stay valid

    check()


def test_every_mutation_is_exercised_by_some_family() -> None:
    """The table above names each mutation the issue lists; none is left out by accident."""
    used = {mutation.__name__ for mutations in MUTATIONS.values() for mutation in mutations}
    assert used == {
        "break_json",
        "non_utf8",
        "not_object",
        "drop_required_key",
        "wrong_type",
        "empty_text",
        "too_many_tokens",
        "swap_role",
        "unknown_role",
        "no_messages",
        "reserved_token",
        "schema_version",
        "media_block",
        "extra_key",
    }
