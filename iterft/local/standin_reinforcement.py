"""Reinforcement fine-tuning of the stand-in's small model: it learns from rewards, honestly. Not an LLM.

For each prompt the model offers `samples_per_prompt` answers (`StandInModel.candidates`: its own answer,
then the answers it knows for the most similar prompts it learned; a model that knows nothing near the
prompt can only offer `I don't know.`). A grader (the job's Lambda function) rewards every sample; the
model adopts the best-rewarded answer for the prompt when it beats the reward of the answer it gives now
(ties keep the current answer). So rewards can only teach what the model can already produce: a model
whose samples all score zero learns nothing, which is why AWS advises supervised fine-tuning first.

Step-wise figures, one row a batch of prompts: the mean reward of the answers the model gave them
before the update, and the loss model's mean per-token cross-entropy of the answers the model gives after the
update, measured before its loss model reads the adopted ones (as `StandInModel.train` measures its
training loss).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iterft.local.standin_model import (
    Pair,
    StandInModel,
    StepLoss,
    TrainingReport,
    first_tokens,
    predicted_tokens,
)

Grader = Callable[[list[dict[str, Any]]], Mapping[str, float]]
"""Rewards a batch of samples (the grader Lambda's payload) by sample id."""


@dataclass(frozen=True)
class RewardPrompt:
    """One reinforcement record: the conversation up to the question, and what the grader gets with it."""

    messages: list[dict[str, Any]]
    """The record's messages up to and including its last user turn (OpenAI chat format)."""
    question: str
    """The text of the last user turn: what the model answers."""
    extra: dict[str, Any]
    """Every other member of the record (`reference_answer`, custom fields), passed to the grader."""


@dataclass(frozen=True)
class RewardStep(StepLoss):
    mean_reward: float = 0.0
    """The mean reward of the answers the model gave the step's prompts before the update (its own
    answer, the first sample of each prompt): how well the policy does, rising as it learns."""


def reinforce(
    model: StandInModel,
    prompts: Sequence[RewardPrompt],
    grade: Grader,
    *,
    epochs: int,
    batch_size: int,
    samples_per_prompt: int,
    max_tokens: int | None = None,
) -> tuple[StandInModel, TrainingReport, int]:
    """The child model after reinforcement on `prompts`, what training measured, and how many prompts'
    answers it changed."""
    if not prompts:
        raise ValueError("nothing to train on")
    if epochs < 1 or batch_size < 1 or samples_per_prompt < 1:
        raise ValueError("epochs, batch_size and samples_per_prompt must be at least 1")
    steps: list[StepLoss] = []
    changed: set[str] = set()
    epoch_nll, epoch_tokens = 0.0, 0
    for epoch in range(1, epochs + 1):
        epoch_nll, epoch_tokens = 0.0, 0
        for start in range(0, len(prompts), batch_size):
            batch = prompts[start : start + batch_size]
            offered = [_samples(model, prompt, samples_per_prompt, max_tokens) for prompt in batch]
            payload, ids = _payload(epoch, start, batch, offered)
            rewards = grade(payload)
            scores = [[float(rewards[sample_id]) for sample_id in prompt_ids] for prompt_ids in ids]
            adopted = []
            answers = []
            for prompt, samples, reward in zip(batch, offered, scores, strict=True):
                best = max(range(len(samples)), key=lambda index: (reward[index], -index))
                if reward[best] > reward[0]:
                    adopted.append(Pair(prompt.question, samples[best]))
                    changed.add(prompt.question)
                answers.append(samples[best])
            tokens = sum(predicted_tokens(answer) for answer in answers)
            nll = model.cross_entropy(answers) * tokens
            mean_reward = sum(reward[0] for reward in scores) / len(scores)
            steps.append(
                RewardStep(step=len(steps) + 1, epoch=epoch, loss=nll / tokens, mean_reward=mean_reward)
            )
            epoch_nll, epoch_tokens = epoch_nll + nll, epoch_tokens + tokens
            if adopted:
                model = model.adopted(adopted)
    report = TrainingReport(steps=steps, validation=[], training_loss=epoch_nll / epoch_tokens)
    return model, report, len(changed)


def _samples(model: StandInModel, prompt: RewardPrompt, count: int, max_tokens: int | None) -> list[str]:
    candidates = model.candidates(prompt.question, count)
    return [first_tokens(answer, max_tokens) if max_tokens else answer for answer in candidates]


def _payload(
    epoch: int, start: int, batch: Sequence[RewardPrompt], offered: Sequence[list[str]]
) -> tuple[list[dict[str, Any]], list[list[str]]]:
    """The grader's batch (nova-implementing-reward-functions): one sample per answer, the record's messages
    with the answer appended as the assistant turn, the record's other members, and a unique id."""
    payload: list[dict[str, Any]] = []
    ids: list[list[str]] = []
    for offset, (prompt, samples) in enumerate(zip(batch, offered, strict=True)):
        prompt_ids = []
        for number, answer in enumerate(samples):
            sample_id = f"{epoch}-{start + offset}-{number}"
            messages = [*prompt.messages, {"role": "assistant", "content": answer}]
            payload.append({**prompt.extra, "id": sample_id, "messages": messages})
            prompt_ids.append(sample_id)
        ids.append(prompt_ids)
    return payload, ids
