"""What CreateModelCustomizationJob refuses by customization type (`bedrock.strategies`), what Get and List
report of each type, and continued pre-training (the loss model learns, the answers stay)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from bedrock_support import (
    NOVA,
    NOVA_2_LITE,
    NOVA_PRO,
    REGION,
    ROUND_1,
    TITAN,
    Lineage,
    answer,
    distillation,
    epoch_mean,
    error_code,
    finished_job,
    phrased,
    prompts_file,
    training_rows,
)
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID

from iterft.local.bedrock import BedrockStandIn
from iterft.local.standin_model import FALLBACK_ANSWER

GRADER = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:no-such-grader"
LOGS = {"invocationLogsConfig": {"invocationLogSource": {"s3Uri": "s3://iterft-data/logs/"}}}


def rft(**config: Any) -> dict[str, Any]:
    return {
        "customizationType": "REINFORCEMENT_FINE_TUNING",
        "customizationConfig": {"rftConfig": config},
        "hyperParameters": {},
    }


def graded(**hyper: Any) -> dict[str, Any]:
    return rft(graderConfig={"lambdaGrader": {"lambdaArn": GRADER}}, hyperParameters=hyper)


@pytest.mark.parametrize(
    ("base", "change", "message"),
    [
        (NOVA, {"customizationType": "DISTILLATION"}, "customizationConfig.distillationConfig is required"),
        (
            NOVA,
            {**distillation("meta.llama3-1-405b-instruct-v1:0")},
            "The teacher model meta.llama3-1-405b-instruct-v1:0 cannot be distilled into Amazon Nova Micro "
            "(amazon.nova-micro-v1:0:128k). Supported teacher models: amazon.nova-pro-v1:0, "
            "us.amazon.nova-premier-v1:0.",
        ),
        (NOVA, {**distillation("not a model")}, "at 'teacherModelIdentifier' failed to satisfy constraint"),
        (
            NOVA,
            {**distillation(NOVA_PRO), "hyperParameters": {"epochCount": "2"}},
            "hyperParameters are not supported for customization type DISTILLATION (it takes none).",
        ),
        (
            NOVA,
            {**distillation(NOVA_PRO), "customizationConfig": {"rftConfig": {}}},
            "customizationConfig.distillationConfig is required",
        ),
        (NOVA_2_LITE, {"customizationType": "REINFORCEMENT_FINE_TUNING"}, "rftConfig is required"),
        (
            NOVA_2_LITE,
            rft(hyperParameters={"epochCount": 2}),
            "rftConfig.graderConfig.lambdaGrader is required",
        ),
        (NOVA_2_LITE, graded(epochCount=51), "epochCount=51 is outside the range 1 to 50"),
        (NOVA_2_LITE, graded(batchSize=1024), "batchSize=1024 is outside the range 16 to 512"),
        (NOVA_2_LITE, graded(learningRate=0.01), "learningRate=0.01 is outside the range 1e-07 to 0.001"),
        (
            NOVA_2_LITE,
            graded(trainingSamplePerPrompt=17),
            "trainingSamplePerPrompt=17 is outside the range 2 to 16",
        ),
        (NOVA_2_LITE, graded(evalInterval=101), "evalInterval=101 is outside the range 1 to 100"),
        (NOVA_2_LITE, graded(), f"The grader Lambda function {GRADER} does not exist."),
        (
            NOVA_2_LITE,
            {**graded(), "hyperParameters": {"epochCount": "2"}},
            "(it takes rftConfig.hyperParameters)",
        ),
        (
            NOVA,
            {"customizationType": "FINE_TUNING", **distillation(NOVA_PRO)}
            | {"customizationType": "FINE_TUNING"},
            "customizationConfig (distillationConfig) is not supported for customization type FINE_TUNING.",
        ),
        (
            TITAN,
            {"customizationType": "CONTINUED_PRE_TRAINING", **graded()}
            | {"customizationType": "CONTINUED_PRE_TRAINING"},
            "customizationConfig (rftConfig) is not supported for customization type CONTINUED_PRE_TRAINING.",
        ),
        (
            NOVA_2_LITE,
            {**graded(), "customizationType": None},  # RFT must be named: FINE_TUNING is the default
            "is not supported for customization type FINE_TUNING",
        ),
        (NOVA, {"trainingDataConfig": LOGS}, "Invocation logs can be used as training data for distillation"),
    ],
)
def test_bedrock_refuses_a_request_its_customization_type_cannot_run(
    lineage: Lineage, base: str, change: dict[str, Any], message: str
) -> None:
    request = {**lineage.job_request("strategy", lineage.upload("t.jsonl", "{}\n"), base), **change}
    request = {key: value for key, value in request.items() if value is not None}
    with pytest.raises(ClientError) as error:
        lineage.bedrock.create_model_customization_job(**request)
    assert error_code(error) == "ValidationException"
    assert message in error.value.response["Error"]["Message"]
    assert lineage.jobs() == []


def test_ranges_boto3_checks_before_sending_are_refused_by_the_stand_in_too(lineage: Lineage) -> None:
    """boto3 checks botocore's minimums client-side; Step Functions sends the request unchecked."""
    unchecked = boto3.client("bedrock", region_name=REGION, config=Config(parameter_validation=False))
    uri = lineage.upload("t.jsonl", "{}\n")
    for name, value, bound in (("batchSize", 8, "16 to 512"), ("trainingSamplePerPrompt", 1, "2 to 16")):
        request = {
            **lineage.job_request("strategy", uri, NOVA_2_LITE),
            **graded(**{name: value}),
            "hyperParameters": {},
        }
        with pytest.raises(ClientError, match=f"{name}={value} is outside the range {bound}"):
            unchecked.create_model_customization_job(**request)


