"""The streaming dataset validator on whole files: exact line numbers, counts, sizes, encodings, strict JSON,
streaming and each family's limits."""

from __future__ import annotations

import bz2
import gzip
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from family_params import ALL_FAMILIES
from iterft_runtime.logic import validation
from iterft_runtime.logic.lines import TruncatedLine, split_lines
from iterft_runtime.logic.validation import estimate_tokens, validate_lines
from iterft_runtime.models.families import (
    CLAUDE_HAIKU,
    LLAMA_CONVERSATION,
    NOVA,
    PROMPT_COMPLETION,
    ModelFamily,
)
from validation_support import (
    CLAUDE_GOOD,
    GOOD_CONV,
    LITE,
    asking,
    conv,
    filler,
    lines_of,
    padded,
    problems,
    turn,
)


def test_every_bad_line_is_reported_with_its_number_and_validation_goes_on() -> None:
    lines = lines_of(
        GOOD_CONV,
        b"not json",
        conv(turn("user", "x"), turn("user", "y")),
        b"",  # a blank line still counts as a line
        conv(turn("user", "q"), turn("assistant", "")),
        *[conv(turn("user", f"q{i}"), turn("assistant", f"a{i}")) for i in range(6)],
    )
    report = validate_lines(lines, NOVA)
    assert problems(report) == [
        (2, "invalid_json"),
        (3, "roles_not_alternating"),
        (3, "must_end_with_assistant"),
        (4, "blank_line"),
        (5, "empty_text"),
    ]
    assert report.records == 10 and report.size_bytes == sum(len(line) for line in lines)
    assert report.valid is False and report.error_count == 4 and report.warning_count == 1


def test_warnings_do_not_fail_a_file() -> None:
    report = validate_lines([*padded(NOVA, GOOD_CONV, GOOD_CONV), b"\n"], NOVA)
    assert problems(report) == [(2, "duplicate_record"), (9, "blank_line")]
    assert report.problems[0].message == "same record as line 1"
    assert report.valid is True


def test_duplicates_are_recognised_whatever_the_key_order_and_spacing() -> None:
    same = (
        b'{"messages": [{"content": [{"text": "hi"}], "role": "user"}, '
        + json.dumps(turn("assistant", "hello")).encode()
        + b'],   "schemaVersion": "bedrock-conversation-2024"}'
    )
    assert problems(validate_lines(padded(NOVA, GOOD_CONV, same), NOVA)) == [(2, "duplicate_record")]


def test_token_limits_and_the_near_limit_warning() -> None:
    limit = NOVA.max_tokens_per_record
    near = "x" * (3 * limit - 600)  # about limit - 200 tokens: within 10% of the limit
    over = "x" * (3 * limit + 30)
    report = validate_lines(
        padded(
            NOVA,
            conv(turn("user", near), turn("assistant", "ok")),
            conv(turn("user", over), turn("assistant", "ok")),
        ),
        NOVA,
    )
    assert problems(report) == [(1, "near_token_limit"), (2, "too_many_tokens")]
    assert report.valid is False


def test_the_dataset_token_total_counts_characters_and_near_the_limit_words_too() -> None:
    short_words = "a " * 2500  # 5,000 chars, 2,500 words: 3,750 tokens, over 90% of 4,096
    report = validate_lines(
        lines_of(
            {"prompt": "what is my balance?", "completion": "It is shown under Account."},
            {"prompt": short_words, "completion": "ok"},
        ),
        PROMPT_COMPLETION,
    )
    assert problems(report) == [(2, "near_token_limit")]
    # Record 1: 19 + 26 = 45 characters -> 15. Record 2: counted word by word, as its limit check
    # did: 3,750 + "ok" (max(2 / 3, 1 x 1.5) -> 2) = 3,752, not its 5,002 characters / 3 (1,668).
    assert report.estimated_tokens == 15 + 3_752
    assert report.to_dict()["estimated_tokens"] == 3_767


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("abc", 2), ("abcdef", 2), ("a b c d", 6), ("word " * 10, 17)],
)
def test_estimate_tokens_is_the_documented_conservative_bound(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, [(None, "empty_file")]),
        (7, [(None, "too_few_records")]),
        (8, []),
        (20_001, [(None, "too_many_records")]),
    ],
)
def test_record_count_limits(count: int, expected: list[tuple[None, str]]) -> None:
    lines = (
        json.dumps(conv(turn("user", f"q{i}"), turn("assistant", "a"))).encode() + b"\n" for i in range(count)
    )
    report = validate_lines(lines, NOVA)
    assert problems(report) == expected and report.records == count


