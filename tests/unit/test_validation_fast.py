"""The fast path proves lines clean and nothing more: what it accepts the exact path accepts, what it
declines the exact path reports as before, and a record's path and digest depend on its JSON value
alone. Also AWS's media URI rule, which both paths apply. Tests of the fast path alone run it with the
text rules in C (native/texts.c) and in Python (PythonTextRules)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from family_params import ALL_FAMILIES
from iterft_runtime.logic.lines import split_lines
from iterft_runtime.logic.validation import validate_lines
from iterft_runtime.logic.validation_fast import fast_check
from iterft_runtime.logic.validation_records import RecordChecker
from iterft_runtime.logic.validation_report import ValidationReport
from iterft_runtime.models.families import (
    CLAUDE_HAIKU,
    LLAMA_CONVERSATION,
    NOVA,
    PROMPT_COMPLETION,
    DataFormat,
    ModelFamily,
)


def exact_problems(family: ModelFamily, line: bytes) -> list[str]:
    """The exact path's codes for one line (as line 2: no first-bytes checks)."""
    report = ValidationReport(family=family.name, data_format=family.data_format.value)
    RecordChecker(family, report).check_line(2, line)
    return [problem.code for problem in report.problems]


def turn(role: str, *blocks: Any) -> dict[str, Any]:
    return {"role": role, "content": list(blocks)}