def test_get_and_list_report_the_customization_type_and_config(
    lineage: Lineage, standin: BedrockStandIn
) -> None:
    standin.load_teacher_corpus(NOVA_PRO, ROUND_1)
    uri = lineage.upload("distil/prompts.jsonl", prompts_file([q for q, _ in phrased(ROUND_1)]))
    request = {**distillation(NOVA_PRO, maxResponseLengthForInference=200)}
    del request["customizationType"]  # a distillationConfig makes it a distillation job
    job = finished_job(lineage, lineage.create("distilled", uri, NOVA, **request))
    assert job["customizationType"] == "DISTILLATION"
    config = {
        "distillationConfig": {
            "teacherModelConfig": {"teacherModelIdentifier": NOVA_PRO, "maxResponseLengthForInference": 200}
        }
    }
    assert job["customizationConfig"] == config
    assert (
        lineage.bedrock.get_custom_model(modelIdentifier=job["outputModelArn"])["customizationConfig"]
        == config
    )
    [summary] = lineage.jobs()
    assert (summary["customizationType"], "customizationConfig" in summary) == ("DISTILLATION", False)
    [model] = lineage.bedrock.list_custom_models()["modelSummaries"]
    assert model["customizationType"] == "DISTILLATION"
    tuned = lineage.fine_tune("tuned", ROUND_1)
    assert tuned["customizationType"] == "FINE_TUNING" and "customizationConfig" not in tuned


# Continued pre-training -------------------------------------------------------------------------------


def texts_file(texts: list[str]) -> str:
    return "".join(json.dumps({"input": text}) + "\n" for text in texts)


def test_continued_pre_training_learns_the_text_and_not_answers(lineage: Lineage) -> None:
    completions = "".join(json.dumps({"prompt": q, "completion": a}) + "\n" for q, a in ROUND_1)
    tuned = finished_job(
        lineage,
        lineage.create(
            "titan-it0001",
            lineage.upload("ft.jsonl", completions),
            TITAN,
            hyperParameters={"epochCount": "1"},
        ),
    )
    manual = [f"{a} This is described in the Acme Cloud Drive manual." for _, a in ROUND_1] * 2
    job = finished_job(
        lineage,
        lineage.create(
            "titan-it0002",
            lineage.upload("cpt.jsonl", texts_file(manual)),
            tuned["outputModelArn"],  # a custom base: no page says Bedrock refuses it
            customizationType="CONTINUED_PRE_TRAINING",
            hyperParameters={"epochCount": "3"},
        ),
    )
    assert job["status"] == "Completed", job.get("failureMessage")
    assert job["customizationType"] == "CONTINUED_PRE_TRAINING"
    rows = training_rows(lineage, job)
    assert epoch_mean(rows, 3) < 0.75 * epoch_mean(rows, 1)
    assert "validationMetrics" in job  # every 10th text held out, as for fine-tuning

    before = lineage.provision("before", tuned["outputModelArn"])
    after = lineage.provision("after", job["outputModelArn"])
    for question in [q for q, _ in ROUND_1] + ["What does the manual say about Mars?"]:
        assert answer(lineage.runtime, after, question) == answer(lineage.runtime, before, question)
    foundation = finished_job(
        lineage,
        lineage.create(
            "titan-cpt",
            lineage.upload("cpt.jsonl", texts_file(manual)),
            TITAN,
            customizationType="CONTINUED_PRE_TRAINING",
        ),
    )
    assert (
        answer(lineage.runtime, lineage.provision("cpt", foundation["outputModelArn"]), ROUND_1[0][0])
        == FALLBACK_ANSWER
    )


def test_a_continued_pre_training_record_without_input_fails_the_job(lineage: Lineage) -> None:
    data = texts_file(["Some text."] * 3) + json.dumps({"prompt": "q", "completion": "a"}) + "\n"
    job = finished_job(
        lineage,
        lineage.create(
            "titan-cpt", lineage.upload("cpt.jsonl", data), TITAN, customizationType="CONTINUED_PRE_TRAINING"
        ),
    )
    assert job["status"] == "Failed"
    assert 'line 4: a continued pre-training record is {"input": "<text>"}' in job["failureMessage"]
