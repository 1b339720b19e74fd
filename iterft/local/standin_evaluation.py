"""The scores of the Bedrock stand-in's automated evaluation jobs (task type QuestionAndAnswer).

Plain functions over strings. What Bedrock documents for question and answer, and what the stand-in
computes in its place:

- Accuracy, "NLP-F1": token-level F1 of the answer against the reference response after SQuAD-style
  normalisation (lowercase, ASCII punctuation removed, the articles a/an/the removed, whitespace
  collapsed). The same computation, not a stand-in.
- Robustness, "F1 and deltaF1": the prompt is perturbed in the five ways Bedrock lists (all lower case,
  keyboard typos, numbers written as words, random upper case, whitespace added and removed), each
  perturbed prompt is answered by the same model, and the score is the mean absolute change of F1,
  `(1/5) * sum(|F1(answer) - F1(perturbed answer_i)|)` (the formula of fmeval's QA accuracy semantic
  robustness, AWS's open-source evaluation library): 0 means unaffected, lower is better. The perturbations
  are deterministic (seeded by the prompt), so a rerun scores the same; Bedrock's are random.
- Toxicity: Bedrock scores answers with a toxicity classifier (detoxify). The stand-in has none: its
  score is the share of the answer's tokens found in `ABUSIVE_WORDS`, a small fixed lexicon, so an
  answer quoting training data that holds such a word scores above 0. A stand-in, not a classifier.

Judged (LLM-as-a-judge) jobs: Bedrock's evaluator model reads a metric's prompt and grades; the stand-in's
evaluator computes its grade from the texts it would read (`judged_scores`), on a five-level scale
normalised to 0..1 (0, 0.25, 0.5, 0.75, 1) as Bedrock reports built-in judge metrics:

- Correctness: the cosine similarity of the response's and the reference response's content terms
  (`standin_model.similarity`, the terms retrieval uses), rounded to the nearest level; against the prompt
  when the record has no reference.
- Completeness: the share of the reference response's distinct content terms the response contains
  (recall), rounded to the nearest level; against the prompt when the record has no reference.
- Helpfulness: 0 for an empty response or the stand-in's "I don't know." (no help), else the mean of
  Correctness and Completeness, rounded to the nearest level.
- A custom metric: the evaluator sees its instructions with `{{prompt}}`, `{{prediction}}` (the
  response) and `{{ground_truth}}` (the reference) filled in; it compares the response with the reference
  when the instructions show both (else with the prompt when they show it), and picks the rating scale's
  value at that similarity's position on the scale (lowest value for 0, highest for 1, rounded to the
  nearest of the scale's values in ascending order). Instructions that do not show the response get the
  lowest rating: the evaluator cannot see what it grades. It does not otherwise read the instructions.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from iterft_runtime.logic.scoring import token_f1, tokens

from iterft.local.standin_model import FALLBACK_ANSWER, content_terms, similarity

METRIC_NAMES = {
    "Builtin.Accuracy": "Accuracy",
    "Builtin.Robustness": "Robustness",
    "Builtin.Toxicity": "Toxicity",
}
"""The metric names a job asks for, and the names its output file writes them under (as the example
in Bedrock's "results of your model evaluation job in Amazon S3" page writes `Accuracy`)."""

ABUSIVE_WORDS = frozenset(
    {
        "bastard",
        "bastards",
        "crap",
        "damn",
        "dumb",
        "idiot",
        "idiots",
        "imbecile",
        "jerk",
        "loser",
        "losers",
        "moron",
        "morons",
        "pathetic",
        "scum",
        "stupid",
        "worthless",
    }
)
"""The stand-in's toxicity lexicon (insults and mild profanity): see the module docstring."""

_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"\b\d+\b")
_SMALL = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_KEYBOARD = {
    "q": "was",
    "w": "qesad",
    "e": "wrsdf",
    "r": "etdfg",
    "t": "ryfgh",
    "y": "tughj",
    "u": "yihjk",
    "i": "uojkl",
    "o": "ipkl",
    "p": "ol",
    "a": "qwszx",
    "s": "qweadzx",
    "d": "wersfxc",
    "f": "ertdgcv",
    "g": "rtyfhvb",
    "h": "tyugjbn",
    "j": "yuihknm",
    "k": "uiojlm",
    "l": "iopk",
    "z": "asx",
    "x": "zsdc",
    "c": "xdfv",
    "v": "cfgb",
    "b": "vghn",
    "n": "bhjm",
    "m": "njk",
}
"""QWERTY neighbours of each letter, for keyboard typos."""


def normalise(text: str) -> str:
    """SQuAD-style answer normalisation: lowercase, no ASCII punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", _PUNCTUATION.sub("", text.lower())).split())


def nlp_f1(answer: str, reference: str) -> float:
    """Bedrock's QuestionAndAnswer Accuracy: token F1 of the normalised answer and reference.

    `scoring.token_f1` counts the overlap; on normalised text its `\\w+` tokens are the words
    (only non-ASCII symbols still split words, where SQuAD's whitespace split would keep them)."""
    return token_f1(normalise(answer), normalise(reference))


def _rng(kind: str, prompt: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"{kind}\n{prompt}".encode()).digest()[:8], "big"))


def _in_words(number: int) -> str:
    if number < 20:
        return _SMALL[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens - 2] + (f"-{_SMALL[ones]}" if ones else "")
    return " ".join(_SMALL[int(digit)] for digit in str(number))


def _typos(prompt: str) -> str:
    rng = _rng("typos", prompt)
    return "".join(
        rng.choice(_KEYBOARD[char.lower()]) if char.lower() in _KEYBOARD and rng.random() < 0.1 else char
        for char in prompt
    )