def test_validation_files_have_their_own_record_limits() -> None:
    one = lines_of(GOOD_CONV)
    assert validate_lines(one, NOVA, validation_file=True).valid is True
    many = (json.dumps({"prompt": f"p{i}", "completion": "c"}).encode() + b"\n" for i in range(1001))
    assert problems(validate_lines(many, PROMPT_COMPLETION, validation_file=True)) == [
        (None, "too_many_records")
    ]


def test_an_empty_file_of_blank_lines_is_empty() -> None:
    assert problems(validate_lines([b"\n", b"  \n"], NOVA)) == [
        (1, "blank_line"),
        (2, "blank_line"),
        (None, "empty_file"),
    ]


def test_a_declared_size_over_the_limit_refuses_without_reading() -> None:
    def never() -> Iterator[bytes]:
        raise AssertionError("read")
        yield b""

    report = validate_lines(never(), PROMPT_COMPLETION, declared_size=PROMPT_COMPLETION.max_file_bytes + 1)
    assert problems(report) == [(None, "file_too_large")] and report.valid is False


def test_reading_stops_once_the_file_is_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    small = ModelFamily("tiny", PROMPT_COMPLETION.data_format, {}, 1, 100, 4096, max_file_bytes=100)
    read = []

    def lines() -> Iterator[bytes]:
        for i in range(1000):
            read.append(i)
            yield json.dumps({"prompt": f"p{i}", "completion": "c"}).encode() + b"\n"

    report = validate_lines(lines(), small)
    assert problems(report)[-1] == (None, "file_too_large")
    assert len(read) < 10


def test_a_truncated_line_is_reported_as_far_too_long() -> None:
    line = TruncatedLine(b'{"prompt": "' + b"x" * 10, full_length=50_000_000)
    report = validate_lines([line], PROMPT_COMPLETION)
    assert problems(report) == [(1, "too_many_tokens")]
    assert report.size_bytes == 50_000_000 and "50,000,000 bytes" in report.problems[0].message


def test_a_byte_order_mark_is_named() -> None:
    report = validate_lines(
        [b"\xef\xbb\xbf" + json.dumps({"prompt": "p", "completion": "c"}).encode()], PROMPT_COMPLETION
    )
    assert problems(report) == [(1, "utf8_bom")]


RECORD_TEXT = json.dumps({"prompt": "p", "completion": "c"}) + "\n"


@pytest.mark.parametrize(
    ("data", "named"),
    [
        pytest.param(gzip.compress(RECORD_TEXT.encode() * 3), "gzip-compressed", id="gzip"),
        pytest.param(bz2.compress(RECORD_TEXT.encode() * 3), "bzip2-compressed", id="bzip2"),
        pytest.param(
            (RECORD_TEXT * 3).encode("utf-16"),
            "UTF-16 LE text (it starts with the byte order mark ff fe)",
            id="utf16-bom",
        ),
        pytest.param(
            (RECORD_TEXT * 3).encode("utf-16-le"), "UTF-16 LE text (it starts with zero bytes", id="utf16le"
        ),
        pytest.param((RECORD_TEXT * 3).encode("utf-16-be"), "UTF-16 BE text", id="utf16be"),
        pytest.param(
            (RECORD_TEXT * 3).encode("utf-32"),
            "UTF-32 LE text (it starts with the byte order mark ff fe 00 00)",
            id="utf32-bom",
        ),
        pytest.param((RECORD_TEXT * 3).encode("utf-32-be"), "UTF-32 BE text", id="utf32be"),
    ],
)
def test_a_compressed_or_utf16_or_utf32_file_is_named_from_its_first_bytes(data: bytes, named: str) -> None:
    """The lines' own problems still follow (their codes unchanged); the first one says what the file is."""
    report = validate_lines(split_lines([data]), PROMPT_COMPLETION)
    first = report.problems[0]
    assert first.line == 1 and first.code in ("compressed_file", "wrong_encoding")
    assert named in first.message
    assert ("decompress it" if first.code == "compressed_file" else "save it as UTF-8") in first.message
    assert report.counts[first.code] == 1
    assert not report.valid


