"""What Bedrock refuses by model and region, by the capability table: customization, capacity, runtime."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import boto3
import pytest
from bedrock_support import (
    HAIKU,
    NOVA,
    REGION,
    ROUND_1,
    TITAN,
    WEST,
    Lineage,
    answer,
    ask,
    conversation,
    error_code,
)
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID

from iterft.local.bedrock import standin_backend
from iterft.local.standin_model import FALLBACK_ANSWER

# What Bedrock refuses, by the capability table ---------------------------------------------------
# The stand-in asks models/capabilities.py, as the config check at synth does: the same table, so a
# config synth accepts never meets a refusal here, and what AWS refuses is refused offline too.

LLAMA_31 = "meta.llama3-1-8b-instruct-v1:0:128k"
LLAMA_33 = "meta.llama3-3-70b-instruct-v1:0:128k"
TITAN_LITE = "amazon.titan-text-lite-v1:0:4k"
END_OF_LIFE = "This model version has reached the end of its life."


def refusal(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return error_code(error), error.value.response["Error"]["Message"]


def trained(lineage: Lineage, name: str, base: str, records: list[dict[str, Any]], **hyper: str) -> str:
    """A custom model of `base` trained on `records` (its family's format): its ARN."""
    uri = lineage.upload(f"{name}.jsonl", "".join(json.dumps(record) + "\n" for record in records))
    job = lineage.job(lineage.create(name, uri, base, hyperParameters={"epochCount": "1", **hyper}))
    assert job["status"] == "Completed", job.get("failureMessage")
    return job["outputModelArn"]


def completions(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"prompt": prompt, "completion": reply} for prompt, reply in pairs]


def chats(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in conversation(pairs).splitlines()]


@pytest.mark.parametrize(
    ("region", "base", "customization", "where"),
    [
        (REGION, HAIKU, "FINE_TUNING", "It is supported in: us-west-2."),
        (REGION, LLAMA_31, "FINE_TUNING", "It is supported in: us-west-2."),
        (WEST, NOVA, "FINE_TUNING", "It is supported in: us-east-1."),
        ("eu-west-1", TITAN, "FINE_TUNING", "It is supported in: us-east-1, us-west-2."),
        (REGION, NOVA, "CONTINUED_PRE_TRAINING", "It is supported in: no region."),
        (REGION, NOVA, "REINFORCEMENT_FINE_TUNING", "It is supported in: no region."),
        (WEST, LLAMA_33, "DISTILLATION", None),  # supported: then refused for want of a teacher
    ],
)
def test_a_base_model_is_customized_only_where_and_how_bedrock_customizes_it(
    aws: None, region: str, base: str, customization: str, where: str | None
) -> None:
    lineage = Lineage(region)
    uri = lineage.upload("train.jsonl", conversation(ROUND_1))
    with pytest.raises(ClientError) as error:
        lineage.create("support-it0001", uri, base, customizationType=customization)
    code, message = refusal(error)
    assert code == "ValidationException"
    if where is None:
        assert (
            message
            == "customizationConfig.distillationConfig is required for customization type DISTILLATION."
        )
    else:
        expected = f"does not support customization type {customization} in {region}. {where}"
        assert f"The base model {base} {expected}" == message


def test_a_model_past_its_end_of_life_is_refused_everywhere_bedrock_refuses_it(aws: None) -> None:
    west = Lineage(WEST)
    standin = standin_backend(DEFAULT_ACCOUNT_ID, WEST)
    claude = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in ROUND_1
    ]
    standin.set_today(date(2026, 9, 9))  # the day before Claude 3 Haiku's end of life
    model = trained(west, "haiku-it0001", HAIKU, claude, batchSize="4")
    throughput = west.provision("haiku-serving", model)

    standin.set_today(date(2026, 9, 10))
    uri = west.upload("more.jsonl", "".join(json.dumps(record) + "\n" for record in claude))
    for base in (HAIKU, model):  # from the foundation model, or from a custom model of it
        with pytest.raises(ClientError) as error:
            west.create("haiku-it0002", uri, base, hyperParameters={"epochCount": "1", "batchSize": "4"})
        assert refusal(error) == ("ResourceNotFoundException", END_OF_LIFE)
    with pytest.raises(ClientError) as error:
        west.bedrock.create_provisioned_model_throughput(
            provisionedModelName="haiku-eval", modelId=model, modelUnits=1
        )
    assert refusal(error) == ("ResourceNotFoundException", END_OF_LIFE)
    with pytest.raises(ClientError) as error:
        ask(west.runtime, "anthropic.claude-3-haiku-20240307-v1:0", "Hello?")
    assert refusal(error) == ("ResourceNotFoundException", END_OF_LIFE)
    # Decision where the docs are silent: capacity bought before the end of life keeps answering.
    assert answer(west.runtime, throughput, "How do I reset my password?") == ROUND_1[0][1]
    # The model card names regions where it stays available after that date.
    standin_backend(DEFAULT_ACCOUNT_ID, "ca-central-1").set_today(date(2026, 12, 3))
    canada = boto3.client("bedrock-runtime", region_name="ca-central-1")
    assert answer(canada, "anthropic.claude-3-haiku-20240307-v1:0", "Hello?") == FALLBACK_ANSWER


