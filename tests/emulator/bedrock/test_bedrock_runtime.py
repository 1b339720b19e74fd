"""Converse and InvokeModel (`bedrock.runtime`)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from bedrock_support import (
    BEFORE_HAIKU_END_OF_LIFE,
    NO_RETRIES,
    NOVA,
    REGION,
    ROUND_1,
    Lineage,
    answer,
    ask,
    error_code,
)
from botocore.exceptions import ClientError
from iterft_runtime.logic.judge import judge_prompt, parse_grade
from iterft_runtime.models.metrics import DEFAULT_RUBRIC

from iterft.local.bedrock import BedrockStandIn
from iterft.local.bedrock import runtime as bedrock_runtime
from iterft.local.standin_model import FALLBACK_ANSWER

# Runtime ------------------------------------------------------------------------------------------


def test_a_foundation_model_knows_nothing_of_the_lineage(lineage: Lineage) -> None:
    lineage.fine_tune("support-it0001", ROUND_1)
    response = ask(
        lineage.runtime,
        "amazon.nova-micro-v1:0",
        "How do I reset my password?",
        system=[{"text": "Be brief."}],
    )
    assert response["output"]["message"] == {"role": "assistant", "content": [{"text": FALLBACK_ANSWER}]}
    assert response["stopReason"] == "end_turn"
    assert response["usage"] == {"inputTokens": 10, "outputTokens": 6, "totalTokens": 16}
    assert response["metrics"]["latencyMs"] >= 0


def test_a_foundation_model_grades_judge_prompts(lineage: Lineage) -> None:
    """A stand-in behaviour: the grade is computed from the answer's similarity to the reference."""
    reference = "Choose Forgot password on the sign-in page."
    good = judge_prompt(DEFAULT_RUBRIC, "How do I reset my password?", reference, reference)
    bad = judge_prompt(DEFAULT_RUBRIC, "How do I reset my password?", reference, FALLBACK_ANSWER)
    assert answer(lineage.runtime, "amazon.nova-pro-v1:0", good) == "Grade: 5"
    assert answer(lineage.runtime, "meta.llama3-1-70b-instruct-v1:0", bad) == "Grade: 1"
    assert parse_grade(answer(lineage.runtime, "amazon.nova-pro-v1:0", good)) == 1.0


def test_a_fine_tuned_model_answers_a_judge_prompt_from_what_it_learned(lineage: Lineage) -> None:
    job = lineage.fine_tune("support-it0001", ROUND_1)
    deployment = lineage.deploy("support-it0001-eval", job["outputModelArn"])
    prompt = judge_prompt(DEFAULT_RUBRIC, "Unrelated question?", "reference", "reference")
    assert answer(lineage.runtime, deployment, prompt) == FALLBACK_ANSWER


@pytest.mark.parametrize(
    ("model_id", "message"),
    [(NOVA, "with on-demand throughput isn't supported"), ("openai.gpt-9", "model identifier is invalid")],
)
def test_models_that_cannot_be_invoked_on_demand_are_refused(
    lineage: Lineage, model_id: str, message: str
) -> None:
    with pytest.raises(ClientError) as error:
        ask(lineage.runtime, model_id, "Hello?")
    assert error_code(error) == "ValidationException"
    assert message in error.value.response["Error"]["Message"]


def test_a_custom_model_must_be_deployed_before_it_answers(lineage: Lineage) -> None:
    model_arn = lineage.fine_tune("support-it0001", ROUND_1)["outputModelArn"]
    for model_id in (model_arn, "support-it0001"):
        with pytest.raises(ClientError) as error:
            ask(lineage.runtime, model_id, "How do I reset my password?")
        assert error_code(error) == "ValidationException"
        assert "must be deployed" in error.value.response["Error"]["Message"]


def test_max_tokens_cuts_the_answer(lineage: Lineage) -> None:
    deployment = lineage.deploy("eval", lineage.fine_tune("support-it0001", ROUND_1)["outputModelArn"])
    response = ask(
        lineage.runtime, deployment, "How do I reset my password?", inferenceConfig={"maxTokens": 3}
    )
    assert response["output"]["message"]["content"][0]["text"] == "Choose Forgot password"
    assert (response["stopReason"], response["usage"]["outputTokens"]) == ("max_tokens", 3)


def test_latency_and_throttling_of_the_runtime(
    lineage: Lineage, standin: BedrockStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(bedrock_runtime.time, "sleep", slept.append)
    standin.set_latency(0.25)
    ask(lineage.runtime, "amazon.nova-micro-v1:0", "Hello?")
    assert slept == [0.25]
    standin.throttle_next("Converse")
    runtime = boto3.client("bedrock-runtime", region_name=REGION, config=NO_RETRIES)
    with pytest.raises(ClientError) as error:
        ask(runtime, "amazon.nova-micro-v1:0", "Hello?")
    assert error_code(error) == "ThrottlingException"


LLAMA_PROMPT = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>Hi?<|eot_id|>"


@pytest.mark.parametrize(
    ("model_id", "body", "text_of"),
    [
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 9,
                "messages": [{"role": "user", "content": "Hi"}],
            },
            lambda out: out["content"][0]["text"],
        ),
        (
            "meta.llama3-1-8b-instruct-v1:0",
            {"prompt": LLAMA_PROMPT, "max_gen_len": 9},
            lambda out: out["generation"],
        ),
        ("amazon.titan-text-express-v1", {"inputText": "Hi?"}, lambda out: out["results"][0]["outputText"]),
    ],
)
def test_invoke_model_speaks_each_providers_body(
    lineage: Lineage, standin: BedrockStandIn, model_id: str, body: dict[str, Any], text_of: Any
) -> None:
    standin.set_today(BEFORE_HAIKU_END_OF_LIFE)  # Claude 3 Haiku answers in us-east-1 until 2026-09-10
    response = lineage.runtime.invoke_model(modelId=model_id, body=json.dumps(body))
    assert text_of(json.loads(response["body"].read())) == FALLBACK_ANSWER


def test_invoke_model_on_a_deployment_answers_from_the_model(lineage: Lineage) -> None:
    deployment = lineage.deploy("eval", lineage.fine_tune("support-it0001", ROUND_1)["outputModelArn"])
    body = {
        "messages": [{"role": "user", "content": [{"text": "Which payment methods do you take?"}]}],
        "inferenceConfig": {"max_new_tokens": 100},
    }
    out = json.loads(lineage.runtime.invoke_model(modelId=deployment, body=json.dumps(body))["body"].read())
    assert out["output"]["message"]["content"][0]["text"] == ROUND_1[8][1]
    assert (out["stopReason"], out["usage"]["outputTokens"]) == ("end_turn", 8)