def test_utf8_text_with_zero_bytes_later_is_not_taken_for_utf16() -> None:
    report = validate_lines([b'{"prompt": "p\\u0000", "completion": "c"}'], PROMPT_COMPLETION)
    assert "wrong_encoding" not in report.counts


def pc_line(tail: bytes) -> bytes:
    """A prompt/completion record with `tail` as the value of an extra key the format ignores."""
    return b'{"prompt": "p", "completion": "c", "extra": ' + tail + b"}"


# Lines Python's `json` module accepted (NaN, lone surrogates) or crashed on (a 5,000-digit
# integer, deep nesting): each is its own line's problem, and the lines after it are still read.
UNPARSABLE_CASES = [
    pytest.param(pc_line(b"NaN"), "invalid_json", "column 45", id="nan"),
    pytest.param(pc_line(b"Infinity"), "invalid_json", "column 45", id="infinity"),
    pytest.param(pc_line(b"1e400"), "invalid_json", "infinity when parsed as double", id="beyond-double"),
    pytest.param(pc_line(b"1" * 5000), "invalid_json", "infinity when parsed as double", id="5000-digits"),
    pytest.param(b'{"prompt": "\\ud800 x", "completion": "c"}', "invalid_json", "surrogate", id="lone-high"),
    pytest.param(b'{"prompt": "\\udc00", "completion": "c"}', "invalid_json", "surrogate", id="lone-low"),
    pytest.param(
        b'{"prompt": "\xed\xa0\x80", "completion": "c"}', "invalid_utf8", "byte 13", id="utf8-surrogate"
    ),
    pytest.param(b'{"prompt": "\xc0\x80", "completion": "c"}', "invalid_utf8", "byte 13", id="overlong"),
    pytest.param(b'{"prompt": "\xf4\x90\x80\x80"}', "invalid_utf8", "byte 13", id="beyond-u10ffff"),
    pytest.param(
        b'{"prompt": "p\x01", "completion": "c"}', "invalid_json", "control character", id="control"
    ),
    pytest.param(b"\xef\xbb\xbf" + pc_line(b"1"), "invalid_json", "byte order mark", id="bom-on-line-2"),
    pytest.param(pc_line(b"[" * 254 + b"]" * 254), "invalid_json", "more than 254 levels", id="nested-255"),
    pytest.param(pc_line(b"[" * 2000 + b"]" * 2000), "invalid_json", "depth limit", id="nested-2001"),
    pytest.param(
        b'{"prompt": "\xc3\xa9\xc3\xa9", oops}', "invalid_json", "(column 18)", id="column-in-chars"
    ),
]


@pytest.mark.parametrize(("line", "code", "said"), UNPARSABLE_CASES)
def test_a_line_that_is_not_strict_json_is_its_own_problem(line: bytes, code: str, said: str) -> None:
    good = lines_of(*[{"prompt": f"p{i}", "completion": "c"} for i in range(3)])
    report = validate_lines([good[0], line + b"\n", *good[1:]], PROMPT_COMPLETION)
    assert problems(report) == [(2, code)]
    assert said in report.problems[0].message
    assert report.records == 4


