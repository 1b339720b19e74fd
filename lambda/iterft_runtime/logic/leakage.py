"""The yardstick cannot leak: training prompts that are exact or near duplicates of evaluation prompts.

A training record whose prompt is (nearly) an evaluation prompt lets a round buy a promotion by
memorising the yardstick. Every training dataset is compared with the lineage's evaluation set before
any job (docs/dataset-validation.md, "Leakage check"):

- **Normalised text**: Unicode NFKC, case-folded, every run of characters that are not letters, digits
  or `_` one separator; the words are what is left. Two prompts with the same words in the same order
  are exact duplicates ("How do I reset my password?" and "how do i reset my PASSWORD" are).
- **Near duplicates**: the Jaccard similarity of the two prompts' sets of word shingles (`shingle_words`
  consecutive words; a prompt with fewer words is one shingle) is at least the lineage's threshold.
  This is the similarity MinHash estimates; here it is computed exactly, so there are no probabilistic
  misses and the same upload always gets the same verdict.
- **Not pairwise**: the evaluation prompts are indexed by prefix filtering (Bayardo et al., "Scaling up
  all pairs similarity search", WWW 2007): shingles are ordered by how few evaluation prompts hold them
  (then by value) and each evaluation prompt is indexed under the first |y| - ceil(t|y|) + 1 of its own;
  two sets with Jaccard >= t share a shingle of those prefixes, so a training prompt looks up only its
  own prefix and verifies the few prompts found. Before that, a filter rules out most prompts: one with
  more distinct shingles than the largest evaluation prompt's / t, or more of them missing from every
  evaluation prompt than a match allows, matches none. The filter is C (native/sieve.c, the extension
  iterft_sieve) where `make setup` built it; elsewhere the same bounds in Python's C loops (suspects).

Shingles are Python's 64-bit hashes of word tuples, built with the index in the same process (a hash
collision could only add a candidate that verification then measures, with odds of about 2**-60).

The prompt of a record is what the model is asked: each user turn (conversations, Claude messages,
distillation prompts, reinforcement records), the `prompt` (prompt/completion) or the `input`
(continued pre-training). A record matches when any of its prompts does.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate, chain, compress, islice, repeat
from operator import floordiv, ge, neg, sub
from typing import cast

import msgspec
from msgspec import UNSET, Struct, UnsetType

from iterft_runtime.logic.lines import TruncatedLine
from iterft_runtime.logic.native import require_interface
from iterft_runtime.logic.validation_fast import Checked, prompt_texts
from iterft_runtime.logic.validation_report import ValidationReport
from iterft_runtime.models.leakage import LeakageAction, LeakageConfig

SIEVE_INTERFACE = 1
"""native/sieve.c's INTERFACE: Sieve(prompts, size, num, den, bound, capacity, normalise), suspects,
word_hashes."""

try:  # native/sieve.c, built by `make setup` and shipped in the Lambda layer: the filter of suspects in C
    from iterft_sieve import Sieve

    NativeSieve: type[Sieve] | None = Sieve
except ImportError:  # not built for this interpreter: suspects sifts in Python, to the same answers
    NativeSieve = None
else:
    require_interface("iterft_sieve", SIEVE_INTERFACE)

HEAD_CHARS_PER_WORD = 8
"""A long text's first (words needed x this) characters are normalised first: when they hold enough
words to rule the text out, the rest is never read."""
MAX_QUOTED = 80
"""Characters of an evaluation prompt quoted in a problem's message."""
CODES_BY_ACTION = {
    LeakageAction.REJECT: "evaluation_prompt",
    LeakageAction.DROP: "evaluation_prompt_dropped",
    LeakageAction.WARN: "evaluation_prompt_kept",
}
"""The problem code of a matching line under each action (validation_report.CODES: an error only when
the round is rejected for it)."""
_NON_ASCII_NOT_WORD = re.compile(r"[^\x00-\x7f\w]")
"""Characters past ASCII that are not letters or digits (ASCII ones are _FOLD's): rare, so the regex
replaces few (`\\W+` replaced a run a word, a tenth of a microsecond each)."""
SEPARATOR = "\x1e"
"""Between the texts of a batch (LeakageIndex.suspects): kept by _FOLD, in no text (a text holding it is
normalised alone, the character a space)."""
_SEPARATOR_WORD = SEPARATOR.encode()
_FOLD = bytes.maketrans(
    bytes(range(128)),
    bytes(
        code + 32 if 65 <= code <= 90 else code if chr(code).isalnum() or chr(code) in "_" + SEPARATOR else 32
        for code in range(128)
    ),
)
"""ASCII letters lower-cased, every other ASCII character but digits, `_` and SEPARATOR a space (bytes >= 128
kept: UTF-8 of the letters the non-ASCII path left). A text holding SEPARATOR is never normalised."""
BATCH_BYTES = 64 * 1024
"""About how many bytes of lines LeakageCheck checks together."""