def conv(*turns: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schemaVersion": "bedrock-conversation-2024", "messages": list(turns), **extra}


def image(uri: str = "s3://bucket/media/cat_01.png", fmt: str = "png") -> dict[str, Any]:
    return {"image": {"format": fmt, "source": {"s3Location": {"uri": uri}}}}


@pytest.fixture(params=[True, False], ids=["c", "python"])
def use_native(request: pytest.FixtureRequest) -> bool:
    native: bool = request.param
    return native


TEXT = {"text": "hello"}
RECORDS: list[tuple[ModelFamily, Any]] = [
    (NOVA, conv(turn("user", TEXT), turn("assistant", TEXT))),
    (NOVA, conv(turn("user", TEXT, TEXT), turn("assistant", TEXT), system=[{"text": "be brief"}])),
    (NOVA, conv(turn("user", TEXT), turn("assistant", TEXT), system=[])),
    (NOVA, conv(turn("user", image(), TEXT), turn("assistant", TEXT))),
    (NOVA, conv(turn("user", {"video": image()["image"] | {"format": "mp4"}}), turn("assistant", TEXT))),
    (NOVA, conv(turn("user", TEXT), turn("assistant", TEXT), *[turn("user", TEXT), turn("assistant", TEXT)])),
    (LLAMA_CONVERSATION, conv(turn("user", {"text": "User: hi"}), turn("assistant", TEXT))),
    (
        CLAUDE_HAIKU,
        {
            "system": "s",
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        },
    ),
    (PROMPT_COMPLETION, {"prompt": "p", "completion": "c"}),
    # Declined by the fast path, reported (or passed) by the exact one:
    (NOVA, conv(turn("user", TEXT), turn("assistant", TEXT), metadata={"id": 1})),  # a key nova ignores
    (NOVA, conv(turn("user", {"text": "Bot: hi"}), turn("assistant", TEXT))),
    (NOVA, conv(turn("user", {"text": " "}), turn("assistant", TEXT))),
    (NOVA, conv(turn("assistant", TEXT), turn("user", TEXT))),
    (NOVA, conv(turn("user", image("s3://bucket/my cat.png"), TEXT), turn("assistant", TEXT))),
    (NOVA, conv(turn("user", TEXT), turn("assistant", image(), TEXT))),
    (NOVA, conv(turn("user", {"text": "x" * 90_000}), turn("assistant", TEXT))),  # near the token limit
    (NOVA, {"schemaVersion": "bedrock-conversation-2024", "messages": [], "system": None}),
    (
        CLAUDE_HAIKU,
        {
            "system": None,
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        },
    ),
    (PROMPT_COMPLETION, {"prompt": "p", "completion": "c", "id": 7}),
]


@pytest.mark.parametrize(("family", "record"), RECORDS)
def test_what_the_fast_path_accepts_the_exact_path_finds_clean(
    family: ModelFamily, record: Any, use_native: bool
) -> None:
    line = json.dumps(record).encode() + b"\n"
    if fast_check(family, use_native=use_native)(line) is not None:
        assert exact_problems(family, line) == []


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_the_fast_path_takes_the_common_record_of_every_format(family: ModelFamily, use_native: bool) -> None:
    record = {
        DataFormat.CONVERSATION: conv(turn("user", TEXT), turn("assistant", TEXT)),
        DataFormat.CLAUDE_MESSAGES: RECORDS[7][1],
        DataFormat.PROMPT_COMPLETION: RECORDS[8][1],
    }[family.data_format]
    assert fast_check(family, use_native=use_native)(json.dumps(record).encode()) is not None


SPELLINGS = [
    pytest.param(
        b'{"prompt": "caf\\u00e9 \\ud83d\\ude00", "completion": "c"}',
        '{"completion":"c","prompt":"café 😀"}'.encode(),
        id="escapes-key-order-spacing",
    ),
    pytest.param(
        b'{"prompt": "p", "prompt": "q", "completion": "c"}',
        b'{"prompt": "q", "completion": "c"}',
        id="repeated-key",
    ),
]


@pytest.mark.parametrize(("first", "second"), SPELLINGS)
def test_records_equal_as_json_are_duplicates_whatever_their_spelling(first: bytes, second: bytes) -> None:
    report = validate_lines([first + b"\n", second + b"\n"], PROMPT_COMPLETION)
    assert [(p.line, p.code) for p in report.problems] == [(2, "duplicate_record")]


def test_a_duplicate_of_a_record_the_fast_path_declines_is_still_found() -> None:
    record = {"prompt": "p", "completion": "c", "id": 7}  # an extra key: the exact path
    lines = [json.dumps(record).encode() + b"\n", json.dumps(record, indent=1).replace("\n", " ").encode()]
    report = validate_lines(lines, PROMPT_COMPLETION)
    assert [(p.line, p.code) for p in report.problems] == [(2, "duplicate_record")]


def test_records_that_differ_only_in_shape_are_not_duplicates() -> None:
    one_block_each = conv(turn("user", {"text": "a"}, {"text": "b"}), turn("assistant", {"text": "c"}))
    moved = conv(turn("user", {"text": "a"}), turn("assistant", {"text": "b"}, {"text": "c"}))
    as_system = conv(turn("user", {"text": "b"}), turn("assistant", {"text": "c"}), system=[{"text": "a"}])
    filler = [conv(turn("user", {"text": f"q{i}"}), turn("assistant", TEXT)) for i in range(8)]
    lines = [json.dumps(r).encode() + b"\n" for r in (one_block_each, moved, as_system, *filler)]
    assert validate_lines(lines, NOVA).counts == {}


@pytest.mark.parametrize(
    ("uri", "valid"),
    [
        ("s3://bucket/media/cat_01.png", True),
        ("s3://bucket/dir-1/sub.dir/a.PNG", True),
        ("s3://bucket/café/a.png", True),  # AWS's rule is Python's \w: Unicode letters pass
        ("s3://bucket/my cat.png", False),
        ("s3://bucket/a+b.png", False),
        ("s3://bucket/a.png?versionId=1", False),
        ("s3://bucket/a%20b.png", False),
        ("https://bucket/a.png", False),
    ],
)
def test_a_media_uri_bedrock_cannot_read_is_refused_on_its_line(uri: str, valid: bool) -> None:
    bad = conv(turn("user", image(uri), TEXT), turn("assistant", TEXT))
    filler = [conv(turn("user", {"text": f"q{i}"}), turn("assistant", TEXT)) for i in range(8)]
    lines = [json.dumps(r).encode() + b"\n" for r in (*filler[:3], bad, *filler[3:])]
    report = validate_lines(split_lines([b"".join(lines)]), NOVA)
    assert [(p.line, p.code) for p in report.problems] == ([] if valid else [(4, "bad_media_source")])
    if not valid and uri.startswith("s3://"):
        assert "letters, digits, _ - / ." in report.problems[0].message


def exact_report(family: ModelFamily, line: bytes) -> ValidationReport:
    report = ValidationReport(family=family.name, data_format=family.data_format.value)
    RecordChecker(family, report).check_line(2, line)
    return report


# Texts long enough that the token estimate needs words counted (0.75 x chars over 0.9 x the limit):
# prose (characters decide), one-letter words (words decide), and whitespace str.split() splits on
# that is not a space: ASCII separators, no-break and ideographic spaces.
NEAR_LIMIT_TEXTS = {
    "prose": ("Please check the order status again tomorrow. " * 200)[:9_000],
    "short-words": "a " * 2_456,  # 3,684 tokens by words, just under the warning line
    "ascii-separators": "a\x1c" * 2_456,
    "no-break-spaces": "a\xa0" * 2_456,
    "ideographic-spaces": "a\u3000" * 2_456,
    "non-ascii-prose": ("Déjà-vu, café noir à la façade. " * 300)[:9_000],
    "near-by-words": "ab " * 2_600,
    "too-many-words": "a " * 3_000,
    "too-many-chars": "abcdefgh " * 1_500,
}


@pytest.mark.parametrize("text", NEAR_LIMIT_TEXTS.values(), ids=NEAR_LIMIT_TEXTS.keys())
def test_a_record_near_the_token_limit_gets_the_exact_paths_estimate(text: str, use_native: bool) -> None:
    assert 0.75 * (len(text) + 1) + 4 > 0.9 * PROMPT_COMPLETION.max_tokens_per_record  # words may count
    line = json.dumps({"prompt": "p", "completion": text}).encode() + b"\n"
    exact = exact_report(PROMPT_COMPLETION, line)
    found = fast_check(PROMPT_COMPLETION, use_native=use_native)(line)
    if found is None:  # declined: the exact path reports it, near or over the limit
        assert [problem.code for problem in exact.problems] in (["near_token_limit"], ["too_many_tokens"])
    else:
        assert exact.problems == []
        assert found[0] == exact.estimated_tokens
    report = validate_lines([line], PROMPT_COMPLETION)
    assert report.estimated_tokens == exact.estimated_tokens
    assert [problem.code for problem in report.problems if problem.line] == [p.code for p in exact.problems]


def test_near_limit_records_take_the_fast_path_when_under_the_warning_line(use_native: bool) -> None:
    line = json.dumps({"prompt": "p", "completion": NEAR_LIMIT_TEXTS["prose"]}).encode()
    assert fast_check(PROMPT_COMPLETION, use_native=use_native)(line) is not None


LONG = "Step 2: check the receipt [1] and Settings -> Billing, then wait until 10:30. " * 40


@pytest.mark.parametrize(
    "text",
    [
        LONG + "User: hi",  # long: scanned occurrence by occurrence
        "x:" * 200 + "Thought: ok" + LONG,  # dense in ':' (over RESERVED_CHECKS_PER_CHAR): the regex
        LONG + "[EOS]",
        LONG + "<video>",
        "Bot: hi",  # short: the regex
        "\u013a:" * 300 + "User: hi",  # two bytes a character, U+013A's low byte is ':' (C's memchr)
        "\U0001f600 " + LONG + "<image>",  # four bytes a character
    ],
)
def test_a_reserved_token_in_a_text_of_any_length_is_reported(text: str, use_native: bool) -> None:
    for record in (
        conv(turn("user", {"text": text}), turn("assistant", TEXT)),
        conv(turn("user", TEXT), turn("assistant", TEXT), system=[{"text": text}]),
    ):
        line = json.dumps(record).encode() + b"\n"
        assert fast_check(NOVA, use_native=use_native)(line) is None
        assert "reserved_token" in exact_problems(NOVA, line)


@pytest.mark.parametrize("prefix", ["x:", "\u013a:", "\U0001f600:"])
def test_a_long_text_without_reserved_tokens_takes_the_fast_path(prefix: str, use_native: bool) -> None:
    record = conv(turn("user", {"text": prefix * 200 + LONG}), turn("assistant", {"text": LONG}))
    assert fast_check(NOVA, use_native=use_native)(json.dumps(record).encode()) is not None
