"""Exact and near duplicate texts: normalised text, and MinHash over word shingles with LSH banding.

Normalisation: lower case, every run of characters that are not letters or digits one space. Two texts are
exact duplicates when their normal forms are equal; near duplicates when the Jaccard similarity of their
sets of word shingles (`SHINGLE_WORDS` consecutive words; a shorter text is one shingle) reaches a
threshold. Jaccard is estimated from `PERMUTATIONS` MinHash values (blake2b of the shingle, seeded), so
its error is about 1/sqrt(PERMUTATIONS); candidates are found by LSH banding (`BANDS` bands of `ROWS`
values: a pair at similarity s shares a band with probability 1 - (1 - s**ROWS)**BANDS, 0.98 at s = 0.6),
and each candidate's similarity is then computed exactly from the shingle sets.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

SHINGLE_WORDS = 2
PERMUTATIONS = 64
BANDS, ROWS = 16, 4
_NOT_WORD = re.compile(r"[^\w]+|_+")
_MASK = (1 << 64) - 1


def normalise(text: str) -> str:
    return _NOT_WORD.sub(" ", text.lower()).strip()


def shingles(text: str) -> frozenset[str]:
    words = normalise(text).split()
    if len(words) <= SHINGLE_WORDS:
        return frozenset({" ".join(words)}) if words else frozenset()
    return frozenset(" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1))


def jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


def signature(parts: frozenset[str]) -> tuple[int, ...]:
    """The MinHash signature of a shingle set (PERMUTATIONS values)."""
    if not parts:
        return (_MASK,) * PERMUTATIONS
    hashes = [int.from_bytes(hashlib.blake2b(part.encode(), digest_size=8).digest(), "big") for part in parts]
    return tuple(
        min(((value ^ _SEEDS[i]) * _MULTIPLIERS[i]) & _MASK for value in hashes) for i in range(PERMUTATIONS)
    )


_SEEDS = [
    int.from_bytes(hashlib.blake2b(f"seed{i}".encode(), digest_size=8).digest(), "big")
    for i in range(PERMUTATIONS)
]
_MULTIPLIERS = [
    int.from_bytes(hashlib.blake2b(f"mult{i}".encode(), digest_size=8).digest(), "big") | 1
    for i in range(PERMUTATIONS)
]


@dataclass(frozen=True)
class Match:
    """The text a new one duplicates: its label (where it came from) and the similarity (1.0: exact)."""

    label: str
    similarity: float

    @property
    def exact(self) -> bool:
        return self.similarity >= 1.0


@dataclass
class DuplicateIndex:
    """Texts seen so far; `find` says which one a new text duplicates, `add` remembers one."""

    threshold: float
    _exact: dict[str, str] = field(default_factory=dict)
    _shingles: list[frozenset[str]] = field(default_factory=list)
    _labels: list[str] = field(default_factory=list)
    _bands: dict[tuple[int, tuple[int, ...]], list[int]] = field(default_factory=dict)

    def find(self, text: str) -> Match | None:
        normal = normalise(text)
        if normal in self._exact:
            return Match(self._exact[normal], 1.0)
        parts = shingles(text)
        best: Match | None = None
        for index in self._candidates(signature(parts)):
            similarity = jaccard(parts, self._shingles[index])
            if similarity >= self.threshold and (best is None or similarity > best.similarity):
                best = Match(self._labels[index], round(similarity, 4))
        return best

    def add(self, text: str, label: str) -> None:
        normal = normalise(text)
        self._exact.setdefault(normal, label)
        parts = shingles(text)
        index = len(self._shingles)
        self._shingles.append(parts)
        self._labels.append(label)
        for band in _bands(signature(parts)):
            self._bands.setdefault(band, []).append(index)

    def add_all(self, texts: Iterable[tuple[str, str]]) -> None:
        for text, label in texts:
            self.add(text, label)

    def _candidates(self, values: tuple[int, ...]) -> list[int]:
        found: set[int] = set()
        for band in _bands(values):
            found.update(self._bands.get(band, ()))
        return sorted(found)


def _bands(values: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
    return [(band, values[band * ROWS : (band + 1) * ROWS]) for band in range(BANDS)]
