"""Types of the extension native/sieve.c builds (`make setup`): the leakage check's filter in C."""

from collections.abc import Callable, Iterable

INTERFACE: int

class Sieve:
    def __init__(
        self,
        prompts: Iterable[str],
        size: int,
        num: int,
        den: int,
        bound: int,
        capacity: int,
        normalise: Callable[[str], list[bytes]],
    ) -> None: ...
    def suspects(self, texts: list[str]) -> list[int]:
        """The indexes of the texts that may match an evaluation prompt (the others cannot)."""
    def word_hashes(self, text: str) -> list[int]:
        """Its normalised words' 64-bit FNV-1a hashes (for tests)."""
