"""The Bedrock Runtime of the stand-in: Converse and InvokeModel (each provider's native body).

The question is the last user turn; a foundation model (never fine-tuned) grades judge prompts
(`standin_model.judge_reply`), every other model answers from what it learned.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from iterft_runtime.logic.invocation_logs import last_user_turn, message_text, provider_of, request_question

from iterft.local.bedrock.core import StandInCore
from iterft.local.bedrock.invocation_logging import deliver
from iterft.local.bedrock.requests import (
    invalid,
    required,
)
from iterft.local.standin_model import (
    StandInModel,
    first_tokens,
    judge_reply,
    token_count,
)


class Runtime(StandInCore):
    """Converse and InvokeModel."""

    def _serve(self, operation: str, model_id: str) -> tuple[StandInModel, str, float]:
        """(model, its foundation model id, artificial latency) of one runtime call."""
        self._check_throttle(operation)
        with self._lock:
            model, foundation_id = self._serving(model_id)
            return model, foundation_id, self._latency

    def converse(self, request: Mapping[str, Any], request_id: str | None = None) -> dict[str, Any]:
        """Converse: the last user turn is the question; the system prompt and earlier turns are ignored.
        Logged (invocation_logging) under `request_id` when the region's invocation logging is on."""
        started = time.monotonic()
        model, _, latency = self._serve("Converse", required(request, "modelId"))
        messages = request.get("messages") or []
        if not messages or messages[-1].get("role") != "user":
            raise invalid("A conversation must end with a user message.")
        answer = reply(model, message_text(messages[-1].get("content") or []))
        answer, stop_reason = _limit(answer, (request.get("inferenceConfig") or {}).get("maxTokens"))
        texts = [block["text"] for block in request.get("system") or [] if "text" in block]
        texts += [message_text(message.get("content") or []) for message in messages]
        input_tokens, output_tokens = sum(token_count(text) for text in texts), token_count(answer)
        if latency:
            time.sleep(latency)
        response = {
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": stop_reason,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": round((time.monotonic() - started) * 1000)},
        }
        self._log("Converse", request, request_id, dict(request), response, (input_tokens, output_tokens))
        return response

    def _log(
        self,
        operation: str,
        request: Mapping[str, Any],
        request_id: str | None,
        body: dict[str, Any],
        response: Mapping[str, Any],
        tokens: tuple[int, int],
    ) -> None:
        """The call's invocation log record, when logging is on (the logged body has no modelId and no
        requestMetadata: they are the record's own fields)."""
        metadata = request.get("requestMetadata")
        for name in ("modelId", "requestMetadata", "body", "contentType", "accept"):
            body.pop(name, None)
        deliver(
            self.account_id,
            self.region_name,
            request_id=request_id or str(uuid.uuid4()),
            operation=operation,
            model_id=str(request["modelId"]),
            request=body,
            response=response,
            metadata=metadata,
            tokens=tokens,
            partition=self.partition,
        )

    def invoke_model(self, request: Mapping[str, Any], request_id: str | None = None) -> dict[str, Any]:
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
        tokens = (token_count(question), token_count(answer))
        self._log("InvokeModel", request, request_id, dict(body), payload, tokens)
        return {"body": json.dumps(payload).encode(), "contentType": "application/json"}


def reply(model: StandInModel, question: str) -> str:
    """A foundation model (never customized) grades judge prompts; every model answers the rest."""
    graded = judge_reply(question) if model.is_foundation else None
    return graded if graded is not None else model.answer(question)


@dataclass(frozen=True)
class _Provider:
    """How one provider's InvokeModel body carries the question and the answer."""

    question: Callable[[Mapping[str, Any]], str]
    max_tokens: Callable[[Mapping[str, Any]], int | None]
    response: Callable[[str, bool, int], dict[str, Any]]


def _last_user_turn(body: Mapping[str, Any]) -> str:
    question = last_user_turn(body)
    if question is None:
        raise invalid("The request body holds no user message.")
    return question


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
    ),
    "meta": _Provider(
        question=lambda body: request_question("InvokeModel", "meta", body) or "",
        max_tokens=lambda body: body.get("max_gen_len"),
        response=lambda answer, cut, tokens: {
            "generation": answer,
            "prompt_token_count": tokens,
            "generation_token_count": token_count(answer),
            "stop_reason": "length" if cut else "stop",
        },
    ),
    "amazon.titan": _Provider(
        question=lambda body: request_question("InvokeModel", "amazon.titan", body) or "",
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
    ),
}


def _provider(foundation_id: str) -> _Provider:
    provider = provider_of(foundation_id)
    if provider is None:
        raise invalid(f"The stand-in does not speak the InvokeModel body of {foundation_id}.")
    return _PROVIDERS[provider]


def _limit(answer: str, max_tokens: int | None) -> tuple[str, str]:
    """The answer within a maximum-token limit, and the stop reason ("max_tokens" when cut)."""
    if max_tokens is not None and token_count(answer) > max_tokens:
        return first_tokens(answer, max_tokens), "max_tokens"
    return answer, "end_turn"
