"""Types of the extension native/texts.c builds (`make setup`): the validator's text rules in C."""

from collections.abc import Iterable

class TextRules:
    def __init__(self, reserved: Iterable[str]) -> None: ...
    def scan(self, texts: list[str], seed: int, /) -> tuple[int, int] | None:
        """None when a text is empty, only whitespace or holds a reserved token; else (the texts'
        characters, their digest from seed)."""

def xxh64(data: bytes, seed: int, /) -> int:
    """XXH64 of data (for tests)."""
