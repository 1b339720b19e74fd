"""Answer-quality metrics: plain functions over strings, averaged over an evaluation set.

Every metric is computed for every round (overall and per category), so the gate can name any of
them as its primary or a guard metric, and a changed metric set is seen as a changed yardstick.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """The lowercased text's maximal runs of Unicode word characters (letters, digits, `_`): punctuation
    separates tokens and is dropped ("don't" is `don`, `t`; "e-mail" is `e`, `mail`)."""
    return _TOKEN.findall(text.lower())


def exact_match(answer: str, reference: str) -> float:
    return float(tokens(answer) == tokens(reference))


def token_f1(answer: str, reference: str) -> float:
    """Token overlap F1 between an answer and its reference: the harmonic mean of precision and recall
    of the bag of `tokens` they share (each token counted as often as both have it); 1 when both are
    empty, 0 when one is.

    SQuAD's F1 in shape, not its normalization: SQuAD's script deletes punctuation inside a word
    ("don't" -> `dont`) and drops the articles a, an and the; this one splits at punctuation and keeps
    articles. Changing that would change every recorded score, and a champion's recorded metrics are
    reused on an unchanged evaluation set (logic/evaluation.reusable_champion_metrics), so the two would
    no longer be comparable."""
    predicted, expected = tokens(answer), tokens(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def _lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence, one row of the dynamic-programming table at a time."""
    if len(second) > len(first):
        first, second = second, first
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for j, other in enumerate(second, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F-measure (beta 1): F1 of LCS-based precision and recall over `tokens`.

    Written here rather than taken from Google's `rouge-score` (the well-kept implementation)
    because that package pulls nltk, numpy and absl into the Lambda layer for one dynamic program;
    tests/unit/test_logic_scoring.py checks this one against `rouge_score.rouge_scorer` with the same
    tokenizer. Like that library, an empty answer or reference scores 0.
    """
    predicted, expected = tokens(answer), tokens(reference)
    if not predicted or not expected:
        return 0.0
    common = _lcs_length(predicted, expected)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


METRICS: dict[str, Callable[[str, str], float]] = {
    "exact_match": exact_match,
    "rouge_l": rouge_l,
    "token_f1": token_f1,
}
"""Every metric by name; each is computed on every evaluation."""


def summarize(scores: Sequence[float], categories: Sequence[str | None]) -> dict[str, Any]:
    """`{"overall": mean, "by_category": {category: mean}}`; items without a category count overall only."""
    if not scores:
        raise ValueError("cannot score an empty evaluation set")
    grouped: dict[str, list[float]] = {}
    for score, category in zip(scores, categories, strict=True):
        if category is not None:
            grouped.setdefault(category, []).append(score)
    return {
        "overall": sum(scores) / len(scores),
        "by_category": {name: sum(values) / len(values) for name, values in sorted(grouped.items())},
    }
