"""The Bedrock Runtime of the stand-in: Converse and InvokeModel (each provider's native body).

The question is the last user turn; a foundation model (never fine-tuned) grades judge prompts
(`standin_model.judge_reply`), every other model answers from what it learned.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from iterft.local.bedrock.core import StandInCore
from iterft.local.bedrock.requests import (
    BedrockError,
    invalid,
    required,
)
from iterft.local.standin_model import (
    StandInModel,
    first_tokens,
    judge_reply,
    token_count,
)

_CHAT_TEMPLATE_TOKEN = re.compile(r"<\|[^|>]*\|>")


class Runtime(StandInCore):
    """Converse and InvokeModel."""

    def _serve(self, operation: str, model_id: str) -> tuple[StandInModel, str, float]:
        """(model, its foundation model id, artificial latency) of one runtime call."""
        self._check_throttle(operation)
        with self._lock:
            model, foundation_id = self._serving(model_id)
            return model, foundation_id, self._latency

    def converse(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Converse: the last user turn is the question; the system prompt and earlier turns are ignored."""
        started = time.monotonic()
        model, _, latency = self._serve("Converse", required(request, "modelId"))
        messages = request.get("messages") or []
        if not messages or messages[-1].get("role") != "user":
            raise invalid("A conversation must end with a user message.")
        answer = reply(model, _text(messages[-1].get("content") or []))
        answer, stop_reason = _limit(answer, (request.get("inferenceConfig") or {}).get("maxTokens"))
        texts = [block["text"] for block in request.get("system") or [] if "text" in block]
        texts += [_text(message.get("content") or []) for message in messages]
        input_tokens, output_tokens = sum(token_count(text) for text in texts), token_count(answer)
        if latency:
            time.sleep(latency)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": stop_reason,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": round((time.monotonic() - started) * 1000)},
        }

    def invoke_model(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """InvokeModel with the native body of the served model's provider (Nova, Claude, Llama, Titan)."""
        model, foundation_id, latency = self._serve("InvokeModel", required(request, "modelId"))
        try:
            body = json.loads(request.get("body") or b"{}")
        except ValueError:
            raise invalid("The request body is not valid JSON.") from None
        provider = _provider(foundation_id)
        question = provider.question(body)
        answer, stop_reason = _limit(reply(model, question), provider.max_tokens(body))
        if latency:
            time.sleep(latency)
        payload = provider.response(answer, stop_reason == "max_tokens", token_count(question))
        return {"body": json.dumps(payload).encode(), "contentType": "application/json"}


def reply(model: StandInModel, question: str) -> str:
    """A foundation model (never customized) grades judge prompts; every model answers the rest."""
    graded = judge_reply(question) if model.is_foundation else None
    return graded if graded is not None else model.answer(question)


def logged_question(operation: str, model_id: str, body: Mapping[str, Any]) -> str | None:
    """The question (last user turn) of a logged Converse or InvokeModel request body; None when it has
    none the stand-in can read."""
    provider = _provider_of(model_id) if operation != "Converse" else _CONVERSE
    if provider is None:
        return None
    try:
        return provider.question(body) or None
    except (BedrockError, AttributeError, TypeError):
        return None


def logged_answer(operation: str, model_id: str, body: Mapping[str, Any]) -> str | None:
    """The answer text of a logged Converse or InvokeModel response body, or None."""
    provider = _provider_of(model_id) if operation != "Converse" else _CONVERSE
    if provider is None:
        return None
    try:
        return provider.answer(body) or None
    except (AttributeError, TypeError, KeyError, IndexError):
        return None


@dataclass(frozen=True)
class _Provider:
    """How one provider's InvokeModel body carries the question and the answer."""

    question: Callable[[Mapping[str, Any]], str]
    max_tokens: Callable[[Mapping[str, Any]], int | None]
    response: Callable[[str, bool, int], dict[str, Any]]
    answer: Callable[[Mapping[str, Any]], str]
    """The answer text of a response body (what invocation logs record)."""


def _last_user_turn(body: Mapping[str, Any]) -> str:
    users = [message for message in body.get("messages") or [] if message.get("role") == "user"]
    if not users:
        raise invalid("The request body holds no user message.")
    return _text(users[-1].get("content") or [])


_PROVIDERS: dict[str, _Provider] = {
    "amazon.nova": _Provider(
        question=_last_user_turn,
        max_tokens=lambda body: (body.get("inferenceConfig") or {}).get("max_new_tokens"),
        response=lambda answer, cut, tokens: {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": "max_tokens" if cut else "end_turn",
            "usage": {
                "inputTokens": tokens,
                "outputTokens": token_count(answer),
                "totalTokens": tokens + token_count(answer),
            },
        },
        answer=lambda body: _text(body["output"]["message"]["content"]),
    ),
    "anthropic": _Provider(
        question=_last_user_turn,
        max_tokens=lambda body: body.get("max_tokens"),
        response=lambda answer, cut, tokens: {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "max_tokens" if cut else "end_turn",
            "usage": {"input_tokens": tokens, "output_tokens": token_count(answer)},
        },
        answer=lambda body: _text(body["content"]),
    ),
    "meta": _Provider(
        question=lambda body: _CHAT_TEMPLATE_TOKEN.sub(" ", str(body.get("prompt", ""))),
        max_tokens=lambda body: body.get("max_gen_len"),
        response=lambda answer, cut, tokens: {
            "generation": answer,
            "prompt_token_count": tokens,
            "generation_token_count": token_count(answer),
            "stop_reason": "length" if cut else "stop",
        },
        answer=lambda body: str(body["generation"]),
    ),
    "amazon.titan": _Provider(
        question=lambda body: str(body.get("inputText", "")),
        max_tokens=lambda body: (body.get("textGenerationConfig") or {}).get("maxTokenCount"),
        response=lambda answer, cut, tokens: {
            "inputTextTokenCount": tokens,
            "results": [
                {
                    "tokenCount": token_count(answer),
                    "outputText": answer,
                    "completionReason": "LENGTH" if cut else "FINISH",
                }
            ],
        },
        answer=lambda body: str(body["results"][0]["outputText"]),
    ),
}
_CONVERSE = _PROVIDERS["amazon.nova"]
"""Converse's request and response bodies have the shapes of Nova's native ones (messages, output.message)."""
_GEOGRAPHIES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")


def _provider(foundation_id: str) -> _Provider:
    provider = _provider_of(foundation_id)
    if provider is None:
        raise invalid(f"The stand-in does not speak the InvokeModel body of {foundation_id}.")
    return provider


def _provider_of(model_id: str) -> _Provider | None:
    """The provider of a model id, an inference profile id (`us.amazon.nova-premier-v1:0`) or an ARN
    naming one (a custom model's ARN names its base model)."""
    name = (
        model_id.split("custom-model/", 1)[1] if "custom-model/" in model_id else model_id.rsplit("/", 1)[-1]
    )
    name = next((name[len(geo) :] for geo in _GEOGRAPHIES if name.startswith(geo)), name)
    return next((provider for prefix, provider in _PROVIDERS.items() if name.startswith(prefix)), None)


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the text of its blocks."""
    if isinstance(content, str):
        return content
    return "\n".join(
        str(block["text"]) for block in content if isinstance(block, Mapping) and "text" in block
    )


def _limit(answer: str, max_tokens: int | None) -> tuple[str, str]:
    """The answer within a maximum-token limit, and the stop reason ("max_tokens" when cut)."""
    if max_tokens is not None and token_count(answer) > max_tokens:
        return first_tokens(answer, max_tokens), "max_tokens"
    return answer, "end_turn"
