"""The validator's text rules in C (native/texts.c, module iterft_texts): built by `make setup`, used by
the fast path by default, answering as PythonTextRules does on arbitrary text, counting words as
str.split does, its digest xxHash's own XXH64 (the xxhash package, xxHash's binding) of CPython's code
units, and bad input a Python error."""

from __future__ import annotations

from typing import ClassVar

import iterft_texts
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st
from iterft_runtime.logic.validation_fast import (
    MAX_FAST_TURNS,
    FastPath,
    PythonTextRules,
    _Text,
    _TextTurn,
    text_rules,
)
from iterft_runtime.logic.validation_rules import estimate_tokens
from iterft_runtime.models.families import CLAUDE_HAIKU, NOVA

RESERVED = NOVA.reserved_tokens
UNIT_CODECS = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}
"""The codec that writes a str's code units as CPython stores them in each kind (its widest character
decides the kind), little-endian as on x86_64 and arm64."""

# Text made of what the rules key on: reserved tokens and their pieces, whitespace of every kind,
# characters of one, two and four bytes (U+013A's low byte is ':', U+FF1A is the fullwidth colon).
PIECES = st.sampled_from(
    [
        *RESERVED,
        "User",
        "[EOS",
        "image>",
        ":",
        "]",
        ">",
        " ",
        "\n",
        "\xa0",
        "\u3000",
        "\u013a",
        "\uff1a",
        "\U0001f600",
    ]
)
TEXT = st.one_of(st.text(max_size=30), st.lists(PIECES | st.text(max_size=3), max_size=12).map("".join))


def kind(text: str) -> int:
    widest = max(map(ord, text), default=0)
    return 1 if widest < 0x100 else 2 if widest < 0x10000 else 4


WORD = 2**64
P1, P2, P4 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x85EBCA77C2B2AE63
KEY = 0x0123456789ABCDEF


def merge(accumulator: int, value: int) -> int:
    """XXH64's merge round (xxhash.h, XXH64_mergeRound), with which the C starts and closes a chain."""
    value = value * P2 % WORD
    value = ((value << 31) | (value >> 33)) % WORD * P1 % WORD
    return ((accumulator ^ value) * P1 + P4) % WORD


def reference_digest(texts: list[str], seed: int, key: int = KEY) -> int:
    digest = merge(key, seed % WORD)
    for text in texts:
        units = text.encode(UNIT_CODECS[kind(text)], "surrogatepass")
        digest = xxhash.xxh64_intdigest(units, seed=digest ^ kind(text))
    return merge(digest, len(texts))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 2**64 - 1))
def test_its_hash_is_xxh64(data: bytes, seed: int) -> None:
    assert iterft_texts.xxh64(data, seed) == xxhash.xxh64_intdigest(data, seed=seed)


@settings(max_examples=3000, deadline=None)
@given(st.lists(TEXT, max_size=4), st.integers(-(2**63), 2**63 - 1))
def test_it_answers_as_the_python_rules_do(texts: list[str], seed: int) -> None:
    native = iterft_texts.TextRules(RESERVED, MAX_FAST_TURNS, KEY).scan(texts, seed)
    python = PythonTextRules(RESERVED).scan(texts, seed)
    if python is None:
        assert native is None
    else:
        assert native == (python[0], reference_digest(texts, seed))


SPACED = st.sampled_from(
    [" ", "\t", "\n", "\x1c", "\x85", "\xa0", "\u3000", "\x08", "a", "\xe9", "\U0001f600"]
)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.text(), st.text(SPACED), st.text(SPACED, min_size=300, max_size=1000)))
def test_its_words_and_estimate_are_the_exact_paths(text: str) -> None:
    """Whitespace of every kind, and texts past the 255-character blocks the 1-byte count goes by."""
    rules = iterft_texts.TextRules((), 4, KEY)
    assert rules.words(text) == len(text.split())
    assert rules.estimate([text, text[::2]], 0) == estimate_tokens(text) + estimate_tokens(text[::2])


BLOCKS = st.lists(TEXT.map(lambda text: _Text(text=text)), min_size=1, max_size=3)
TURNS = st.lists(
    st.builds(_TextTurn, role=st.sampled_from(["user", "assistant"]), content=BLOCKS), max_size=6
)
CONVERSATION = st.tuples(TURNS, st.one_of(st.none(), st.lists(TEXT.map(lambda text: _Text(text=text)))))
Conversation = tuple[list[_TextTurn], "list[_Text] | None"]