def test_strict_json_at_the_edges_is_accepted() -> None:
    """Valid JSON the parser takes: integers past 64 bits, 254 levels, escaped pairs, a BOM in a text."""
    lines = [
        pc_line(b"18446744073709551615"),
        pc_line(b"-123456789012345678901234567890"),
        pc_line(b"[" * 253 + b"]" * 253),
        b'{"prompt": "\\ud83d\\ude00 \\ufeff", "completion": "c"}',
    ]
    report = validate_lines([line + b"\n" for line in lines], PROMPT_COMPLETION)
    assert problems(report) == [] and report.records == 4


def test_duplicates_keep_numbers_of_different_types_apart() -> None:
    lines = [pc_line(b"1"), pc_line(b"1.0"), pc_line(b"true"), pc_line(b'"1"'), pc_line(b"1")]
    report = validate_lines([line + b"\n" for line in lines], PROMPT_COMPLETION)
    assert problems(report) == [(5, "duplicate_record")]


def test_counts_are_exact_while_examples_are_capped() -> None:
    cap = validation.MAX_EXAMPLES_PER_CODE
    lines = [b"bad\n"] * (cap + 25) + lines_of(*[{"prompt": "p", "completion": str(i)} for i in range(3)])
    report = validate_lines(lines, PROMPT_COMPLETION)
    assert report.counts == {"invalid_json": cap + 25}
    assert len(report.problems) == cap
    assert [p.line for p in report.problems] == list(range(1, cap + 1))
    data = report.to_dict()
    assert data["counts"] == {"invalid_json": cap + 25} and data["errors"] == cap + 25
    assert data["problems"][0] == {
        "line": 1,
        "code": "invalid_json",
        "severity": "error",
        "message": "invalid JSON: unexpected character, expected a JSON value (column 1)",
    }


