"""The small model behind the Bedrock stand-in: it learns (prompt, answer) pairs honestly. It is not an LLM.

Two parts, both plain Python and deterministic:

* **Answering** is retrieval. The model keeps every (prompt, answer) pair its chain of training
  jobs has seen; a question is answered with the stored answer of the most similar stored prompt
  (TF-IDF over lightly stemmed words, English function words dropped, cosine similarity) when it reaches
  `SIMILARITY_THRESHOLD`, else with `FALLBACK_ANSWER`. A later pair with the same prompt (ignoring
  case and punctuation) replaces the earlier answer, so newer training data overrides older: a round
  trained on wrong answers is measurably worse, one trained on better answers measurably better.
* **Loss** is a bigram language model over answer tokens (Dirichlet-smoothed towards an add-one
  unigram model), trained online. The step-wise training loss is the mean per-token cross-entropy
  (nats) of each batch under the model *before* it counts that batch (prequential loss), so it falls
  across epochs and is higher for answers unlike what the chain already saw. Perplexity = exp(loss).

A model is immutable: `train` returns a new model and leaves its parent untouched, so a child
fine-tuned from a champion starts from the champion's accumulated state. System prompts are ignored
(they are usually the same for every record and say nothing about which answer to give).

* **Judging** (`judge_reply`) is what the stand-in's foundation models do with a judge prompt (the
  rubric prompt of iterft_runtime.logic.judge, with the reference and the answer in their own
  sections): they reply `Grade: N`, N = 1 + round(4 x cosine similarity) of the answer's and the
  reference's term counts (the same terms retrieval uses). A computed grade, not a reading of the
  rubric: an answer saying what the reference says gets 5, one sharing no content word with it 1.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Any, TypeVar

from iterft_runtime.logic.judge import ANSWER, MAX_GRADE, MIN_GRADE, REFERENCE, section
from iterft_runtime.models.families import DataFormat

FALLBACK_ANSWER = "I don't know."
SIMILARITY_THRESHOLD = 0.3
"""Minimum cosine similarity between a question and a stored prompt for the stored answer to be given."""

SMOOTHING = 2.0
"""Dirichlet prior weight of the unigram model in the bigram model's estimates."""

VALIDATION_EVERY = 10
"""Without a validation file, every 10th record (and at least one) is held out from the loss model."""

_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_SUFFIXES = ("ing", "ed", "es", "s")
_STOP_WORDS = frozenset(
    {
        *("a", "an", "and", "are", "am", "be", "by", "can", "could", "did", "do", "does", "for", "from"),
        *("get", "had", "has", "have", "how", "i", "if", "in", "is", "it", "me", "my", "of", "on", "or"),
        *("our", "should", "so", "that", "the", "their", "there", "this", "to", "was", "we", "were"),
        *("what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your"),
    }
)
_START, _END = "<s>", "</s>"
T = TypeVar("T")


def token_count(text: str) -> int:
    """Tokens as the stand-in counts them (words and punctuation marks): what usage figures report."""
    return len(_TOKEN.findall(text))


def first_tokens(text: str, count: int) -> str:
    """`text` cut after its first `count` tokens: what a maximum-token limit leaves of an answer."""
    ends = [match.end() for match in _TOKEN.finditer(text)]
    if count >= len(ends):
        return text
    return text[: ends[count - 1]] if count > 0 else ""


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _terms(text: str) -> list[str]:
    return [_stem(word) for word in _WORD.findall(text.lower()) if word not in _STOP_WORDS]


def content_terms(text: str) -> list[str]:
    """A text's content words, lightly stemmed: what retrieval and the stand-in's judges compare."""
    return _terms(text)


def similarity(first: str, second: str) -> float:
    """Cosine similarity of two texts' term counts (0 when either has no content word)."""
    one, other = Counter(_terms(first)), Counter(_terms(second))
    dot = sum(count * other[term] for term, count in one.items())
    norms = math.sqrt(sum(c * c for c in one.values())) * math.sqrt(sum(c * c for c in other.values()))
    return dot / norms if norms else 0.0


def judge_reply(prompt: str) -> str | None:
    """`Grade: N` for a judge prompt (see the module docstring), None for any other prompt."""
    reference, answer = section(prompt, REFERENCE), section(prompt, ANSWER)
    if reference is None or answer is None:
        return None
    grade = MIN_GRADE + round((MAX_GRADE - MIN_GRADE) * similarity(answer, reference))
    return f"Grade: {grade}"


def _answer_tokens(text: str) -> list[str]:
    return [_START, *_TOKEN.findall(text.lower()), _END]


