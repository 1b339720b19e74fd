"""The training records of each customization type other than fine-tuning, read as Bedrock reads them.

* DISTILLATION (distillation-data-prep-option-1): `bedrock-conversation-2024` records, each a prompt in a
  user turn; assistant turns are optional (Bedrock may use them as golden examples) and the stand-in
  ignores them. At most 15,000 prompts; Bedrock fails a job with fewer than 100 valid prompts ("Input
  data must have at minimum 100 valid prompts", reported from a real job: the user guide only "highly
  recommends" 100).
* REINFORCEMENT_FINE_TUNING (rft-prepare-data, nova-implementing-reward-functions): OpenAI chat records,
  `{"messages": [{"role": "system" | "user" | "assistant", "content": ...}], "reference_answer": ...}`,
  other members passed to the grader as they are; 100 to 20,000 prompts.
* CONTINUED_PRE_TRAINING (custom-model-supported, model-customization-prepare): `{"input": "<text>"}`.

Each parser raises DataFormatError naming the first line that does not fit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from iterft.local.bedrock.requests import JobDataError
from iterft.local.standin_model import DataFormatError
from iterft.local.standin_reinforcement import RewardPrompt

DISTILLATION_PROMPTS = (100, 15_000)
"""(fewest, most) prompts a distillation job takes."""
RFT_PROMPTS = (100, 20_000)
"""(fewest, most) prompts a reinforcement fine-tuning job takes."""


def distillation_prompts(text: str) -> list[str]:
    """The user turns of a prompts file, in file order."""
    prompts = []
    for number, record in _records(text):
        try:
            turns = [
                _blocks_text(message["content"])
                for message in record["messages"]
                if message["role"] == "user"
            ]
        except (KeyError, TypeError, AttributeError) as error:
            raise DataFormatError(
                f"line {number}: not a bedrock-conversation-2024 record ({error})"
            ) from None
        turns = [turn for turn in turns if turn.strip()]
        if not turns:
            raise DataFormatError(f"line {number}: no user turn with text")
        prompts.extend(turns)
    return prompts


def reward_prompts(text: str) -> list[RewardPrompt]:
    """The records of a reinforcement fine-tuning file: the conversation up to its last user turn."""
    prompts = []
    for number, record in _records(text):
        try:
            messages = list(record["messages"])
            roles = [message["role"] for message in messages]
            last = max(index for index, role in enumerate(roles) if role == "user")
            question = _chat_text(messages[last]["content"])
        except (KeyError, TypeError, AttributeError) as error:
            raise DataFormatError(f"line {number}: not a chat record with messages ({error})") from None
        except ValueError:
            raise DataFormatError(f"line {number}: no user message") from None
        if not question.strip():
            raise DataFormatError(f"line {number}: the last user message has no text")
        extra = {key: value for key, value in record.items() if key not in ("messages", "id")}
        prompts.append(RewardPrompt(messages[: last + 1], question, extra))
    return prompts


def pretraining_texts(text: str) -> list[str]:
    """The `input` texts of a continued pre-training file."""
    texts = []
    for number, record in _records(text):
        value = record.get("input")
        if not isinstance(value, str) or not value.strip():
            raise DataFormatError(f'line {number}: a continued pre-training record is {{"input": "<text>"}}')
        texts.append(value)
    return texts


def check_count(count: int, bounds: tuple[int, int], what: str) -> None:
    """Fail the job (JobDataError) when it has fewer or more prompts than Bedrock takes."""
    fewest, most = bounds
    if count < fewest:
        raise JobDataError(f"Input data must have at minimum {fewest} valid {what}; found {count}.")
    if count > most:
        raise JobDataError(f"Input data can have at most {most} {what}; found {count}.")


def json_lines(text: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of every non-blank line of a JSON-lines text."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise DataFormatError(f"line {number}: not JSON") from None
        yield number, value


def _records(text: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    found = False
    for number, record in json_lines(text):
        if not isinstance(record, Mapping):
            raise DataFormatError(f"line {number}: not a JSON object")
        found = True
        yield number, record
    if not found:
        raise DataFormatError("the file holds no records")


def _blocks_text(content: Any) -> str:
    """bedrock-conversation-2024 content: a list of blocks, of which the text ones count."""
    if not isinstance(content, list):
        raise TypeError("message content must be a list of blocks")
    return "\n".join(str(block["text"]) for block in content if "text" in block)


def _chat_text(content: Any) -> str:
    """OpenAI chat content: a string, or a list of parts of which the text ones count."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TypeError("message content must be a string or a list of parts")
    return "\n".join(str(part["text"]) for part in content if isinstance(part, Mapping) and "text" in part)