def test_the_validator_streams() -> None:
    """20 MB of records through a one-shot generator: memory stays at a line's size, not the file's."""
    roomy = ModelFamily("roomy", PROMPT_COMPLETION.data_format, {}, 1, 10_000, 100_000, max_file_bytes=10**9)

    def lines() -> Iterator[bytes]:
        for i in range(1000):
            yield json.dumps({"prompt": f"{i} " + "x" * 20_000, "completion": "c"}).encode() + b"\n"

    tracemalloc.start()
    try:
        report = validate_lines(lines(), roomy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.valid and report.records == 1000 and report.size_bytes > 20_000_000
    assert peak < 2_000_000


def test_summary_and_validity_from_counts() -> None:
    report = validate_lines(padded(NOVA, b"{", GOOD_CONV, GOOD_CONV), NOVA)
    assert (
        report.summary() == "invalid: 8 records, 1 errors, 1 warnings (duplicate_record x1, invalid_json x1)"
    )
    assert validate_lines(padded(NOVA), NOVA).summary() == "8 records, no problems"


def test_every_code_has_a_severity() -> None:
    assert set(validation.CODES.values()) == {validation.Severity.ERROR, validation.Severity.WARNING}
    assert {
        code for code, severity in validation.CODES.items() if severity is validation.Severity.WARNING
    } == {
        "blank_line",
        "duplicate_record",
        "near_token_limit",
        "evaluation_prompt_dropped",  # the leakage check's, under actions drop and warn
        "evaluation_prompt_kept",
    }


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_record_counts_per_family(family: ModelFamily) -> None:
    def count(n: int, **options: Any) -> list[tuple[int | None, str]]:
        return problems(validate_lines(filler(family, n), family, **options))

    assert count(family.min_records) == [] and count(family.max_records) == []
    if family.min_records > 1:
        assert count(family.min_records - 1) == [(None, "too_few_records")]
    assert count(family.max_records + 1) == [(None, "too_many_records")]
    assert count(1, validation_file=True) == []
    assert count(family.validation_max_records, validation_file=True) == []
    assert count(family.validation_max_records + 1, validation_file=True) == [(None, "too_many_records")]


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_token_limit_per_family(family: ModelFamily) -> None:
    limit = family.max_tokens_per_record
    over = "x" * (3 * limit + 30)  # chars / 3 passes the limit
    near = "x" * (3 * limit - 3 * limit // 20)  # 95% of the limit
    report = validate_lines([*filler(family, family.min_records, over)], family)
    assert problems(report) == [(1, "too_many_tokens")]
    report = validate_lines([*filler(family, family.min_records, near)], family)
    assert problems(report) == [(1, "near_token_limit")] and report.valid


@pytest.mark.parametrize("family", ALL_FAMILIES)
@pytest.mark.parametrize("validation_file", [False, True])
def test_file_size_limit_per_family_and_file_kind(family: ModelFamily, validation_file: bool) -> None:
    limit = family.validation_max_file_bytes if validation_file else family.max_file_bytes
    report = validate_lines(iter(()), family, validation_file=validation_file, declared_size=limit + 1)
    assert problems(report) == [(None, "file_too_large")]
    assert f"{limit:,}" in report.problems[0].message


def test_documented_file_limits() -> None:
    mb, gb = 1024**2, 1024**3
    assert (PROMPT_COMPLETION.max_file_bytes, PROMPT_COMPLETION.validation_max_file_bytes) == (gb, 100 * mb)
    assert (CLAUDE_HAIKU.max_file_bytes, CLAUDE_HAIKU.validation_max_records) == (10 * gb, 1_000)
    assert (CLAUDE_HAIKU.min_records, CLAUDE_HAIKU.max_records, CLAUDE_HAIKU.max_tokens_per_record) == (
        32,
        10_000,
        32_000,
    )
    assert (NOVA.min_records, NOVA.max_records) == (8, 20_000)
    assert (LLAMA_CONVERSATION.min_records, LLAMA_CONVERSATION.max_tokens_per_record) == (100, 16_000)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        pytest.param(
            ":" * (validation.RESERVED_CHECKS_PER_CHAR + 10) + " User: hi", True, id="after-the-checks"
        ),
        pytest.param("User: " + ":" * (validation.RESERVED_CHECKS_PER_CHAR + 10), True, id="before"),
        pytest.param("a: " * (validation.RESERVED_CHECKS_PER_CHAR * 2), False, id="dense-but-clean"),
        pytest.param(":" * (validation.RESERVED_CHECKS_PER_CHAR - 1) + "Bot:", True, id="last-checked"),
    ],
)
def test_the_reserved_token_scan_fallback(text: str, found: bool) -> None:
    """Past RESERVED_CHECKS_PER_CHAR colons the scan falls back to substring searches; both find tokens."""
    report = validate_lines(padded(NOVA, conv(turn("user", text), turn("assistant", "ok"))), NOVA)
    assert problems(report) == ([(1, "reserved_token")] if found else [])


def test_quoted_data_is_cut_so_a_report_stays_small() -> None:
    huge = "x" * 1_000_000
    nova = {**conv({"role": huge, "content": [{"text": "q"}]}, turn("assistant", "a")), "schemaVersion": huge}
    report = validate_lines(padded(NOVA, nova), NOVA)
    assert problems(report) == [(1, "bad_schema_version"), (1, "bad_role")]
    claude = {**CLAUDE_GOOD, **{huge + str(i): 1 for i in range(8)}}
    report = validate_lines(padded(CLAUDE_HAIKU, claude), CLAUDE_HAIKU)
    assert problems(report) == [(1, "unexpected_key")] and "and 3 more" in report.problems[0].message
    lite = asking({"image": {"format": huge, "source": {"s3Location": {"uri": "s3://d/a.png"}}}})
    report = validate_lines(padded(LITE, lite), LITE)
    assert problems(report) == [(1, "bad_media_format")]
    for problem in [*report.problems, *validate_lines(padded(NOVA, nova), NOVA).problems]:
        assert len(problem.message) < 200
