"""The fast path proves lines clean and nothing more: what it accepts the exact path accepts, what it
declines the exact path reports as before, and a record's path and digest depend on its JSON value
alone. Also AWS's media URI rule, which both paths apply."""

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
def test_what_the_fast_path_accepts_the_exact_path_finds_clean(family: ModelFamily, record: Any) -> None:
    line = json.dumps(record).encode() + b"\n"
    if fast_check(family)(line) is not None:
        assert exact_problems(family, line) == []


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_the_fast_path_takes_the_common_record_of_every_format(family: ModelFamily) -> None:
    record = {
        DataFormat.CONVERSATION: conv(turn("user", TEXT), turn("assistant", TEXT)),
        DataFormat.CLAUDE_MESSAGES: RECORDS[7][1],
        DataFormat.PROMPT_COMPLETION: RECORDS[8][1],
    }[family.data_format]
    assert fast_check(family)(json.dumps(record).encode()) is not None


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