def predicted_tokens(text: str) -> int:
    """How many tokens the loss model predicts for a text: its tokens and the end marker."""
    return len(_answer_tokens(text)) - 1


@dataclass(frozen=True)
class Pair:
    """One thing to learn: the answer to give to a prompt."""

    prompt: str
    answer: str


class DataFormatError(ValueError):
    """A training record does not have the shape its model family requires."""


def pairs_from_jsonl(text: str, data_format: DataFormat) -> list[Pair]:
    """Every (user turn, assistant reply) pair of a JSONL training file, in file order.

    Raises DataFormatError naming the first line that does not fit `data_format`.
    """
    pairs: list[Pair] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            found = _pairs_of_record(record, data_format)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise DataFormatError(f"line {number}: not a {data_format.value} record ({error})") from None
        if not found:
            raise DataFormatError(f"line {number}: no user turn followed by an assistant turn")
        pairs.extend(found)
    if not pairs:
        raise DataFormatError("the file holds no records")
    return pairs


def corpus_from_jsonl(text: str) -> list[Pair]:
    """A stand-in teacher's corpus: one `{"question": ..., "answer": ...}` object a line (other members,
    such as `category`, are ignored). Raises DataFormatError naming the first line that does not fit."""
    pairs: list[Pair] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            question, answer = record["question"], record["answer"]
        except (ValueError, TypeError, KeyError) as error:
            raise DataFormatError(f"line {number}: not a question/answer record ({error})") from None
        if not isinstance(question, str) or not isinstance(answer, str) or not question or not answer:
            raise DataFormatError(f"line {number}: question and answer must be non-empty strings")
        pairs.append(Pair(question, answer))
    return pairs


def _pairs_of_record(record: Mapping[str, Any], data_format: DataFormat) -> list[Pair]:
    if data_format is DataFormat.PROMPT_COMPLETION:
        prompt, completion = record["prompt"], record["completion"]
        if not isinstance(prompt, str) or not isinstance(completion, str):
            raise TypeError("prompt and completion must be strings")
        return [Pair(prompt, completion)]
    turns = [
        (message["role"], _message_text(message["content"], data_format)) for message in record["messages"]
    ]
    return [
        Pair(prompt, answer)
        for (role, prompt), (next_role, answer) in pairwise(turns)
        if role == "user" and next_role == "assistant"
    ]


def _message_text(content: Any, data_format: DataFormat) -> str:
    if data_format is DataFormat.CLAUDE_MESSAGES and isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TypeError("message content must be a list of blocks")
    return "\n".join(block["text"] for block in content if "text" in block)


@dataclass(frozen=True)
class StepLoss:
    step: int
    epoch: int
    loss: float

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


@dataclass(frozen=True)
class TrainingReport:
    """What one training run measured: the figures a customization job publishes."""

    steps: list[StepLoss]
    validation: list[StepLoss]
    """Validation loss after each epoch, at the step that ended it (empty without validation data)."""
    training_loss: float
    """Token-weighted mean training loss of the last epoch."""

    @property
    def validation_loss(self) -> float | None:
        return self.validation[-1].loss if self.validation else None


@dataclass(frozen=True)
class _Entry:
    prompt: str
    answer: str
    sequence: int
    """Training order along the chain: the newest entry wins a similarity tie."""


@dataclass(frozen=True)
class _Index:
    idf: dict[str, float]
    unseen_idf: float
    postings: dict[str, list[tuple[int, float]]]


@dataclass(frozen=True)
class _LanguageModel:
    bigrams: dict[tuple[str, str], int] = field(default_factory=dict)
    contexts: dict[str, int] = field(default_factory=dict)
    unigrams: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def negative_log_likelihood(self, tokens: Sequence[str]) -> float:
        vocabulary = len(self.unigrams) + 1  # the types seen, plus one class for every unseen token
        nll = 0.0
        for previous, token in pairwise(tokens):
            unigram = (self.unigrams.get(token, 0) + 1) / (self.total + vocabulary)
            bigram = (self.bigrams.get((previous, token), 0) + SMOOTHING * unigram) / (
                self.contexts.get(previous, 0) + SMOOTHING
            )
            nll -= math.log(bigram)
        return nll

    def counted(self, sequences: Iterable[Sequence[str]]) -> _LanguageModel:
        """A copy that has also counted `sequences`; this one is left as it was."""
        bigrams, contexts, unigrams = dict(self.bigrams), dict(self.contexts), dict(self.unigrams)
        total = self.total
        for tokens in sequences:
            for previous, token in pairwise(tokens):
                bigrams[(previous, token)] = bigrams.get((previous, token), 0) + 1
                contexts[previous] = contexts.get(previous, 0) + 1
                unigrams[token] = unigrams.get(token, 0) + 1
                total += 1
        return _LanguageModel(bigrams, contexts, unigrams, total)


