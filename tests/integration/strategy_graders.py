"""A team's own reinforcement grader, run by the embedded Lambda service (test_strategies.py).

It follows the reward function contract of the Nova RFT page "Implementing reward functions" (the event a
list of samples `{id, messages: [..., {role: assistant, content}], reference_answer, ...}`, the result a
list of `{id, aggregate_reward_score, metrics_list}`) with a metric of its own, not the stack's default
grader's: the share of words the answer and the reference have in common (Jaccard). Every batch it grades
is kept, for the test to see what Bedrock sent it.
"""

from __future__ import annotations

import re
import threading
from typing import Any

BATCHES: list[list[dict[str, Any]]] = []
_LOCK = threading.Lock()
_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def reward_word_overlap(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    with _LOCK:
        BATCHES.append(event)
    results = []
    for sample in event:
        answer, reference = _words(sample["messages"][-1]["content"]), _words(str(sample["reference_answer"]))
        overlap = len(answer & reference) / len(answer | reference) if answer | reference else 0.0
        results.append(
            {
                "id": sample["id"],
                "aggregate_reward_score": overlap,
                "metrics_list": [{"name": "word_overlap", "value": overlap, "type": "Reward"}],
            }
        )
    return results
