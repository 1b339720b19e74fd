"""The default reinforcement grader's rewards: the lineage's primary metric of each sampled answer against
its `reference_answer`, the same scoring code the gate reads (logic/scoring.py), so reinforcement
fine-tuning optimizes the yardstick the round is judged on.

The contract is Bedrock's for a Lambda grader (Nova RFT, "Implementing reward functions"): a batch of
samples `{id, messages: [..., {role: assistant, content}], reference_answer}` (some tooling nests
`reference_answer` under `metadata`), answered with `[{id, aggregate_reward_score, metrics_list}]`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from iterft_runtime.logic.scoring import METRICS

REFERENCE_KEYS = ("answer", "text", "reference")
"""Where an object `reference_answer` keeps its text (else the object's JSON is the reference)."""


class GradingError(ValueError):
    """A sample the grader cannot read: no assistant answer, or no reference answer."""


def content_text(content: Any) -> str:
    """A message's text: a string, or Converse-style content blocks' `text` joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return " ".join(str(block.get("text", "")) for block in content if isinstance(block, Mapping))
    return ""


def reference_text(sample: Mapping[str, Any]) -> str:
    metadata = sample.get("metadata")
    reference = sample.get("reference_answer")
    if reference is None and isinstance(metadata, Mapping):
        reference = metadata.get("reference_answer")
    if isinstance(reference, str):
        return reference
    if isinstance(reference, Mapping):
        for key in REFERENCE_KEYS:
            if isinstance(reference.get(key), str):
                return str(reference[key])
        return json.dumps(reference, sort_keys=True)
    raise GradingError(f"sample {sample.get('id')!r} has no reference_answer")


def answer_text(sample: Mapping[str, Any]) -> str:
    messages = sample.get("messages") or []
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            return content_text(message.get("content"))
    raise GradingError(f"sample {sample.get('id')!r} has no assistant answer to grade")


def grade(samples: Sequence[Mapping[str, Any]], metric: str) -> list[dict[str, Any]]:
    """One reward per sample: `metric` (a reference metric) of its answer against its reference."""
    score = METRICS[metric]
    rewards = []
    for sample in samples:
        value = score(answer_text(sample), reference_text(sample))
        rewards.append(
            {
                "id": str(sample.get("id")),
                "aggregate_reward_score": value,
                "metrics_list": [{"name": metric, "value": value, "type": "Reward"}],
            }
        )
    return rewards