def _cross_entropy(model: _LanguageModel, sequences: Sequence[Sequence[str]]) -> float:
    predicted = sum(len(tokens) - 1 for tokens in sequences)
    return sum(model.negative_log_likelihood(tokens) for tokens in sequences) / predicted


class StandInModel:
    """What a stand-in custom model knows. Immutable; `train` returns the child."""

    def __init__(
        self,
        memory: Mapping[str, _Entry] | None = None,
        language_model: _LanguageModel | None = None,
        next_sequence: int = 0,
        *,
        foundation: bool = False,
    ) -> None:
        self._memory: dict[str, _Entry] = dict(memory or {})
        self._language_model = language_model or _LanguageModel()
        self._next_sequence = next_sequence
        self._foundation = foundation

    @classmethod
    def knowing(cls, pairs: Sequence[Pair]) -> StandInModel:
        """A foundation model that knows `pairs` before any customization (a stand-in teacher's corpus):
        it answers from them, and its loss model has read their answers once."""
        if not pairs:
            return cls(foundation=True)
        model, _ = cls().train(pairs, epochs=1, batch_size=len(pairs), validation_pairs=())
        return cls(model._memory, model._language_model, model._next_sequence, foundation=True)

    @property
    def is_foundation(self) -> bool:
        """A foundation model: never customized (it grades judge prompts, `judge_reply`)."""
        return self._foundation

    @property
    def pair_count(self) -> int:
        """Distinct prompts the model can answer from."""
        return len(self._memory)

    def answer(self, prompt: str) -> str:
        """The stored answer of the most similar stored prompt, or FALLBACK_ANSWER below the threshold."""
        ranked = self._ranked(prompt)
        if not ranked or ranked[0][0] < SIMILARITY_THRESHOLD:
            return FALLBACK_ANSWER
        return ranked[0][1].answer

    def candidates(self, prompt: str, count: int) -> list[str]:
        """`count` answers the model can honestly offer for `prompt`, best first: its own answer, then the
        stored answers of the next most similar stored prompts (any shared content word), each once; the
        list is repeated in order when the model knows fewer. A model that knows nothing near the
        prompt can only offer FALLBACK_ANSWER (what reinforcement fine-tuning samples from it)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        offered = [self.answer(prompt)]
        for _, entry in self._ranked(prompt):
            if len(offered) == count:
                break
            if entry.answer not in offered:
                offered.append(entry.answer)
        return [offered[index % len(offered)] for index in range(count)]

    def _ranked(self, prompt: str) -> list[tuple[float, _Entry]]:
        """Stored entries sharing a content word with `prompt`, most similar first (newest first on a
        tie), with their similarity."""
        query = Counter(_terms(prompt))
        if not query or not self._memory:
            return []
        index = self._index
        weights = {
            term: (1 + math.log(count)) * index.idf.get(term, index.unseen_idf)
            for term, count in query.items()
        }
        norm = math.sqrt(sum(weight * weight for weight in weights.values()))
        scores: dict[int, float] = {}
        for term, weight in weights.items():
            for position, document_weight in index.postings.get(term, ()):
                scores[position] = scores.get(position, 0.0) + weight * document_weight / norm
        entries = self._entries
        ranked = sorted(
            scores, key=lambda position: (scores[position], entries[position].sequence), reverse=True
        )
        return [(scores[position], entries[position]) for position in ranked]

    def cross_entropy(self, answers: Sequence[str]) -> float:
        """Mean per-token cross-entropy (nats) of `answers` under the loss model."""
        if not answers:
            raise ValueError("cross-entropy of no text")
        return _cross_entropy(self._language_model, [_answer_tokens(answer) for answer in answers])

    def train(
        self,
        pairs: Sequence[Pair],
        *,
        epochs: int,
        batch_size: int,
        validation_pairs: Sequence[Pair] | None = None,
    ) -> tuple[StandInModel, TrainingReport]:
        """The child model after fine-tuning on `pairs`, and what training measured.

        Without `validation_pairs`, every VALIDATION_EVERY-th pair (at least one when there are two or
        more) is held out from the loss model to measure validation loss; answering learns every pair.
        """
        counted, held_out = _held_out(pairs, validation_pairs)
        language_model, report = self._fit(
            [pair.answer for pair in counted], [pair.answer for pair in held_out], epochs, batch_size
        )
        return self._child(pairs, language_model), report

    def pretrain(
        self,
        texts: Sequence[str],
        *,
        epochs: int,
        batch_size: int,
        validation_texts: Sequence[str] | None = None,
    ) -> tuple[StandInModel, TrainingReport]:
        """The child model after continued pre-training on unlabeled `texts`: its loss model reads them
        (the training loss falls as the text is learned), its answers stay its parent's. Validation as
        for `train`, on the texts."""
        counted, held_out = _held_out(texts, validation_texts)
        language_model, report = self._fit(counted, held_out, epochs, batch_size)
        return self._child((), language_model), report

    def adopted(self, pairs: Sequence[Pair]) -> StandInModel:
        """The child that gives these answers to these prompts from now on (newest wins) and whose loss
        model has read them once: what a reinforcement step keeps of the answers it rewarded."""
        texts = [_answer_tokens(pair.answer) for pair in pairs]
        return self._child(pairs, self._language_model.counted(texts))

    def _child(self, pairs: Iterable[Pair], language_model: _LanguageModel) -> StandInModel:
        memory = dict(self._memory)
        sequence = self._next_sequence
        for pair in pairs:
            memory[" ".join(_WORD.findall(pair.prompt.lower()))] = _Entry(pair.prompt, pair.answer, sequence)
            sequence += 1
        return StandInModel(memory, language_model, sequence)

    def _fit(
        self, texts: Sequence[str], validation_texts: Sequence[str], epochs: int, batch_size: int
    ) -> tuple[_LanguageModel, TrainingReport]:
        """Train the loss model online on `texts` (prequential loss a batch), validating after each epoch."""
        if epochs < 1 or batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        sequences = [_answer_tokens(text) for text in texts]
        validation_sequences = [_answer_tokens(text) for text in validation_texts]
        model = self._language_model
        steps: list[StepLoss] = []
        validation: list[StepLoss] = []
        epoch_nll, epoch_tokens = 0.0, 0
        for epoch in range(1, epochs + 1):
            epoch_nll, epoch_tokens = 0.0, 0
            for start in range(0, len(sequences), batch_size):
                batch = sequences[start : start + batch_size]
                nll = sum(model.negative_log_likelihood(tokens) for tokens in batch)
                predicted = sum(len(tokens) - 1 for tokens in batch)
                steps.append(StepLoss(step=len(steps) + 1, epoch=epoch, loss=nll / predicted))
                epoch_nll, epoch_tokens = epoch_nll + nll, epoch_tokens + predicted
                model = model.counted(batch)
            if validation_sequences:
                loss = _cross_entropy(model, validation_sequences)
                validation.append(StepLoss(step=len(steps), epoch=epoch, loss=loss))
        report = TrainingReport(steps=steps, validation=validation, training_loss=epoch_nll / epoch_tokens)
        return model, report

    @cached_property
    def _entries(self) -> list[_Entry]:
        return list(self._memory.values())

    @cached_property
    def _index(self) -> _Index:
        documents = [Counter(_terms(entry.prompt)) for entry in self._entries]
        frequency = Counter(term for document in documents for term in document)
        count = len(documents)
        idf = {term: math.log((1 + count) / (1 + df)) + 1 for term, df in frequency.items()}
        postings: dict[str, list[tuple[int, float]]] = {}
        for position, document in enumerate(documents):
            weights = {term: (1 + math.log(tf)) * idf[term] for term, tf in document.items()}
            norm = math.sqrt(sum(weight * weight for weight in weights.values()))
            for term, weight in weights.items():
                postings.setdefault(term, []).append((position, weight / norm))
        return _Index(idf=idf, unseen_idf=math.log(1 + count) + 1, postings=postings)


def _held_out(records: Sequence[T], validation: Sequence[T] | None) -> tuple[list[T], list[T]]:
    """(records the loss model counts, records it is validated on): the validation records when given,
    else every VALIDATION_EVERY-th record."""
    if not records:
        raise ValueError("nothing to train on")
    return _split(records) if validation is None else (list(records), list(validation))


def _split(records: Sequence[T]) -> tuple[list[T], list[T]]:
    held = {index for index in range(len(records)) if index % VALIDATION_EVERY == VALIDATION_EVERY - 1}
    if not held and len(records) >= 2:
        held = {len(records) - 1}
    counted = [record for index, record in enumerate(records) if index not in held]
    return counted, [records[index] for index in sorted(held)]
