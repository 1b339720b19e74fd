"""Splitting a byte stream into lines without holding more than one line in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from io import BytesIO

MAX_LINE_BYTES = 8 * 1024 * 1024
"""Longer lines are cut here: no record any family accepts comes near it (see TruncatedLine)."""
SPLIT_BYTES = 64 * 1024
"""split_lines splits whole lines off a chunk this many bytes at a most (the lines of a whole
1 MiB chunk at once took fresh pages, a page fault each 4 KiB, and left the cache)."""


class TruncatedLine(bytes):
    """The first MAX_LINE_BYTES of a longer line; `full_length` is the line's real size.

    A bytes subclass so that consumers that only look at content keep working, while the
    validator can report the line as far too long instead of as broken JSON.
    """

    full_length: int

    def __new__(cls, prefix: bytes, full_length: int) -> TruncatedLine:
        line = super().__new__(cls, prefix)
        line.full_length = full_length
        return line


def split_lines(chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """Yield each line with its trailing b"\\n" (when it has one), like iterating a binary file.

    Only b"\\n" ends a line (a stray b"\\r" does not), so line numbers match `wc -l` and editors.
    """
    pending = bytearray()
    overflow = 0  # bytes of the current line dropped beyond max_line_bytes
    span = min(SPLIT_BYTES, max_line_bytes)  # the lines of a span all fit
    for chunk in chunks:
        start = 0
        reader = BytesIO(chunk)  # shares the chunk's bytes; lines end at b"\n" only (memchr)
        while start < len(chunk):
            if not pending and not overflow:
                stop = chunk.rfind(b"\n", start, start + span)
                if stop >= 0:  # the common case: whole lines, each fitting, split and copied in C
                    reader.seek(start)
                    yield from reader.readlines(stop + 1 - start)  # to the line ending at `stop`
                    start = stop + 1
                    continue
            end = chunk.find(b"\n", start)
            if end >= 0 and not pending and not overflow and end - start < max_line_bytes:
                yield chunk[start : end + 1]  # a whole line in one chunk: one copy
                start = end + 1
                continue
            piece = chunk[start:] if end < 0 else chunk[start : end + 1]
            room = max_line_bytes - len(pending)
            if len(piece) > room:
                pending += piece[: max(room, 0)]
                overflow += len(piece) - max(room, 0)
            else:
                pending += piece
            if end < 0:
                break
            yield _finish(pending, overflow)
            pending, overflow = bytearray(), 0
            start = end + 1
    if pending or overflow:
        yield _finish(pending, overflow)


def _finish(pending: bytearray, overflow: int) -> bytes:
    return TruncatedLine(bytes(pending), len(pending) + overflow) if overflow else bytes(pending)
