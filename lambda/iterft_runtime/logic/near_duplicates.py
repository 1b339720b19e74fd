"""Exact and near duplicate texts among those curation has seen, by the leakage check's similarity.

The same normalised words and word shingles as the leakage check (logic/leakage.py: NFKC, case-folded,
runs of other characters one separator), `SHINGLE_WORDS` words a shingle; exact duplicates have the same
words, near duplicates a Jaccard similarity of their shingle sets at least the threshold, computed
exactly (no estimate, so no pair is missed at random).

Texts are added one by one (earlier rounds' data, then each prompt curation takes), so shingles cannot be
ordered by how rare they are, as LeakageIndex orders them; prefix filtering (Bayardo et al., WWW 2007)
holds for any fixed order, and this index uses the shingles' hash values: a text of |y| shingles is
indexed under its |y| - ceil(t|y|) + 1 smallest, and a new text of |x| looks up its own |x| - ceil(t|x|)
+ 1 smallest; two texts at Jaccard >= t share one of those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from iterft_runtime.logic.leakage import exact_ratio, needed_shared, normalised_words, shingle_set

SHINGLE_WORDS = 2


def normalise(text: str) -> str:
    """The form exact duplicates share: the normalised words, one space between them."""
    return " ".join(word.decode() for word in normalised_words(text))


def jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


@dataclass(frozen=True)
class Match:
    """The text a new one duplicates: its label (where it came from) and the similarity (1.0: exact)."""

    label: str
    similarity: float

    @property
    def exact(self) -> bool:
        return self.similarity >= 1.0


class DuplicateIndex:
    """Texts seen so far; `find` says which one a new text duplicates, `add` remembers one."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._num, self._den = exact_ratio(threshold)
        self._exact: dict[bytes, str] = {}
        self._sets: list[frozenset[int]] = []
        self._labels: list[str] = []
        self._postings: dict[int, list[int]] = {}

    def find(self, text: str) -> Match | None:
        """The most similar text seen (an exact duplicate first, then the earliest of equals), or None."""
        words = normalised_words(text)
        label = self._exact.get(b" ".join(words))
        if label is not None:
            return Match(label, 1.0)
        shingles = frozenset(shingle_set(words, SHINGLE_WORDS))
        candidates = {
            index for shingle in self._prefix(shingles) for index in self._postings.get(shingle, ())
        }
        best: tuple[Fraction, int] | None = None
        for index in sorted(candidates):
            other = self._sets[index]
            common = len(shingles & other)
            union = len(shingles) + len(other) - common
            if common * self._den >= self._num * union and (
                best is None or Fraction(common, union) > best[0]
            ):
                best = (Fraction(common, union), index)
        return None if best is None else Match(self._labels[best[1]], round(float(best[0]), 4))

    def add(self, text: str, label: str) -> None:
        words = normalised_words(text)
        self._exact.setdefault(b" ".join(words), label)
        shingles = frozenset(shingle_set(words, SHINGLE_WORDS))
        index = len(self._sets)
        self._sets.append(shingles)
        self._labels.append(label)
        for shingle in self._prefix(shingles):
            self._postings.setdefault(shingle, []).append(index)

    def add_all(self, texts: Iterable[tuple[str, str]]) -> None:
        for text, label in texts:
            self.add(text, label)

    def _prefix(self, shingles: frozenset[int]) -> list[int]:
        """The |s| - ceil(t|s|) + 1 smallest of `shingles` (the fixed order of prefix filtering)."""
        count = len(shingles)
        return sorted(shingles)[: count - needed_shared(self._num, self._den, count) + 1]