def test_on_demand_deployment_only_for_models_and_regions_that_have_it(aws: None) -> None:
    east, west = Lineage(REGION), Lineage(WEST)
    titan = trained(east, "titan-it0001", TITAN, completions(ROUND_1))
    llama = trained(west, "llama-it0001", LLAMA_31, completions(ROUND_1))
    for lineage, model, base, region in ((east, titan, TITAN, REGION), (west, llama, LLAMA_31, WEST)):
        with pytest.raises(ClientError) as error:
            lineage.bedrock.create_custom_model_deployment(modelDeploymentName="eval", modelArn=model)
        assert refusal(error) == (
            "ValidationException",
            f"The model {model} does not support on-demand deployment in {region}: custom models of {base} "
            "can be deployed on demand in no region. Use provisioned throughput instead.",
        )
        assert (
            answer(lineage.runtime, lineage.provision("eval", model), "How do I delete my account?")
            == (ROUND_1[3][1])
        )
    # Llama 3.3 70B is the other way round: on demand in us-west-2, and no provisioned throughput.
    llama_33 = trained(west, "big-it0001", LLAMA_33, chats(ROUND_1))
    assert answer(west.runtime, west.deploy("big-eval", llama_33), "Is my data encrypted?") == ROUND_1[4][1]
    # A Nova model customized before 2025-07-16 cannot be deployed on demand.
    standin = standin_backend(DEFAULT_ACCOUNT_ID, REGION)
    standin.set_today(date(2025, 7, 15))
    old = east.fine_tune("support-it0001", ROUND_1)["outputModelArn"]
    standin.set_today(None)
    with pytest.raises(ClientError) as error:
        east.bedrock.create_custom_model_deployment(modelDeploymentName="old-eval", modelArn=old)
    assert refusal(error) == (
        "ValidationException",
        f"The model {old} was customized before 2025-07-16 and does not support on-demand deployment.",
    )
    new = east.fine_tune("support-it0002", ROUND_1)["outputModelArn"]
    serving = east.deploy("serving", new)
    with pytest.raises(ClientError) as error:  # nor can a deployment swap it in
        east.bedrock.update_custom_model_deployment(customModelDeploymentIdentifier=serving, modelArn=old)
    assert error_code(error) == "ValidationException"


def test_provisioned_throughput_only_for_models_and_regions_that_have_it(aws: None) -> None:
    east, west = Lineage(REGION), Lineage(WEST)
    llama_33 = trained(west, "big-it0001", LLAMA_33, chats(ROUND_1))
    lite = trained(east, "lite-it0001", TITAN_LITE, completions(ROUND_1))
    cases = [
        (west, llama_33, LLAMA_33, WEST, "no region"),
        (east, lite, TITAN_LITE, REGION, "no region"),
        (west, NOVA, NOVA, WEST, "us-east-1"),  # a foundation model's own throughput, in the wrong region
    ]
    for lineage, model, base, region, where in cases:
        with pytest.raises(ClientError) as error:
            lineage.bedrock.create_provisioned_model_throughput(
                provisionedModelName="eval", modelId=model, modelUnits=1
            )
        assert refusal(error) == (
            "ValidationException",
            f"Provisioned Throughput is not supported for {model} in {region}: it is for {base} in {where}.",
        )
    assert east.throughput(east.provision("nova", NOVA))["foundationModelArn"].endswith(NOVA)
