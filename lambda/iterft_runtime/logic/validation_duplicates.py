"""Duplicate records: a fixed-size digest a record, remembered with the line it was first seen on.

Two digests, one for each path a record can take (a record's path depends only on its JSON value,
never on its spelling, so records equal as JSON always get the same kind):
- the fast path (validation_fast) digests the texts the typed decoders made and the record's shape
  (TextRules: XXH64 in C from a random key, or Python's hash where the extension is not built);
- the exact path hashes `canonical(record)` (below), whatever the record holds.
Two records of different content, of either path, get equal digests only by a 64-bit collision (about
n**2 / 2**65 likely for n records); both hashes are keyed a run (Python's unless PYTHONHASHSEED fixes
it), so no record can be written to collide with another.
"""

from __future__ import annotations

from typing import Any

MAX_NESTING = 254
"""Deepest nesting of objects and arrays checked (orjson parses 1,024); no record comes near it."""
DUPLICATE_WINDOW = 100_000
"""Records remembered for duplicate detection: above every family's record limit, so exact in practice."""


class TooDeep(Exception):
    """A record nested deeper than MAX_NESTING: refused rather than walked with unbounded recursion."""


class DuplicateWindow:
    """Digest -> the first line with it, for at most DUPLICATE_WINDOW records (memory stays bounded)."""

    def __init__(self) -> None:
        self.first_lines: dict[int, int] = {}

    def first_line(self, number: int, digest: int) -> int | None:
        """The line a record with `digest` was first seen on, else None (and `number` is remembered)."""
        first = self.first_lines.get(digest)
        if first is None and len(self.first_lines) < DUPLICATE_WINDOW:
            self.first_lines[digest] = number
        return first


def canonical(value: Any, depth: int = 1) -> Any:
    """A hashable form equal for records equal as JSON, whatever their key order and spacing.

    Hashing it is about twice as fast as hashing `orjson.dumps(record, option=OPT_SORT_KEYS)` on
    the benchmark's file: strings are hashed where they are, not encoded and copied. Non-string
    scalars keep their type and repr, so 1, 1.0 and true stay different, as their JSON texts are.
    """
    if depth > MAX_NESTING:
        raise TooDeep
    kind = type(value)  # the parser makes exact types; bool, a subclass of int, must stay apart
    if kind is dict:  # sorted (key, value) pairs; no other form is a tuple of pairs
        items = []
        for key, item in value.items():
            items.append((key, item if type(item) is str else canonical(item, depth + 1)))
        items.sort()  # keys are unique, so values are never compared
        return tuple(items)
    if kind is list:  # `list`, then the items: no other form starts with a type that is not a scalar's
        return (list, *[item if type(item) is str else canonical(item, depth + 1) for item in value])
    if kind is str:
        return value
    return (kind, repr(value))
