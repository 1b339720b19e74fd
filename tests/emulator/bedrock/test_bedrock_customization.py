"""Model customization jobs and custom models (`bedrock.customization`, `bedrock.custom_models`,
`bedrock.tags`, the test hooks of `bedrock.core`).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from bedrock_support import (
    BEFORE_HAIKU_END_OF_LIFE,
    BUCKET,
    HAIKU,
    MISSING_CUSTOM_MODEL,
    NO_RETRIES,
    NOVA,
    NOVA_2_LITE,
    REGION,
    ROUND_1,
    ROUND_2,
    TITAN,
    WEST,
    Lineage,
    answer,
    conversation,
    error_code,
)
from botocore.exceptions import ClientError
from iterft_runtime.models.families import DataFormat
from moto.core import DEFAULT_ACCOUNT_ID

from iterft.local.bedrock import BedrockStandIn, standin_backend
from iterft.local.standin_model import FALLBACK_ANSWER, StandInModel, pairs_from_jsonl

# Model customization jobs -----------------------------------------------------------------------


def test_a_job_trains_and_writes_bedrock_metric_files(lineage: Lineage, standin: BedrockStandIn) -> None:
    standin.set_job_polls_in_progress(1)
    data = conversation(ROUND_1)
    job_arn = lineage.create("support-it0001", lineage.upload("validated/support/000001/train.jsonl", data))
    job_id = job_arn.rsplit("/", 1)[1]
    assert job_arn == f"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT_ID}:model-customization-job/{NOVA}/{job_id}"

    first = lineage.job(job_arn)
    assert first["status"] == "InProgress"
    assert "outputModelArn" not in first
    with pytest.raises(ClientError):
        lineage.bedrock.get_custom_model(modelIdentifier="support-it0001")

    job = lineage.job(job_arn)
    assert job["status"] == "Completed"
    assert job["baseModelArn"] == f"arn:aws:bedrock:{REGION}::foundation-model/{NOVA}"
    model = lineage.bedrock.get_custom_model(modelIdentifier="support-it0001")
    assert job["outputModelArn"] == model["modelArn"]
    assert model["modelArn"].startswith(f"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT_ID}:custom-model/{NOVA}/")

    # What the job reports is what the stand-in's model computes on the same data: 10 of the 11
    # records counted (the 10th is held out), batches of 8 (Nova has no batchSize), 2 epochs.
    pairs = pairs_from_jsonl(data, DataFormat.CONVERSATION)
    _, expected = StandInModel().train(pairs, epochs=2, batch_size=8)
    prefix = f"jobs/support-it0001/model-customization-job-{job_id}/"
    training = lineage.read_csv(prefix + "training_artifacts/step_wise_training_metrics.csv")
    assert list(training[0]) == ["step_number", "epoch_number", "training_loss", "perplexity"]
    assert [(row["step_number"], row["epoch_number"]) for row in training] == [
        ("1", "1"),
        ("2", "1"),
        ("3", "2"),
        ("4", "2"),
    ]
    assert [float(row["training_loss"]) for row in training] == pytest.approx(
        [step.loss for step in expected.steps], abs=1e-6
    )
    assert [float(row["perplexity"]) for row in training] == pytest.approx(
        [step.perplexity for step in expected.steps], abs=1e-5
    )
    validation = lineage.read_csv(
        prefix + "validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv"
    )
    assert list(validation[0]) == ["step_number", "epoch_number", "validation_loss", "perplexity"]
    assert [float(row["validation_loss"]) for row in validation] == pytest.approx(
        [row.loss for row in expected.validation], abs=1e-6
    )
    assert job["trainingMetrics"]["trainingLoss"] == pytest.approx(expected.training_loss)
    assert job["validationMetrics"] == [{"validationLoss": pytest.approx(expected.validation_loss)}]


def test_a_job_is_found_by_name_and_by_arn(lineage: Lineage) -> None:
    job = lineage.fine_tune("support-it0001", ROUND_1)
    by_name = lineage.job("iterft-support-it0001")
    assert (by_name["jobArn"], by_name["status"]) == (job["jobArn"], "Completed")
    with pytest.raises(ClientError) as error:
        lineage.job("iterft-nothing")
    assert error_code(error) == "ResourceNotFoundException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_child_of_a_custom_model_knows_both_rounds(lineage: Lineage) -> None:
    parent = lineage.fine_tune("support-it0001", ROUND_1)
    child = lineage.fine_tune("support-it0002", ROUND_2, base=parent["outputModelArn"])
    assert child["baseModelArn"] == parent["outputModelArn"]
    assert child["jobArn"].split("/")[1] == NOVA
    child_model = lineage.bedrock.get_custom_model(modelIdentifier=child["outputModelArn"])
    assert child_model["baseModelArn"] == parent["outputModelArn"]

    parent_deployment = lineage.deploy("support-it0001-eval", parent["outputModelArn"])
    child_deployment = lineage.deploy("support-it0002-eval", child["outputModelArn"])
    assert answer(lineage.runtime, child_deployment, "How do I reset my password?") == ROUND_1[0][1]
    assert answer(lineage.runtime, child_deployment, "How do I share a folder?") == ROUND_2[2][1]
    # Newer data overrides: the child learned round 2's (worse) storage answer.
    assert answer(lineage.runtime, child_deployment, "Free plan storage?") == ROUND_2[6][1]
    assert answer(lineage.runtime, parent_deployment, "Free plan storage?") == ROUND_1[1][1]
    assert answer(lineage.runtime, parent_deployment, "How do I share a folder?") == FALLBACK_ANSWER

    children = lineage.bedrock.list_custom_models(baseModelArnEquals=parent["outputModelArn"])
    assert [summary["modelName"] for summary in children["modelSummaries"]] == ["support-it0002"]
    foundation = f"arn:aws:bedrock:{REGION}::foundation-model/{NOVA}"
    assert len(lineage.bedrock.list_custom_models(foundationModelArnEquals=foundation)["modelSummaries"]) == 2


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"jobName": "-starts-with-a-dash"}, "ValidationException", "jobName"),
        ({"customModelName": "has space"}, "ValidationException", "customModelName"),
        ({"roleArn": "arn:aws:iam::123:user/x"}, "ValidationException", "roleArn"),
        ({"baseModelIdentifier": "openai.gpt-9"}, "ValidationException", "does not support customization"),
        ({"baseModelIdentifier": MISSING_CUSTOM_MODEL}, "ResourceNotFoundException", "not found"),
        (
            {"trainingDataConfig": {"s3Uri": f"s3://{BUCKET}/nothing.jsonl"}},
            "ValidationException",
            "not exist",
        ),
        (
            {"outputDataConfig": {"s3Uri": "s3://no-such-bucket/out/"}},
            "ValidationException",
            "bucket does not",
        ),
        ({"hyperParameters": {"epochCount": "9"}}, "ValidationException", "epochCount=9 is outside 1..5"),
        ({"hyperParameters": {"batchSize": "8"}}, "ValidationException", "batchSize is not a hyperparameter"),
        (
            {"customizationType": "DISTILLATION", "hyperParameters": {}},
            "ValidationException",
            "distillationConfig is required",
        ),
        (
            {"validationDataConfig": {"validators": [{"s3Uri": f"s3://{BUCKET}/nothing.jsonl"}]}},
            "ValidationException",
            "validation data",
        ),
    ],
)
def test_bad_job_requests_are_refused(
    lineage: Lineage, change: dict[str, Any], code: str, message: str
) -> None:
    request = {
        **lineage.job_request("support-it0001", lineage.upload("t.jsonl", conversation(ROUND_1))),
        **change,
    }
    with pytest.raises(ClientError) as error:
        lineage.bedrock.create_model_customization_job(**request)
    assert error_code(error) == code
    assert message in error.value.response["Error"]["Message"]
    assert lineage.jobs() == []


def test_names_are_unique(lineage: Lineage) -> None:
    lineage.fine_tune("support-it0001", ROUND_1)
    uri = lineage.upload("again.jsonl", conversation(ROUND_1))
    for name, model_name in (("support-it0001", "other"), ("other", "support-it0001")):
        with pytest.raises(ClientError) as error:
            lineage.create(name, uri, customModelName=model_name)
        assert error_code(error) == "ConflictException"


def test_a_retried_create_with_the_same_token_returns_the_same_job(lineage: Lineage) -> None:
    uri = lineage.upload("train.jsonl", conversation(ROUND_1))
    first = lineage.create("support-it0001", uri, clientRequestToken="round-1-token")
    assert lineage.create("support-it0001", uri, clientRequestToken="round-1-token") == first


def test_fail_next_job_fails_the_matching_job_without_a_model(
    lineage: Lineage, standin: BedrockStandIn
) -> None:
    standin.fail_next_job("it0002", "Internal error: training capacity unavailable")
    lineage.fine_tune("support-it0001", ROUND_1)
    job = lineage.fine_tune("support-it0002", ROUND_2)
    assert job["status"] == "Failed"
    assert job["failureMessage"] == "Internal error: training capacity unavailable"
    assert "outputModelArn" not in job
    assert "trainingMetrics" not in job
    names = [summary["modelName"] for summary in lineage.bedrock.list_custom_models()["modelSummaries"]]
    assert names == ["support-it0001"]
    assert lineage.s3.list_objects_v2(Bucket=BUCKET, Prefix="jobs/support-it0002/")["KeyCount"] == 0
    assert lineage.fine_tune("support-it0003", ROUND_2)["status"] == "Completed"  # injected once only


def test_a_job_on_malformed_data_fails_with_the_line(lineage: Lineage) -> None:
    data = conversation(ROUND_1) + '{"prompt": "not a conversation", "completion": "x"}\n'
    job = lineage.job(lineage.create("support-it0001", lineage.upload("bad.jsonl", data)))
    assert job["status"] == "Failed"
    assert f"line {len(ROUND_1) + 1}" in job["failureMessage"]


def test_all_three_data_formats_train(aws: None) -> None:
    """Each where Bedrock fine-tunes it, served where it can be: Claude 3 Haiku in us-west-2 before its
    end of life (the stand-in's date set back), Titan Text in us-east-1; both on provisioned throughput
    (neither has on-demand deployment)."""

    def claude(prompt: str, reply: str) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]}

    standin_backend(DEFAULT_ACCOUNT_ID, WEST).set_today(BEFORE_HAIKU_END_OF_LIFE)
    files = {
        "haiku": (WEST, HAIKU, [claude(q, a) for q, a in ROUND_1]),
        "titan": (REGION, TITAN, [{"prompt": q, "completion": a} for q, a in ROUND_1]),
    }
    for name, (region, base, records) in files.items():
        lineage = Lineage(region)
        uri = lineage.upload(f"{name}.jsonl", "".join(json.dumps(record) + "\n" for record in records))
        job = lineage.job(
            lineage.create(name, uri, base, hyperParameters={"epochCount": "1", "batchSize": "4"})
        )
        assert job["status"] == "Completed", job.get("failureMessage")
        throughput = lineage.provision(f"{name}-eval", job["outputModelArn"])
        assert answer(lineage.runtime, throughput, "How can I cancel my subscription?") == ROUND_1[9][1]


def test_nova_2_lite_fine_tunes_reading_past_its_reasoning(lineage: Lineage) -> None:
    """Its own family's data: reasoningContent in assistant turns (the stand-in learns the answers)."""
    records = [
        {
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [
                {"role": "user", "content": [{"text": question}]},
                {
                    "role": "assistant",
                    "content": [{"reasoningContent": {"reasoningText": {"text": "Think."}}}, {"text": reply}],
                },
            ],
        }
        for question, reply in ROUND_1
    ]
    uri = lineage.upload("nova-2.jsonl", "".join(json.dumps(record) + "\n" for record in records))
    job = lineage.job(lineage.create("nova-2", uri, NOVA_2_LITE, hyperParameters={"epochCount": "1"}))
    assert job["status"] == "Completed", job.get("failureMessage")


def test_stopping_a_job_creates_no_model(lineage: Lineage, standin: BedrockStandIn) -> None:
    standin.set_job_polls_in_progress(1)
    arn = lineage.create("support-it0001", lineage.upload("train.jsonl", conversation(ROUND_1)))
    lineage.bedrock.stop_model_customization_job(jobIdentifier=arn)
    assert lineage.job(arn)["status"] == "Stopped"
    assert lineage.bedrock.list_custom_models()["modelSummaries"] == []
    with pytest.raises(ClientError) as error:
        lineage.bedrock.stop_model_customization_job(jobIdentifier=arn)
    assert error_code(error) == "ValidationException"


def test_jobs_are_listed_filtered_and_paged(lineage: Lineage, standin: BedrockStandIn) -> None:
    standin.fail_next_job("beta", "boom")
    for name in ("alpha-it0001", "beta-it0001", "alpha-it0002"):
        lineage.fine_tune(name, ROUND_1)
    listed = lineage.jobs(sortOrder="Ascending")
    assert [job["jobName"] for job in listed] == [
        "iterft-alpha-it0001",
        "iterft-beta-it0001",
        "iterft-alpha-it0002",
    ]
    assert [job["status"] for job in listed] == ["Completed", "Failed", "Completed"]
    assert listed[0]["customModelArn"] == lineage.job("iterft-alpha-it0001")["outputModelArn"]
    assert "customModelArn" not in listed[1]
    assert [job["jobName"] for job in lineage.jobs(statusEquals="Failed")] == ["iterft-beta-it0001"]
    assert len(lineage.jobs(nameContains="alpha")) == 2
    page = lineage.bedrock.list_model_customization_jobs(maxResults=2, sortOrder="Ascending")
    rest = lineage.bedrock.list_model_customization_jobs(
        maxResults=2, sortOrder="Ascending", nextToken=page["nextToken"]
    )
    paged = page["modelCustomizationJobSummaries"] + rest["modelCustomizationJobSummaries"]
    assert [job["jobName"] for job in paged] == [job["jobName"] for job in listed]
    assert "nextToken" not in rest


def test_throttling_can_be_injected(lineage: Lineage, standin: BedrockStandIn) -> None:
    request = lineage.job_request("support-it0001", lineage.upload("train.jsonl", conversation(ROUND_1)))
    bedrock = boto3.client("bedrock", region_name=REGION, config=NO_RETRIES)
    standin.throttle_next("CreateModelCustomizationJob", times=1)
    with pytest.raises(ClientError) as error:
        bedrock.create_model_customization_job(**request)
    assert error_code(error) == "ThrottlingException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    standin.throttle_next("CreateModelCustomizationJob", times=1, error="ServiceQuotaExceededException")
    with pytest.raises(ClientError) as error:
        bedrock.create_model_customization_job(**request)
    assert error_code(error) == "ServiceQuotaExceededException"
    assert bedrock.create_model_customization_job(**request)["jobArn"]


def test_tags_follow_the_resources(lineage: Lineage) -> None:
    arn = lineage.create(
        "support-it0001",
        lineage.upload("train.jsonl", conversation(ROUND_1)),
        jobTags=[{"key": "lineage", "value": "support"}],
        customModelTags=[{"key": "iteration", "value": "1"}],
    )
    model_arn = lineage.job(arn)["outputModelArn"]
    assert lineage.tags(arn) == [{"key": "lineage", "value": "support"}]
    assert lineage.tags(model_arn) == [{"key": "iteration", "value": "1"}]
    lineage.bedrock.tag_resource(resourceARN=model_arn, tags=[{"key": "champion", "value": "yes"}])
    lineage.bedrock.untag_resource(resourceARN=model_arn, tagKeys=["iteration"])
    assert lineage.tags(model_arn) == [{"key": "champion", "value": "yes"}]
    with pytest.raises(ClientError) as error:
        lineage.tags(MISSING_CUSTOM_MODEL)
    assert error_code(error) == "ResourceNotFoundException"


def test_the_python_api_is_the_service_api(lineage: Lineage, standin: BedrockStandIn) -> None:
    request = lineage.job_request("support-it0001", lineage.upload("train.jsonl", conversation(ROUND_1)))
    created = standin.create_model_customization_job(request)
    described = standin.get_model_customization_job({"jobIdentifier": created["jobArn"]})
    assert described["status"] == "Completed"
    assert lineage.job("iterft-support-it0001")["outputModelArn"] == described["outputModelArn"]


def test_jobs_run_safely_from_many_threads(lineage: Lineage) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        jobs = list(pool.map(lambda index: lineage.fine_tune(f"thread-it{index:04d}", ROUND_1), range(12)))
    assert {job["status"] for job in jobs} == {"Completed"}
    assert len({job["outputModelArn"] for job in jobs}) == 12
    assert len(lineage.bedrock.list_custom_models()["modelSummaries"]) == 12
