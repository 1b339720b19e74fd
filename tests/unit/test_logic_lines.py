"""Splitting streamed chunks into lines: the same lines whatever the chunk boundaries."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st
from iterft_runtime.logic.lines import TruncatedLine, split_lines


def reference(data: bytes) -> list[bytes]:
    """What iterating a binary file yields: lines ending in b"\\n", and a last one without."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    return lines + ([parts[-1]] if parts[-1] else [])


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(
    st.binary(max_size=300).map(lambda b: b.replace(b"x", b"\n")), st.lists(st.integers(0, 400), max_size=12)
)
def test_lines_do_not_depend_on_chunk_boundaries(data: bytes, cuts: list[int]) -> None:
    assert list(split_lines(chunked(data, cuts))) == reference(data)


def test_only_newline_ends_a_line() -> None:
    assert list(split_lines([b"a\r\nb\rc\n", b"d"])) == [b"a\r\n", b"b\rc\n", b"d"]


def test_no_chunks_no_lines() -> None:
    assert list(split_lines([])) == [] and list(split_lines([b""])) == []


def test_overlong_lines_are_cut_and_keep_their_real_length() -> None:
    lines = list(split_lines([b"abc", b"defgh\nxy", b"z\n" + b"q" * 9, b"q"], max_line_bytes=4))
    assert lines == [b"abcd", b"xyz\n", b"qqqq"]
    assert isinstance(lines[0], TruncatedLine) and lines[0].full_length == 9
    assert not isinstance(lines[1], TruncatedLine)
    assert isinstance(lines[2], TruncatedLine) and lines[2].full_length == 10