def normalised_words(text: str) -> list[bytes]:
    """The words of `text` after normalisation, as UTF-8 (ASCII text in three C calls, no regex)."""
    if SEPARATOR in text:
        text = text.replace(SEPARATOR, " ")
    if text.isascii():
        return text.encode().translate(_FOLD).split()
    folded = _NON_ASCII_NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    return folded.encode().translate(_FOLD).split()


def exact_ratio(threshold: float) -> tuple[int, int]:
    """A similarity threshold as the fraction (numerator, denominator) of the decimal written, so that
    comparisons with it stay exact (0.6 is 3/5, not the float just under it)."""
    ratio = Fraction(repr(threshold)).limit_denominator(1_000_000)
    return ratio.numerator, ratio.denominator


def needed_shared(num: int, den: int, count: int) -> int:
    """ceil(num / den * count): the fewest shared shingles of `count` that can reach the threshold."""
    return -(-num * count // den)


def shingle_set(words: list[bytes], size: int) -> set[int]:
    """The hashes of `words`' shingles of `size` consecutive words; fewer words are one shingle."""
    if len(words) < size:
        return {hash(tuple(words))} if words else set()
    return set(map(hash, zip(*(words[start:] for start in range(size)), strict=False)))


@dataclass(frozen=True)
class Match:
    """The evaluation record a training prompt duplicates."""

    evaluation_line: int
    evaluation_prompt: str
    similarity: float
    """1.0 for an exact duplicate; else the Jaccard similarity of the shingle sets."""
    exact: bool


class LeakageIndex:
    """The evaluation prompts, indexed for exact and near-duplicate look-ups."""

    def __init__(
        self, prompts: Iterable[tuple[int, str]], config: LeakageConfig, *, use_native: bool = True
    ) -> None:
        """`prompts`: (line in the evaluation set, prompt) pairs. `use_native`: sift with iterft_sieve when
        it is built (the tests compare both filters)."""
        self.config = config
        self.size = config.shingle_words
        self._num, self._den = exact_ratio(config.threshold)
        self._exact: dict[bytes, int] = {}
        self._short_exact: set[bytes] = set()
        """The normalised texts of the prompts with fewer words than a shingle."""
        self._lines: list[int] = []
        self._prompts: list[str] = []
        self._sets: list[tuple[int, ...]] = []
        """Each prompt's shingles: tuples of ints, which the garbage collector stops tracking (sets it
        walks at every full collection)."""
        frequency: dict[int, int] = {}
        self.max_words = 0
        words_in_all = 0
        for line, prompt in prompts:
            words = normalised_words(prompt)
            if not words:
                continue
            words_in_all += len(words)
            self.max_words = max(self.max_words, len(words))
            self._exact.setdefault(b" ".join(words), len(self._lines))
            if len(words) < self.size:
                self._short_exact.add(b" ".join(words))
            shingles = shingle_set(words, self.size)
            self._lines.append(line)
            self._prompts.append(prompt)
            self._sets.append(tuple(shingles))
            for shingle in shingles:
                frequency[shingle] = frequency.get(shingle, 0) + 1
        # The global order of prefix filtering: rarest first, ties by value; as a rank a shingle.
        ordered = sorted(frequency, key=lambda shingle: (frequency[shingle], shingle))
        self._rank = {shingle: rank for rank, shingle in enumerate(ordered)}
        self._vocabulary = frozenset(frequency)
        postings: dict[int, list[int]] = {}
        for index, members in enumerate(self._sets):
            prefix = sorted(members, key=self._rank.__getitem__)[: self._prefix_length(len(members))]
            for shingle in prefix:
                postings.setdefault(shingle, []).append(index)
        self._postings = {shingle: tuple(found) for shingle, found in postings.items()}
        self.max_shingles = max(map(len, self._sets), default=0)
        # More shingles than this and no evaluation prompt is within the threshold: t * |x| <= |y|.
        self._shingle_bound = self.max_shingles * self._den // self._num
        # Words that decide both: more than max_words (no exact match), and the first bound + size of
        # them with more distinct shingles than the bound (no near one).
        self._head_words = max(self.max_words + 1, self._shingle_bound + self.size)
        self._native: Sieve | None = None
        if use_native and NativeSieve is not None and self._lines:
            bound, num, den = self._shingle_bound, self._num, self._den
            self._native = NativeSieve(
                self._prompts, self.size, num, den, bound, words_in_all, normalised_words
            )

    def __len__(self) -> int:
        return len(self._lines)

    def _needed(self, count: int) -> int:
        return needed_shared(self._num, self._den, count)

    def _prefix_length(self, count: int) -> int:
        return count - self._needed(count) + 1

    def _too_long(self, first: list[bytes]) -> bool:
        """Whether a text whose first words are `first` (_head_words of them) can match no evaluation
        prompt: more words than any (so no exact match), and more distinct shingles in those words alone
        than any near match can have."""
        bound = self._shingle_bound
        return len(shingle_set(first[: bound + self.size], self.size)) > bound

    def suspects(self, texts: list[str]) -> set[int]:
        """The indexes of those of `texts` that may match (the others match no evaluation prompt).

        Texts are normalised, shingled and looked up together, in a few C calls (ASCII ones apart from
        the others, which need Unicode normalisation). A text that matches has at least ceil(t * its
        shingles) shingles that evaluation prompts hold (an exact duplicate: all of them), so a text with
        fewer such positions (an upper bound of its shared distinct shingles) is not a suspect; nor is a
        text with fewer words than a shingle (one shingle, its whole text: near it means exactly it)
        unless its words are an evaluation prompt's. A text longer than the head that decides it, or
        holding the separator, is a suspect (match reads only its head when that suffices).
        """
        if not texts:
            return set()
        if self._native is not None:  # the same filter in C (native/sieve.c), rather than the C loops below
            return set(self._native.suspects(texts))
        everything = range(len(texts))
        long_text = self._head_words * HEAD_CHARS_PER_WORD
        if max(map(len, texts)) <= long_text and SEPARATOR not in "".join(texts):
            if all(map(str.isascii, texts)):
                return set(self._sift(texts, ascii_text=True))
            alone: set[int] = set()
        else:
            alone = set(compress(everything, map(long_text.__lt__, map(len, texts))))
            alone.update(index for index in everything if SEPARATOR in texts[index])
        suspects = {index for index in alone if not self._ruled_out_by_head(texts[index])}
        for ascii_text in (True, False):
            members = [
                index for index in everything if index not in alone and texts[index].isascii() is ascii_text
            ]
            if members:
                found = self._sift([texts[index] for index in members], ascii_text)
                suspects.update(members[index] for index in found)
        return suspects

    def _sift(self, texts: list[str], ascii_text: bool) -> list[int]:
        """suspects for texts all ASCII or none: every step a C loop over all of them (no Python a text)."""
        joined = f" {SEPARATOR} ".join(texts)
        if not ascii_text:
            joined = _NON_ASCII_NOT_WORD.sub(" ", unicodedata.normalize("NFKC", joined).casefold())
        count = len(texts)
        split = list(map(bytes.split, joined.encode().translate(_FOLD).split(_SEPARATOR_WORD)))
        if len(split) != count:  # never: no text has the separator, and normalisation makes none
            return list(range(count))
        words = list(chain.from_iterable(split))
        size = self.size
        starts = [0, *accumulate(map(len, split))]
        ends = starts[1:]
        found = []
        if self._short_exact:  # texts shorter than a shingle: near one means exactly one
            for index in compress(range(count), map(size.__gt__, map(sub, ends, starts))):
                if b" ".join(words[starts[index] : ends[index]]) in self._short_exact:
                    found.append(index)
        shingles = list(map(hash, zip(*(islice(words, start, None) for start in range(size)), strict=False)))
        shared = list(map(self._vocabulary.__contains__, shingles))
        if True not in shared:
            return found
        # Text j's shingles are at starts[j] .. ends[j] - size (later ones run into the next text, and
        # are nobody's). A suspect has hits (shared positions, at least its shared distinct shingles)
        # >= ceil(t * its distinct shingles) = -((-num * distinct) // den).
        positions = list(compress(range(len(shared)), shared))
        if len(positions) < count:  # sparse: only the texts with a hit, found by bisection
            for owner in {bisect_right(starts, position) - 1 for position in positions}:
                first, last = starts[owner], ends[owner] - size
                hits = bisect_right(positions, last) - bisect_left(positions, first)
                if hits and hits >= self._needed(len(set(shingles[first : last + 1]))):
                    found.append(owner)
            return found
        spans = list(map(slice, starts, map((1 - size).__add__, ends)))
        counts = list(map(sum, map(shared.__getitem__, spans)))
        hit = list(compress(range(count), counts))
        distinct = map(len, map(set, map(shingles.__getitem__, compress(spans, counts))))
        ceilings = map(neg, map(floordiv, map((-self._num).__mul__, distinct), repeat(self._den)))
        found += compress(hit, map(ge, compress(counts, counts), ceilings))
        return found

    def _ruled_out_by_head(self, text: str) -> bool:
        """Whether the first words of a long `text` already show it matches nothing (its head's words are
        its first words; the head's last may be cut, and is not counted)."""
        head_words = self._head_words
        if len(text) <= head_words * HEAD_CHARS_PER_WORD:
            return False
        head = normalised_words(text[: head_words * HEAD_CHARS_PER_WORD])
        return len(head) > head_words and self._too_long(head[:head_words])

    def match(self, text: str) -> Match | None:
        """The evaluation prompt `text` duplicates (exactly, else the most similar), else None."""
        if self._ruled_out_by_head(text):
            return None
        words = normalised_words(text)
        if not words:
            return None
        if len(words) <= self.max_words:
            found = self._exact.get(b" ".join(words))
            if found is not None:
                return Match(self._lines[found], self._prompts[found], 1.0, exact=True)
        if len(words) > self._head_words and self._too_long(words[: self._head_words]):
            return None
        bound = self._shingle_bound
        shingles = shingle_set(words, self.size)
        count = len(shingles)
        if count > bound:
            return None
        needed = self._needed(count)
        shared = shingles & self._vocabulary
        if len(shared) < needed:
            return None
        # The prefix of `shingles` in the global order: the shingles no evaluation prompt holds come
        # first (none is indexed), then these, the rarest shared ones.
        prefix = sorted(shared, key=self._rank.__getitem__)[: len(shared) - needed + 1]
        postings = self._postings
        candidates = {index for shingle in prefix for index in postings.get(shingle, ())}
        best: tuple[Fraction, int] | None = None
        num, den = self._num, self._den
        for index in candidates:
            other = self._sets[index]
            common = len(shingles.intersection(other))
            union = count + len(other) - common
            if common * den >= num * union:
                similarity = Fraction(common, union)
                if best is None or (similarity, -self._lines[index]) > (best[0], -self._lines[best[1]]):
                    best = (similarity, index)
        if best is None:
            return None
        return Match(self._lines[best[1]], self._prompts[best[1]], float(best[0]), exact=False)


class _Block(Struct, gc=False):
    text: str | UnsetType = UNSET


class _User(Struct, tag="user", tag_field="role", gc=False):
    content: str | list[_Block] = ""


class _Assistant(Struct, tag="assistant", tag_field="role", gc=False):
    """No fields: its content is skipped unread (msgspec allocates nothing for a key it ignores)."""


class _System(Struct, tag="system", tag_field="role", gc=False):
    """A reinforcement record's system turn: not a prompt."""


class _Record(Struct, gc=False):
    """Every format's prompts at once: unknown keys are skipped, so one decoder reads them all."""

    messages: list[_User | _Assistant | _System] = []  # msgspec copies a default empty list
    prompt: str | UnsetType = UNSET
    input: str | UnsetType = UNSET


_DECODER = msgspec.json.Decoder(_Record)
_BATCH_DECODER = msgspec.json.Decoder(list[_Record])
DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)


