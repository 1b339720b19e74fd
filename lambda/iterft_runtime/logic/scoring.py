"""Answer-quality metrics: plain functions over strings, averaged over an evaluation set."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def exact_match(answer: str, reference: str) -> float:
    return float(tokens(answer) == tokens(reference))


def token_f1(answer: str, reference: str) -> float:
    """SQuAD-style token overlap F1 between an answer and its reference."""
    predicted, expected = tokens(answer), tokens(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


METRICS: dict[str, Callable[[str, str], float]] = {"token_f1": token_f1, "exact_match": exact_match}


def mean_score(metric: str, pairs: Iterable[tuple[str, str]]) -> float:
    """The mean of `metric` over (answer, reference) pairs; an empty set is an error, not a zero."""
    score = METRICS[metric]
    values = [score(answer, reference) for answer, reference in pairs]
    if not values:
        raise ValueError("cannot score an empty evaluation set")
    return sum(values) / len(values)
