"""The answer metrics against hand-computed values, and ROUGE-L against Google's rouge-score.

rouge-score is a dev-only dependency (requirements-dev.txt): the Lambda layer keeps the plain
implementation in logic/scoring.py. Both are fed the same tokens (rouge-score takes a tokenizer),
so any difference is in the LCS or the F-measure, which is what this checks.
"""

from __future__ import annotations

import random

import pytest
from iterft_runtime.logic.scoring import METRICS, exact_match, rouge_l, summarize, token_f1, tokens
from iterft_runtime.models.metrics import REFERENCE_METRICS
from rouge_score import rouge_scorer, tokenizers


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("The cat sat.", "the cat sat", {"exact_match": 1.0, "token_f1": 1.0, "rouge_l": 1.0}),
        ("", "", {"exact_match": 1.0, "token_f1": 1.0, "rouge_l": 0.0}),  # rouge-score: empty is 0
        ("blue", "red", {"exact_match": 0.0, "token_f1": 0.0, "rouge_l": 0.0}),
        # 2 common of 3 and 4 tokens: P 2/3, R 1/2 -> F 4/7; the LCS ("cat", "sat") is also 2.
        ("a cat sat", "the cat sat down", {"exact_match": 0.0, "token_f1": 4 / 7, "rouge_l": 4 / 7}),
        # Same bag of words in reverse order: token F1 is perfect, the LCS is 1 of 3 -> 1/3.
        ("c b a", "a b c", {"exact_match": 0.0, "token_f1": 1.0, "rouge_l": 1 / 3}),
        # Repeated tokens: overlap counts min(2, 1) = 1 -> P 1/2, R 1 -> 2/3; LCS 1 -> the same.
        ("yes yes", "yes", {"exact_match": 0.0, "token_f1": 2 / 3, "rouge_l": 2 / 3}),
        # LCS "reset your password" (3) of 5 and 4 tokens: P 3/5, R 3/4 -> F 2/3.
        (
            "please reset your new password",
            "reset your password now",
            {"exact_match": 0.0, "token_f1": 2 / 3, "rouge_l": 2 / 3},
        ),
    ],
)
def test_metrics_against_hand_computed_values(
    answer: str, reference: str, expected: dict[str, float]
) -> None:
    assert {name: metric(answer, reference) for name, metric in METRICS.items()} == pytest.approx(expected)


def test_tokens_are_lowercased_words() -> None:
    assert tokens("Reset: the PASSWORD, then log-in!") == ["reset", "the", "password", "then", "log", "in"]
    assert exact_match("Log-in.", "log in") == 1.0
    assert token_f1("x", "") == 0.0


def test_summarize_overall_and_per_category() -> None:
    assert summarize([1.0, 0.0, 0.5], ["a", None, "a"]) == {"overall": 0.5, "by_category": {"a": 0.75}}
    with pytest.raises(ValueError, match="empty"):
        summarize([], [])


class _SameTokens(tokenizers.Tokenizer):
    """rouge-score's tokenizer interface over scoring.tokens, so both sides see the same tokens."""

    def tokenize(self, text: str) -> list[str]:
        return tokens(text)


def _strings(count: int) -> list[tuple[str, str]]:
    """Answer/reference pairs with real overlap: short sentences over a small vocabulary."""
    rng = random.Random(20261125)
    vocabulary = ["reset", "the", "your", "password", "account", "billing", "invoice", "refund"]
    vocabulary += ["card", "is", "was", "not", "to", "a", "of", "in"]
    pairs = []
    for _ in range(count):
        reference = " ".join(rng.choices(vocabulary, k=rng.randint(1, 12)))
        answer = " ".join(rng.choices(vocabulary, k=rng.randint(0, 12)))
        pairs.append((answer.capitalize() + rng.choice([".", "!", ""]), reference))
    return [
        *pairs,
        ("To reset your password, open Settings.", "Open Settings and choose Reset password."),
        ("Refunds take 5-7 business days.", "A refund takes five to seven business days"),
        ("Café crème", "café au lait crème"),
    ]


def test_rouge_l_matches_rouge_score_on_the_same_tokens() -> None:
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_SameTokens())
    pairs = _strings(60)
    for answer, reference in pairs:
        # rouge-score's score(target, prediction): the reference first.
        expected = scorer.score(reference, answer)["rougeL"].fmeasure
        assert rouge_l(answer, reference) == pytest.approx(expected, abs=1e-12), (answer, reference)
    assert len({round(rouge_l(a, r), 6) for a, r in pairs}) > 10  # the strings exercise many values


def test_every_reference_metric_named_in_models_is_computed_here() -> None:
    """models/metrics.py names the metrics a config may ask for; scoring.METRICS computes them."""
    assert tuple(sorted(METRICS)) == REFERENCE_METRICS
