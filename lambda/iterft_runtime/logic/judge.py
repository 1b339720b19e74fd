"""The judge metric: a foundation model grades each answer against its reference with a rubric.

Plain logic only: the prompt the judge is sent and the reading of its reply. Score shard makes the
Converse calls (one per answer), so judging runs in the same bounded, throttling-retried Map as the
answers themselves. A grade of 1 to 5 is normalised to 0..1 (`(grade - 1) / 4`) so that `judge`
sits beside the other metrics and can be the primary metric or a guard.
"""

from __future__ import annotations

import re

MIN_GRADE, MAX_GRADE = 1, 5

# The sections of a judge prompt, each between its own tags so that no answer can pass for another part.
RUBRIC, QUESTION, REFERENCE, ANSWER = "rubric", "question", "reference", "answer"
SECTIONS = (RUBRIC, QUESTION, REFERENCE, ANSWER)

_GRADE = re.compile(rf"\bgrade\s*[:=]?\s*([{MIN_GRADE}-{MAX_GRADE}])\b", re.IGNORECASE)
_LONE_GRADE = re.compile(rf"^\s*([{MIN_GRADE}-{MAX_GRADE}])\s*[.!]?\s*$")
_TAG = re.compile(rf"</?({'|'.join(SECTIONS)})>", re.IGNORECASE)


class JudgeReplyError(ValueError):
    """The judge's reply holds no grade: the round fails with the reply in its cause rather than
    scoring the answer with a made-up value."""


def judge_prompt(rubric: str, question: str, reference: str, answer: str) -> str:
    """The user turn sent to the judge. Tags inside the texts are removed, so an answer cannot close
    its own section and write a grade of its choice into the prompt's structure."""
    parts = {RUBRIC: rubric, QUESTION: question, REFERENCE: reference, ANSWER: answer}
    body = "\n".join(f"<{name}>\n{_TAG.sub('', text).strip()}\n</{name}>" for name, text in parts.items())
    return (
        "You are grading an answer to a question against a reference answer, following the rubric.\n"
        f"{body}\n"
        f"Reply with one line, `Grade: N`, where N is a whole number from {MIN_GRADE} to {MAX_GRADE}."
    )


def section(prompt: str, name: str) -> str | None:
    """The text of one tagged section of a judge prompt, or None when the prompt has no such section."""
    match = re.search(rf"<{name}>\n(.*?)\n</{name}>", prompt, re.DOTALL)
    return match.group(1) if match else None


def parse_grade(reply: str) -> float:
    """The judge's grade, normalised to 0..1: `Grade: 4` (any case, `:`/`=` optional) or a lone digit."""
    match = _GRADE.search(reply) or _LONE_GRADE.match(reply)
    if match is None:
        raise JudgeReplyError(
            f"the judge's reply holds no grade from {MIN_GRADE} to {MAX_GRADE}: {reply[:200]!r}"
        )
    return normalise(int(match.group(1)))


def normalise(grade: int) -> float:
    if not MIN_GRADE <= grade <= MAX_GRADE:
        raise ValueError(f"a grade is {MIN_GRADE} to {MAX_GRADE}, not {grade}")
    return (grade - MIN_GRADE) / (MAX_GRADE - MIN_GRADE)
