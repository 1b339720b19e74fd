"""Types of the extension native/texts.c builds (`make setup`): the validator's text rules in C."""

from collections.abc import Iterable
from typing import Any

INTERFACE: int

class TextRules:
    def __init__(self, reserved: Iterable[str], max_turns: int, key: int) -> None: ...
    def scan(self, texts: list[str], seed: int, /) -> tuple[int, int] | None:
        """None when a text is empty, only whitespace or holds a reserved token; else (the texts'
        characters, their digest from seed)."""
    def conversation(self, messages: list[Any], system: list[Any] | None, /) -> tuple[int, int] | None:
        """None unless the turns (`.role`, `.content`: blocks with `.text`) alternate from user to
        assistant (2 to max_turns) and scan passes their texts, then the system blocks' (None: no
        system); else (characters, digest of the texts, the blocks a turn and the system's)."""
    def words(self, text: str, /) -> int:
        """len(text.split()), as estimate counts them (for tests)."""
    def estimate(self, texts: list[str], escaped: int, /) -> int:
        """The exact path's token estimate of texts (escaped is not needed here)."""

def xxh64(data: bytes, seed: int, /) -> int:
    """XXH64 of data (for tests)."""