def _joined(blocks: list[_Block]) -> str:
    """A turn's text blocks, one text (its images and videos are not prompts)."""
    if len(blocks) == 1 and isinstance(blocks[0].text, str):
        return blocks[0].text
    return "\n".join(block.text for block in blocks if isinstance(block.text, str))


def _prompts(record: _Record) -> list[tuple[str, str]]:
    prompts = []
    number = 0
    for turn in record.messages:
        if isinstance(turn, _User):
            number += 1
            content = turn.content
            prompts.append((f"user turn {number}", content if isinstance(content, str) else _joined(content)))
    if isinstance(record.prompt, str):
        prompts.append(("prompt", record.prompt))
    if isinstance(record.input, str):
        prompts.append(("input", record.input))
    return prompts


def record_prompts(raw: bytes) -> list[tuple[str, str]]:
    """(what it is, text) for each prompt of the JSONL record `raw`: `user turn N`, `prompt` or `input`.

    A line that is not such a record has none (the validator reports it)."""
    try:
        return _prompts(_DECODER.decode(raw))
    except DECODE_ERRORS:
        return []


@dataclass(frozen=True)
class Finding:
    """A training line whose prompt duplicates an evaluation prompt."""

    line: int
    where: str
    """Which prompt of the record: `user turn N`, `prompt` or `input`."""
    match: Match

    def message(self, config: LeakageConfig) -> str:
        quoted = self.match.evaluation_prompt
        if len(quoted) > MAX_QUOTED:
            quoted = quoted[: MAX_QUOTED - 3] + "..."
        line = self.match.evaluation_line
        if self.match.exact:
            how = f"is the prompt of evaluation line {line} (exact, after normalisation)"
        else:
            how = (
                f"is a near duplicate of evaluation line {line}'s prompt "
                f"(Jaccard {self.match.similarity:.2f} over word {config.shingle_words}-shingles, "
                f"threshold {config.threshold:g})"
            )
        done = {
            LeakageAction.REJECT: "",
            LeakageAction.DROP: "; record dropped",
            LeakageAction.WARN: "; record kept (action warn)",
        }[config.action]
        return f"the {self.where} {how}: {quoted!r}{done}"

    def to_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "where": self.where,
            "evaluation_line": self.match.evaluation_line,
            "exact": self.match.exact,
            "similarity": round(self.match.similarity, 4),
        }