@settings(max_examples=500, deadline=None)
@given(st.lists(CONVERSATION, min_size=1, max_size=4))
def test_its_conversations_are_the_python_rules_ones(conversations: list[Conversation]) -> None:
    """Role order, the texts' rules and characters as PythonTextRules.conversation; two conversations'
    digests equal in C exactly when they are in Python (the same texts and shape)."""
    rules = iterft_texts.TextRules(RESERVED, MAX_FAST_TURNS, KEY)
    native = [rules.conversation(*each) for each in conversations]
    python = [PythonTextRules(RESERVED).conversation(*each) for each in conversations]
    assert [None if found is None else found[0] for found in native] == [
        None if found is None else found[0] for found in python
    ]
    for one, two in [(a, b) for a in range(len(python)) for b in range(a) if python[a] and python[b]]:
        assert (native[one] == native[two]) == (python[one] == python[two])


def test_a_conversation_over_max_turns_is_declined() -> None:
    turns = [_TextTurn(role=role, content=[_Text(text="x")]) for role in ["user", "assistant"] * 3]
    assert iterft_texts.TextRules((), 6, KEY).conversation(turns, None) is not None
    assert iterft_texts.TextRules((), 4, KEY).conversation(turns, None) is None


def test_equal_texts_have_equal_digests_and_different_ones_differ() -> None:
    scan = iterft_texts.TextRules((), MAX_FAST_TURNS, KEY).scan
    assert scan(["ab", "c"], 7) == scan(["a" + "b", "c"], 7)
    others = {scan(texts, seed) for texts, seed in [(["ab", "c"], 7), (["a", "bc"], 7), (["ab", "c"], 8)]}
    assert len(others) == 3
    assert scan(["caf\xe9"], 0) != scan(["caf\u01e9"], 0)  # the same low bytes, another kind


def test_the_fast_path_scans_in_c_by_default() -> None:
    assert isinstance(text_rules(RESERVED), iterft_texts.TextRules)
    assert isinstance(text_rules(RESERVED, use_native=False), PythonTextRules)
    line = b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}'
    assert FastPath(CLAUDE_HAIKU).check(line) is not None


def test_bad_input_is_a_python_error() -> None:
    scan = iterft_texts.TextRules(RESERVED, MAX_FAST_TURNS, KEY).scan
    with pytest.raises(TypeError, match="list of str"):
        scan(("a tuple",), 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be str, not bytes"):
        scan(["fine", b"not text"], 0)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        scan(["fine"], "seed")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="texts and seed"):
        scan(["fine"])  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="non-empty str"):
        iterft_texts.TextRules(["User:", ""], 4, KEY)
    with pytest.raises(TypeError, match="non-empty str"):
        iterft_texts.TextRules([b"User:"], 4, KEY)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="max_turns"):
        iterft_texts.TextRules([], 1, KEY)
    conversation = iterft_texts.TextRules((), 4, KEY).conversation
    with pytest.raises(TypeError, match="messages must be a list"):
        conversation((), None)
    with pytest.raises(AttributeError, match="role"):
        conversation([object(), object()], None)
    with pytest.raises(TypeError, match="content must be a list"):
        conversation([_TextTurn(role="user", content=(_Text(text="x"),)), object()], None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="system must be a list or None"):
        conversation([_TextTurn(role="user", content=[]), _TextTurn(role="assistant", content=[])], ())  # type: ignore[arg-type]
    for make in (lambda: iterft_texts.TextRules(["a\0b"], 4, KEY), lambda: PythonTextRules(("a\0b",))):
        with pytest.raises(ValueError, match="may not hold"):
            make()


def test_turns_that_change_the_list_while_read_are_no_crash() -> None:
    """An attribute read may run Python code (not a msgspec Struct's): a getter that empties the list
    being read makes the record declined or an error, never a read of a freed turn."""
    messages: list[object] = []

    class Turn:
        content: ClassVar[list[_Text]] = []

        @property
        def role(self) -> str:
            messages.clear()
            return "user"

    messages[:] = [Turn(), Turn()]
    assert iterft_texts.TextRules((), 4, KEY).conversation(messages, None) is None


def test_digests_start_from_the_key() -> None:
    """The fast path draws a key a run (as Python's hash is keyed): with another key, another digest."""
    texts = ["What is my balance?", "It is 10 EUR."]
    one, two = (iterft_texts.TextRules((), 4, key).scan(texts, 0) for key in (KEY, KEY + 1))
    assert one is not None and two is not None and one[0] == two[0] and one[1] != two[1]
    assert text_rules(()).scan(texts, 0) != text_rules(()).scan(texts, 0)