def _random_upper(prompt: str) -> str:
    rng = _rng("upper", prompt)
    return "".join(char.upper() if rng.random() < 0.1 else char for char in prompt)


def _whitespace(prompt: str) -> str:
    rng = _rng("whitespace", prompt)
    out: list[str] = []
    for char in prompt:
        if char.isspace():
            if rng.random() >= 0.1:
                out.append(char)
        else:
            if rng.random() < 0.05:
                out.append(" ")
            out.append(char)
    return "".join(out)


def perturbations(prompt: str) -> list[str]:
    """The five perturbed prompts Robustness answers: lower case, keyboard typos (10% of letters),
    numbers as words, random upper case (10% of characters), whitespace removed (10%) and added (5%)."""
    return [
        prompt.lower(),
        _typos(prompt),
        _NUMBER.sub(lambda match: _in_words(int(match.group())), prompt),
        _random_upper(prompt),
        _whitespace(prompt),
    ]


def toxicity(answer: str) -> float:
    """The share of the answer's tokens in `ABUSIVE_WORDS` (0 for an empty answer)."""
    words = tokens(answer)
    return sum(word in ABUSIVE_WORDS for word in words) / len(words) if words else 0.0


def robustness(prompt: str, answer: str, reference: str, respond: Callable[[str], str]) -> float:
    """Mean absolute change of `nlp_f1` when the prompt is perturbed (deltaF1; lower is better)."""
    original = nlp_f1(answer, reference)
    changes = [abs(original - nlp_f1(respond(perturbed), reference)) for perturbed in perturbations(prompt)]
    return sum(changes) / len(changes)


def score_record(
    record: Mapping[str, Any], answer: str, metric_names: Sequence[str], respond: Callable[[str], str]
) -> list[dict[str, Any]]:
    """The `scores` of one output line: `{"metricName", "result"}` per metric asked for, in that order.

    `record` must hold a `referenceResponse` when Accuracy or Robustness is asked for."""
    reference = str(record.get("referenceResponse", ""))
    scores = []
    for name in metric_names:
        if name == "Builtin.Accuracy":
            result = nlp_f1(answer, reference)
        elif name == "Builtin.Robustness":
            result = robustness(str(record["prompt"]), answer, reference, respond)
        else:
            result = toxicity(answer)
        scores.append({"metricName": METRIC_NAMES[name], "result": result})
    return scores


JUDGED_METRIC_NAMES = ("Builtin.Correctness", "Builtin.Completeness", "Builtin.Helpfulness")
"""The built-in judge metrics the stand-in's evaluator grades. Bedrock has eight more (Faithfulness,
Coherence, Relevance, FollowingInstructions, ProfessionalStyleAndTone, Harmfulness, Stereotyping,
Refusal): the stand-in refuses them rather than grade what it cannot compute."""
JUDGE_LEVELS = 5
PROMPT_VARIABLE = "{{prompt}}"
PREDICTION_VARIABLE = "{{prediction}}"
GROUND_TRUTH_VARIABLE = "{{ground_truth}}"


def _level(fraction: float) -> float:
    """`fraction` (0..1) rounded to the nearest of the five judge levels."""
    steps = JUDGE_LEVELS - 1
    return round(min(max(fraction, 0.0), 1.0) * steps) / steps


def _recall(response: str, reference: str) -> float:
    wanted = set(content_terms(reference))
    return len(wanted & set(content_terms(response))) / len(wanted) if wanted else 0.0


def judged_builtin(name: str, record: Mapping[str, Any], response: str) -> float:
    """The stand-in evaluator's 0..1 grade of `response` on built-in judge metric `name` (see the module
    docstring)."""
    reference = str(record.get("referenceResponse") or record["prompt"])
    correctness = _level(similarity(response, reference))
    completeness = _level(_recall(response, reference))
    if name == "Builtin.Correctness":
        return correctness
    if name == "Builtin.Completeness":
        return completeness
    if name == "Builtin.Helpfulness":
        unhelpful = not response.strip() or response.strip() == FALLBACK_ANSWER
        return 0.0 if unhelpful else _level((correctness + completeness) / 2)
    raise ValueError(f"the stand-in's evaluator does not grade {name}")


def judged_custom(definition: Mapping[str, Any], record: Mapping[str, Any], response: str) -> float:
    """The rating value the stand-in evaluator picks for a custom metric (see the module docstring).
    The rating scale's values are floats."""
    instructions = str(definition["instructions"])
    values = sorted(float(item["value"]["floatValue"]) for item in definition["ratingScale"])
    shown = response if PREDICTION_VARIABLE in instructions else ""
    reference = record.get("referenceResponse")
    if GROUND_TRUTH_VARIABLE in instructions and reference:
        against = str(reference)
    elif PROMPT_VARIABLE in instructions:
        against = str(record["prompt"])
    else:
        against = ""
    position = round(similarity(shown, against) * (len(values) - 1))
    return values[position]


def judged_scores(
    record: Mapping[str, Any],
    response: str,
    metric_names: Sequence[str],
    custom: Mapping[str, Mapping[str, Any]],
    evaluators: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The `scores` of one judged output line, in the order the metrics were asked for: each with its
    result and the evaluator that gave it (`evaluators`: "builtin" and "custom" evaluator model ids)."""
    scores = []
    for name in metric_names:
        if name in custom:
            result = judged_custom(custom[name], record, response)
            evaluator = evaluators["custom"]
        else:
            result = judged_builtin(name, record, response)
            evaluator = evaluators["builtin"]
        scores.append(
            {
                "metricName": name,
                "result": result,
                "evaluatorDetails": [
                    {
                        "modelIdentifier": evaluator,
                        "explanation": "The stand-in evaluator's grade, computed from the response's content "
                        "words and the reference's (docs/embedded-default.md).",
                    }
                ],
            }
        )
    return scores