class LeakageCheck:
    """The leakage check of one training file, fed its lines as the validator reads them (watch)."""

    def __init__(self, index: LeakageIndex) -> None:
        self.index = index
        self.config = index.config
        self.findings: list[Finding] = []
        """Every matching line, in line order (one a line: its best match)."""

    def watch(self, lines: Iterable[bytes]) -> Iterator[bytes]:
        """`lines`, unchanged, each checked on its way through (numbered from 1, as the validator does).

        Lines are checked about BATCH_BYTES at a time: decoded as one JSON array, their prompts sifted
        together (LeakageIndex.suspects); only a line with a suspect prompt, or a batch that does not
        decode whole, is checked line by line."""
        batch: list[bytes] = []
        size = 0
        first = 1
        for raw in lines:
            batch.append(raw)
            size += len(raw)
            if size >= BATCH_BYTES:
                self._check_batch(first, batch)
                first += len(batch)
                batch, size = [], 0
            yield raw
        if batch:
            self._check_batch(first, batch)

    def observe(self, first: int, batch: list[bytes], found: Sequence[Checked | None] | None) -> None:
        """Lines `first`, `first` + 1, ... and what the validator's fast path made of them (None: not
        tried): a record it decoded gives its prompts at no parse; any other line is checked alone."""
        if found is None or None in found:
            if found is None:
                found = [None] * len(batch)
            for offset in [offset for offset, result in enumerate(found) if result is None]:
                self._check_line(first + offset, batch[offset])
        decoded = [(offset, result[3]) for offset, result in enumerate(found) if result is not None]
        prompts = list(map(prompt_texts, [record for _, record in decoded]))
        if None in prompts:  # media conversations: the fast path keeps no record
            for at in [at for at, texts in enumerate(prompts) if texts is None]:
                self._check_line(first + decoded[at][0], batch[decoded[at][0]])
            kept = [at for at, texts in enumerate(prompts) if texts is not None]
            decoded, prompts = [decoded[at] for at in kept], [prompts[at] for at in kept]
        lists = cast(list[list[str]], prompts)
        suspects = self.index.suspects(list(chain.from_iterable(lists)))
        if suspects:
            ends = list(accumulate(map(len, lists)))
            for at in sorted({bisect_right(ends, index) for index in suspects}):
                self._check_line(first + decoded[at][0], batch[decoded[at][0]])

    def _check_batch(self, first: int, batch: list[bytes]) -> None:
        try:
            records = _BATCH_DECODER.decode(b"[%b]" % b",".join(batch))
        except DECODE_ERRORS:  # a blank, broken or cut line among them
            for number, raw in enumerate(batch, start=first):
                self._check_line(number, raw)
            return
        texts: list[str] = []
        owners: list[int] = []
        for offset, record in enumerate(records):
            for _, text in _prompts(record):
                texts.append(text)
                owners.append(offset)
        for offset in sorted({owners[index] for index in self.index.suspects(texts)}):
            self._check_line(first + offset, batch[offset])

    def _check_line(self, number: int, raw: bytes) -> None:
        if raw.__class__ is TruncatedLine:
            return
        found: Finding | None = None
        for where, text in record_prompts(raw):
            result = self.index.match(text)
            if result is not None and (found is None or _better(result, found.match)):
                found = Finding(number, where, result)
        if found is not None:
            self.findings.append(found)

    def check(self, lines: Iterable[bytes]) -> list[Finding]:
        """Every finding of `lines` (the whole file read here)."""
        for _ in self.watch(lines):
            pass
        return self.findings

    @property
    def code(self) -> str:
        return CODES_BY_ACTION[self.config.action]

    def add_to(self, report: ValidationReport) -> None:
        """Each finding as a problem of `report`, on its line (an error when the action is reject)."""
        for finding in self.findings:
            report.add(finding.line, self.code, finding.message(self.config))
        report.problems.sort(key=lambda problem: (problem.line is None, problem.line or 0))

    def apply(self, report: ValidationReport, fewest: int) -> frozenset[int]:
        """Add the findings to `report` (errors under reject); under drop, the lines to leave out of the
        training data (none when the file is invalid anyway, or when too few records, under `fewest`,
        would be left: then that is the report's error)."""
        self.add_to(report)
        if self.config.action is not LeakageAction.DROP or not self.findings or not report.valid:
            return frozenset()
        dropped = frozenset(finding.line for finding in self.findings)
        kept = report.records - len(dropped)
        if kept < fewest:
            report.add(
                None,
                "too_few_records",
                f"{kept} records once the {len(dropped)} whose prompt duplicates an evaluation prompt are "
                f"dropped (leakage.action drop); at least {fewest} are needed",
            )
            return frozenset()
        return dropped

    def summary(self) -> dict[str, object]:
        """What the round records (bounded: the first few findings; the report lists all)."""
        exact = sum(finding.match.exact for finding in self.findings)
        return {
            "action": self.config.action.value,
            "threshold": self.config.threshold,
            "shingle_words": self.config.shingle_words,
            "evaluation_prompts": len(self.index),
            "matched": len(self.findings),
            "exact": exact,
            "near": len(self.findings) - exact,
            "dropped": len(self.findings) if self.config.action is LeakageAction.DROP else 0,
            "first": [finding.to_dict() for finding in self.findings[:MAX_LISTED_FINDINGS]],
        }


MAX_LISTED_FINDINGS = 5
"""Findings a round's state and record list (the report in S3 has them all)."""


def _better(candidate: Match, current: Match) -> bool:
    """An exact match over a near one, then the more similar, then the earlier evaluation line."""
    return (candidate.exact, candidate.similarity, -candidate.evaluation_line) > (
        current.exact,
        current.similarity,
        -current.evaluation_line,
    )


def without_lines(lines: Iterable[bytes], dropped: frozenset[int]) -> Iterator[bytes]:
    """`lines` but those numbered in `dropped` (from 1): the trimmed dataset of action drop."""
    for number, raw in enumerate(lines, start=1):
        if number not in dropped:
            yield raw
