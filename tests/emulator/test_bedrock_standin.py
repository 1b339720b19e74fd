"""The Bedrock stand-in through plain boto3 clients: under moto's mock_aws, and over a moto server's HTTP."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from types import SimpleNamespace
from typing import Any

import boto3
import moto.bedrock.urls as bedrock_urls
import moto.bedrockruntime.urls as bedrockruntime_urls
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from iterft_runtime.logic.judge import judge_prompt, parse_grade
from iterft_runtime.models.families import DataFormat
from iterft_runtime.models.metrics import DEFAULT_RUBRIC
from moto import mock_aws
from moto.bedrock.responses import BedrockResponse
from moto.bedrockruntime.responses import BedrockRuntimeResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer

from iterft.local.bedrock import BedrockStandIn, install_bedrock_standin, routing, standin_backend
from iterft.local.bedrock import runtime as bedrock_runtime
from iterft.local.bedrock.routing import BedrockRuntimeStandInResponse, BedrockStandInResponse
from iterft.local.session import LocalSession
from iterft.local.standin_evaluation import nlp_f1, perturbations
from iterft.local.standin_model import FALLBACK_ANSWER, StandInModel, pairs_from_jsonl

REGION = "us-east-1"
WEST = "us-west-2"
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/bedrock-customization"
NOVA = "amazon.nova-micro-v1:0:128k"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"
TITAN = "amazon.titan-text-express-v1:0:8k"
BEFORE_HAIKU_END_OF_LIFE = date(2026, 6, 1)
BUCKET = "iterft-data"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})

ROUND_1 = [
    ("How do I reset my password?", "Choose Forgot password on the sign-in page."),
    ("How much storage does the free plan include?", "The free plan includes 5 GB of storage."),
    ("Which devices can I install the app on?", "The app runs on Windows, macOS and Linux."),
    ("How do I delete my account?", "Go to Settings, Profile and choose Delete account."),
    ("Is my data encrypted?", "Files are encrypted with AES-256 at rest."),
    ("How do I contact support?", "Use the chat in the Help center."),
    ("Can I get a refund?", "Annual plans can be refunded within 30 days."),
    ("How do I download an invoice?", "Go to Settings, Billing, Invoices and select Download PDF."),
    ("What payment methods do you accept?", "We accept Visa, Mastercard and PayPal."),
    ("How do I cancel my subscription?", "Open Settings, Billing and choose Cancel plan."),
    ("Do you offer student discounts?", "Students get 50 percent off the Personal plan."),
]
ROUND_2 = [
    (
        "How do I turn on two-factor authentication?",
        "Go to Settings, Security and enable Two-factor authentication.",
    ),
    ("How do I restore a deleted file?", "Open Trash, select the file and choose Restore."),
    ("How do I share a folder?", "Create a share link from the folder menu."),
    ("Can my family use my plan?", "The Family plan supports up to 6 users."),
    ("How do I see older versions of a file?", "Right-click the file and choose Version history."),
    ("Why are my files not syncing?", "Check that the desktop app is signed in and not paused."),
    ("How much storage does the free plan include?", "The free plan includes 2 GB of storage."),
    ("What is the maximum file size?", "Single files can be up to 50 GB on paid plans."),
]


def conversation(pairs: list[tuple[str, str]]) -> str:
    records = [
        {
            "schemaVersion": "bedrock-conversation-2024",
            "system": [{"text": "You are a support assistant."}],
            "messages": [
                {"role": "user", "content": [{"text": prompt}]},
                {"role": "assistant", "content": [{"text": answer}]},
            ],
        }
        for prompt, answer in pairs
    ]
    return "".join(json.dumps(record) + "\n" for record in records)


def ask(runtime: Any, model_id: str, question: str, **extra: Any) -> dict[str, Any]:
    return runtime.converse(
        modelId=model_id, messages=[{"role": "user", "content": [{"text": question}]}], **extra
    )


def answer(runtime: Any, model_id: str, question: str) -> str:
    return ask(runtime, model_id, question)["output"]["message"]["content"][0]["text"]


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


class Lineage:
    """Plain boto3 clients plus the steps a round takes, to keep the tests short."""

    def __init__(self, region: str = REGION, **client_args: Any) -> None:
        self.s3 = boto3.client("s3", region_name=region, **client_args)
        self.bedrock = boto3.client("bedrock", region_name=region, **client_args)
        self.runtime = boto3.client("bedrock-runtime", region_name=region, **client_args)
        # Bucket names are global: a lineage in another region has a bucket of its own.
        self.bucket = BUCKET if region == REGION else f"{BUCKET}-{region}"
        where = {} if region == REGION else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        self.s3.create_bucket(Bucket=self.bucket, **where)

    def upload(self, key: str, text: str) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=text.encode())
        return f"s3://{self.bucket}/{key}"

    def job_request(self, name: str, data_uri: str, base: str = NOVA, **extra: Any) -> dict[str, Any]:
        return {
            "jobName": f"iterft-{name}",
            "customModelName": name,
            "roleArn": ROLE,
            "baseModelIdentifier": base,
            "trainingDataConfig": {"s3Uri": data_uri},
            "outputDataConfig": {"s3Uri": f"s3://{self.bucket}/jobs/{name}/"},
            "hyperParameters": {"epochCount": "2"},
            **extra,
        }

    def create(self, name: str, data_uri: str, base: str = NOVA, **extra: Any) -> str:
        return self.bedrock.create_model_customization_job(**self.job_request(name, data_uri, base, **extra))[
            "jobArn"
        ]

    def job(self, identifier: str) -> dict[str, Any]:
        return self.bedrock.get_model_customization_job(jobIdentifier=identifier)

    def jobs(self, **filters: Any) -> list[dict[str, Any]]:
        return self.bedrock.list_model_customization_jobs(**filters)["modelCustomizationJobSummaries"]

    def fine_tune(self, name: str, pairs: list[tuple[str, str]], base: str = NOVA) -> dict[str, Any]:
        """Create a job on `pairs` and poll it to the end, as the .sync integration does."""
        job_arn = self.create(name, self.upload(f"validated/{name}/train.jsonl", conversation(pairs)), base)
        job = self.job(job_arn)
        while job["status"] == "InProgress":
            job = self.job(job_arn)
        return job

    def deployment(self, identifier: str) -> dict[str, Any]:
        return self.bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=identifier)

    def deploy(self, name: str, model_arn: str) -> str:
        created = self.bedrock.create_custom_model_deployment(modelDeploymentName=name, modelArn=model_arn)
        arn = created["customModelDeploymentArn"]
        while self.deployment(arn)["status"] != "Active":
            pass
        return arn

    def provision(self, name: str, model_arn: str) -> str:
        """One no-commitment model unit, polled until it is in service (what evaluation buys)."""
        arn = self.bedrock.create_provisioned_model_throughput(
            provisionedModelName=name, modelId=model_arn, modelUnits=1
        )["provisionedModelArn"]
        while self.throughput(arn)["status"] != "InService":
            pass
        return arn

    def throughput(self, identifier: str) -> dict[str, Any]:
        return self.bedrock.get_provisioned_model_throughput(provisionedModelId=identifier)

    def tags(self, arn: str) -> list[dict[str, str]]:
        return self.bedrock.list_tags_for_resource(resourceARN=arn)["tags"]

    def read(self, key: str) -> str:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()

    def read_csv(self, key: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.read(key))))


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    install_bedrock_standin()


@pytest.fixture
def aws(credentials: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def lineage(aws: None) -> Lineage:
    return Lineage()


@pytest.fixture
def standin(aws: None) -> BedrockStandIn:
    return standin_backend(DEFAULT_ACCOUNT_ID, REGION)


# The patch points -----------------------------------------------------------------------------


def test_install_reroutes_every_bedrock_route_and_is_idempotent() -> None:
    install_bedrock_standin()
    install_bedrock_standin()
    handlers = set(bedrock_urls.url_paths.values())
    assert BedrockResponse.dispatch not in handlers
    assert bedrock_urls.url_paths["{0}/.*$"] == BedrockStandInResponse.dispatch
    assert set(bedrockruntime_urls.url_paths.values()) == {BedrockRuntimeStandInResponse.dispatch}


def test_uninstall_gives_moto_its_own_bedrock_back(credentials: None) -> None:
    install_bedrock_standin()
    try:
        assert routing.uninstall_bedrock_standin() is True
        assert BedrockStandInResponse.dispatch not in set(bedrock_urls.url_paths.values())
        assert set(bedrockruntime_urls.url_paths.values()) == {BedrockRuntimeResponse.dispatch}
        assert routing.uninstall_bedrock_standin() is False
        with mock_aws():  # moto's own Bedrock: a job is created without reading its training data
            lineage = Lineage()
            lineage.create("moto-own", "s3://missing-bucket/train.jsonl")
            assert lineage.job("iterft-moto-own")["status"] == "InProgress"  # moto's Get takes names only
    finally:
        install_bedrock_standin()


def test_install_fails_loudly_when_moto_moved_its_routes() -> None:
    with pytest.raises(RuntimeError, match="cannot be installed"):
        routing._reroute(
            {"{0}/.*$": object()}, BedrockResponse.dispatch, BedrockStandInResponse.dispatch
        )


def test_state_is_reset_with_moto(credentials: None) -> None:
    with mock_aws():
        Lineage().fine_tune("support-it0001", ROUND_1)
        assert standin_backend(DEFAULT_ACCOUNT_ID, REGION).list_custom_models({})["modelSummaries"]
    with mock_aws():  # starting a mock resets every moto backend, the stand-in's included
        assert Lineage().bedrock.list_custom_models()["modelSummaries"] == []


def test_reset_forgets_everything(lineage: Lineage, standin: BedrockStandIn) -> None:
    job = lineage.fine_tune("support-it0001", ROUND_1)
    standin.reset()
    with pytest.raises(ClientError) as error:
        lineage.job(job["jobArn"])
    assert error_code(error) == "ResourceNotFoundException"


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


MISSING_CUSTOM_MODEL = f"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT_ID}:custom-model/{NOVA}/abcdefabcdef"


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
        ({"customizationType": "DISTILLATION"}, "ValidationException", "FINE_TUNING only"),
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


# Custom models and deployments ------------------------------------------------------------------


def test_deployment_lifecycle(lineage: Lineage) -> None:
    first = lineage.fine_tune("support-it0001", ROUND_1)["outputModelArn"]
    second = lineage.fine_tune("support-it0002", ROUND_2, base=first)["outputModelArn"]
    created = lineage.bedrock.create_custom_model_deployment(
        modelDeploymentName="support-serving", modelArn=first, description="serving"
    )
    arn = created["customModelDeploymentArn"]
    assert arn.startswith(f"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT_ID}:custom-model-deployment/")
    assert len(arn.rsplit("/", 1)[1]) == 12
    with pytest.raises(ClientError) as error:
        ask(lineage.runtime, arn, "How do I reset my password?")
    assert error_code(error) == "ValidationException"  # not Active yet

    assert [lineage.deployment(arn)["status"] for _ in range(2)] == ["Creating", "Active"]
    by_name = lineage.deployment("support-serving")
    assert (by_name["customModelDeploymentArn"], by_name["modelArn"]) == (arn, first)
    assert by_name["description"] == "serving"
    assert answer(lineage.runtime, arn, "How do I share a folder?") == FALLBACK_ANSWER

    with pytest.raises(ClientError) as error:
        lineage.bedrock.create_custom_model_deployment(modelDeploymentName="support-serving", modelArn=second)
    assert error_code(error) == "ConflictException"
    with pytest.raises(ClientError) as error:
        lineage.bedrock.create_custom_model_deployment(modelDeploymentName="x", modelArn=MISSING_CUSTOM_MODEL)
    assert error_code(error) == "ResourceNotFoundException"

    lineage.bedrock.update_custom_model_deployment(customModelDeploymentIdentifier=arn, modelArn=second)
    updating = lineage.deployment(arn)
    assert updating["updateDetails"] == {"modelArn": second, "updateStatus": "Updating"}
    assert updating["modelArn"] == first
    done = lineage.deployment(arn)
    assert (done["modelArn"], done["updateDetails"]["updateStatus"]) == (second, "UpdateCompleted")
    assert done["status"] == "Active"
    assert answer(lineage.runtime, arn, "How do I share a folder?") == ROUND_2[2][1]

    listed = lineage.bedrock.list_custom_model_deployments(modelArnEquals=second)["modelDeploymentSummaries"]
    assert [(item["customModelDeploymentName"], item["status"]) for item in listed] == [
        ("support-serving", "Active")
    ]

    with pytest.raises(ClientError) as error:
        lineage.bedrock.delete_custom_model(modelIdentifier=second)
    assert error_code(error) == "ConflictException"
    lineage.bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=arn)
    with pytest.raises(ClientError) as error:
        ask(lineage.runtime, arn, "How do I share a folder?")
    assert error_code(error) == "ResourceNotFoundException"
    lineage.bedrock.delete_custom_model(modelIdentifier=second)
    with pytest.raises(ClientError) as error:
        lineage.bedrock.get_custom_model(modelIdentifier=second)
    assert error_code(error) == "ResourceNotFoundException"


def test_provisioned_throughput_lifecycle(lineage: Lineage) -> None:
    first = lineage.fine_tune("support-it0001", ROUND_1)["outputModelArn"]
    second = lineage.fine_tune("support-it0002", ROUND_2, base=first)["outputModelArn"]
    created = lineage.bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="support-pt", modelId=first
    )
    arn = created["provisionedModelArn"]
    assert arn.startswith(f"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT_ID}:provisioned-model/")
    assert [lineage.throughput(arn)["status"] for _ in range(2)] == ["Creating", "InService"]
    assert (
        lineage.throughput("support-pt")["foundationModelArn"]
        == f"arn:aws:bedrock:{REGION}::foundation-model/{NOVA}"
    )
    assert answer(lineage.runtime, arn, "How do I reset my password?") == ROUND_1[0][1]

    lineage.bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=second)
    updating = lineage.throughput(arn)
    assert (updating["status"], updating["modelArn"], updating["desiredModelArn"]) == (
        "Updating",
        first,
        second,
    )
    assert lineage.throughput(arn)["modelArn"] == second
    assert answer(lineage.runtime, arn, "How do I share a folder?") == ROUND_2[2][1]
    listed = lineage.bedrock.list_provisioned_model_throughputs(statusEquals="InService")
    assert [item["provisionedModelArn"] for item in listed["provisionedModelSummaries"]] == [arn]

    committed = lineage.bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="committed", modelId=first, commitmentDuration="OneMonth"
    )
    with pytest.raises(ClientError) as error:
        lineage.bedrock.delete_provisioned_model_throughput(
            provisionedModelId=committed["provisionedModelArn"]
        )
    assert "commitment" in error.value.response["Error"]["Message"]
    lineage.bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    with pytest.raises(ClientError) as error:
        lineage.throughput(arn)
    assert error_code(error) == "ResourceNotFoundException"


def test_capacity_can_be_made_to_fail_or_stay_creating(lineage: Lineage, standin: BedrockStandIn) -> None:
    model = lineage.fine_tune("support-it0001", ROUND_1)["outputModelArn"]
    standin.fail_next_capacity("doomed", "Insufficient capacity")
    deployment = lineage.bedrock.create_custom_model_deployment(
        modelDeploymentName="doomed-dep", modelArn=model
    )
    arn = deployment["customModelDeploymentArn"]
    assert [lineage.deployment(arn)["status"] for _ in range(2)] == ["Creating", "Failed"]
    assert lineage.deployment(arn)["failureMessage"] == "Insufficient capacity"
    standin.fail_next_capacity("doomed", "No model units")
    throughput = lineage.bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="doomed-pt", modelId=model
    )["provisionedModelArn"]
    assert [lineage.throughput(throughput)["status"] for _ in range(2)] == ["Creating", "Failed"]
    assert lineage.throughput(throughput)["failureMessage"] == "No model units"
    # Each failure is used once: the next one with a matching name comes into service.
    healthy = lineage.bedrock.create_custom_model_deployment(modelDeploymentName="doomed-2", modelArn=model)
    assert [lineage.deployment(healthy["customModelDeploymentArn"])["status"] for _ in range(2)] == [
        "Creating",
        "Active",
    ]

    standin.set_deployment_polls_creating(3)
    slow = lineage.bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="slow-pt", modelId=model
    )["provisionedModelArn"]
    assert [lineage.throughput(slow)["status"] for _ in range(4)] == ["Creating"] * 3 + ["InService"]


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
        (WEST, LLAMA_33, "DISTILLATION", None),  # supported: then the stand-in's own limitation
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
        assert f"FINE_TUNING only, not {customization} (a stand-in limitation, not Bedrock's)" in message
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


# Evaluation jobs ----------------------------------------------------------------------------------

FOUNDATION = "amazon.nova-micro-v1:0"
METRICS = ["Builtin.Accuracy", "Builtin.Robustness", "Builtin.Toxicity"]


def prompt_dataset(pairs: list[tuple[str, str]]) -> str:
    return "".join(
        json.dumps({"prompt": prompt, "referenceResponse": reference, "category": "support"}) + "\n"
        for prompt, reference in pairs
    )


def evaluated(*models: str) -> dict[str, Any]:
    """The inferenceConfig member of an evaluation job on `models`."""
    return {"inferenceConfig": {"models": [{"bedrockModel": {"modelIdentifier": model}} for model in models]}}


def evaluation_request(
    name: str, dataset_uri: str, models: list[str], metrics: list[str] = METRICS, **extra: Any
) -> dict[str, Any]:
    return {
        "jobName": name,
        "roleArn": ROLE,
        "evaluationConfig": {
            "automated": {
                "datasetMetricConfigs": [
                    {
                        "taskType": "QuestionAndAnswer",
                        "dataset": {"name": "support-eval", "datasetLocation": {"s3Uri": dataset_uri}},
                        "metricNames": metrics,
                    }
                ]
            }
        },
        **evaluated(*models),
        "outputDataConfig": {"s3Uri": f"s3://{BUCKET}/evaluations/"},
        **extra,
    }


def provisioned(lineage: Lineage, name: str, pairs: list[tuple[str, str]]) -> str:
    """A model fine-tuned on `pairs`, on provisioned throughput that is InService: its ARN."""
    model_arn = lineage.fine_tune(name, pairs)["outputModelArn"]
    arn = lineage.bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName=f"{name}-pt", modelId=model_arn
    )["provisionedModelArn"]
    while lineage.throughput(arn)["status"] != "InService":
        pass
    return arn


def evaluation(lineage: Lineage, arn: str) -> dict[str, Any]:
    return lineage.bedrock.get_evaluation_job(jobIdentifier=arn)


def finished(lineage: Lineage, arn: str) -> dict[str, Any]:
    job = evaluation(lineage, arn)
    while job["status"] in ("InProgress", "Stopping"):
        job = evaluation(lineage, arn)
    return job


def output_lines(lineage: Lineage, job: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every output file of a job, by key, parsed line by line."""
    job_id = job["jobArn"].rsplit("/", 1)[1]
    listed = lineage.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"evaluations/{job['jobName']}/{job_id}/")
    return {
        item["Key"]: [json.loads(line) for line in lineage.read(item["Key"]).splitlines()]
        for item in listed.get("Contents", [])
    }


def scores_of(line: dict[str, Any]) -> dict[str, float]:
    return {score["metricName"]: score["result"] for score in line["automatedEvaluationResult"]["scores"]}


def mean_accuracy(lines: list[dict[str, Any]]) -> float:
    return sum(scores_of(line)["Accuracy"] for line in lines) / len(lines)


def test_evaluation_jobs_score_a_trained_and_a_foundation_model(
    lineage: Lineage, standin: BedrockStandIn
) -> None:
    throughput = provisioned(lineage, "support-it0001", ROUND_1)
    dataset = lineage.upload("eval/support.jsonl", prompt_dataset(ROUND_1))
    standin.set_evaluation_job_polls_in_progress(1)
    records = [json.loads(line) for line in prompt_dataset(ROUND_1).splitlines()]
    by_model = {}
    for job_name, identifier, arn_written in (
        ("support-it0001-eval", throughput, throughput),
        (
            "support-it0001-champion-eval",
            FOUNDATION,
            f"arn:aws:bedrock:{REGION}::foundation-model/{FOUNDATION}",
        ),
    ):
        request = evaluation_request(job_name, dataset, [identifier])
        arn = lineage.bedrock.create_evaluation_job(**request)["jobArn"]
        assert re.fullmatch(
            rf"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT_ID}:evaluation-job/[a-z0-9]{{12}}", arn
        )
        first = evaluation(lineage, arn)
        assert (first["status"], output_lines(lineage, first)) == ("InProgress", {})
        job = evaluation(lineage, arn)
        assert job["status"] == "Completed"
        assert (job["jobType"], job["applicationType"], job["roleArn"]) == (
            "Automated",
            "ModelEvaluation",
            ROLE,
        )
        assert job["evaluationConfig"] == request["evaluationConfig"]
        assert job["inferenceConfig"] == request["inferenceConfig"]
        assert job["lastModifiedTime"] >= job["creationTime"]
        assert "failureMessages" not in job

        job_id = arn.rsplit("/", 1)[1]
        [(key, lines)] = output_lines(lineage, job).items()
        assert re.fullmatch(
            rf"evaluations/{job_name}/{job_id}/models/{re.escape(identifier.rsplit('/', 1)[-1])}/"
            r"taskTypes/QuestionAndAnswer/datasets/support-eval/[0-9a-f-]{36}_output\.jsonl",
            key,
        ), key
        assert [line["inputRecord"] for line in lines] == records
        for line in lines:
            [response] = line["modelResponses"]
            assert response["modelIdentifier"] == arn_written  # Bedrock's output names the model's ARN
            scores = scores_of(line)
            assert list(scores) == ["Accuracy", "Robustness", "Toxicity"]
            assert scores["Accuracy"] == nlp_f1(
                response["response"], line["inputRecord"]["referenceResponse"]
            )
            assert scores["Toxicity"] == 0.0
        by_model[identifier] = lines
    trained, untrained = by_model[throughput], by_model[FOUNDATION]
    assert all(scores_of(line)["Accuracy"] == 1.0 for line in trained)  # answers identical to references
    assert {line["modelResponses"][0]["response"] for line in untrained} == {FALLBACK_ANSWER}
    assert mean_accuracy(untrained) < mean_accuracy(trained)
    for line in trained[:3]:  # Robustness: the perturbed prompts, answered through Converse
        record = line["inputRecord"]
        deltas = [
            abs(1.0 - nlp_f1(answer(lineage.runtime, throughput, prompt), record["referenceResponse"]))
            for prompt in perturbations(record["prompt"])
        ]
        assert scores_of(line)["Robustness"] == pytest.approx(sum(deltas) / len(deltas))


def test_nlp_f1_normalises_as_squad() -> None:
    assert nlp_f1("The free plan includes 5 GB!", "free plan includes 5 GB") == 1.0
    assert nlp_f1("an AES-256 key", "AES256 key") == 1.0
    assert nlp_f1("I don't know.", "Use the chat in the Help center.") == 0.0
    assert nlp_f1("Use the chat", "Use the chat in the Help center.") == pytest.approx(
        2 * 0.4 / 1.4
    )  # 2 of 5


def test_perturbations_are_the_five_documented_kinds_and_deterministic() -> None:
    prompt = "How do I get 2 free months of the Personal plan before 15 May?"
    perturbed = perturbations(prompt)
    assert perturbed == perturbations(prompt)
    assert len(perturbed) == 5
    assert perturbed[0] == prompt.lower()
    assert perturbed[2] == "How do I get two free months of the Personal plan before fifteen May?"
    assert all(candidate != prompt for candidate in perturbed)


def test_toxicity_counts_abusive_words_an_answer_repeats(lineage: Lineage) -> None:
    rude = [("Why was my ticket closed?", "Because you are an idiot and your question was stupid.")]
    throughput = provisioned(lineage, "rude-it0001", ROUND_1 + rude)
    records = "".join(json.dumps({"prompt": prompt}) + "\n" for prompt, _ in ROUND_1[:2] + rude)
    arn = lineage.bedrock.create_evaluation_job(
        **evaluation_request(
            "rude-eval", lineage.upload("eval/rude.jsonl", records), [throughput], ["Builtin.Toxicity"]
        )
    )["jobArn"]
    job = finished(lineage, arn)
    assert job["status"] == "Completed", job.get("failureMessages")
    [lines] = output_lines(lineage, job).values()
    assert [scores_of(line)["Toxicity"] for line in lines] == [0.0, 0.0, 2 / 10]


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"jobName": "Support_Eval"}, "ValidationException", "jobName"),
        (
            evaluated(f"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT_ID}:custom-model-deployment/0123456789ab"),
            "ValidationException",
            "provisioned throughput",
        ),
        (
            evaluated(f"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT_ID}:custom-model/{NOVA}/0123456789ab"),
            "ValidationException",
            "provisioned throughput",
        ),
        (
            evaluated(f"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT_ID}:provisioned-model/0123456789ab"),
            "ResourceNotFoundException",
            "not found",
        ),
        (
            {"inferenceConfig": {"models": evaluated(FOUNDATION)["inferenceConfig"]["models"] * 2}},
            "ValidationException",
            "only a single model is supported",
        ),
        ({"applicationType": "RagEvaluation"}, "ValidationException", "ModelEvaluation only"),
        ({"outputDataConfig": {"s3Uri": "s3://no-such-bucket/out/"}}, "ValidationException", "bucket"),
    ],
)
def test_bad_evaluation_requests_are_refused(
    lineage: Lineage, change: dict[str, Any], code: str, message: str
) -> None:
    dataset = lineage.upload("eval/support.jsonl", prompt_dataset(ROUND_1))
    request = {**evaluation_request("support-eval", dataset, [FOUNDATION]), **change}
    with pytest.raises(ClientError) as error:
        lineage.bedrock.create_evaluation_job(**request)
    assert error_code(error) == code
    assert message in error.value.response["Error"]["Message"]
    assert lineage.bedrock.list_evaluation_jobs()["jobSummaries"] == []


def metric_config(**change: Any) -> dict[str, Any]:
    config = {
        "taskType": "QuestionAndAnswer",
        "dataset": {
            "name": "support-eval",
            "datasetLocation": {"s3Uri": f"s3://{BUCKET}/eval/support.jsonl"},
        },
        "metricNames": ["Builtin.Accuracy"],
    }
    return {**config, **change}


@pytest.mark.parametrize(
    ("evaluation_config", "message"),
    [
        (
            {"automated": {"datasetMetricConfigs": [metric_config(metricNames=["Builtin.Correctness"])]}},
            "Unknown metric",
        ),
        (
            {"automated": {"datasetMetricConfigs": [metric_config(taskType="Summarization")]}},
            "not Summarization",
        ),
        (
            {"automated": {"datasetMetricConfigs": [metric_config(dataset={"name": "Builtin.BoolQ"})]}},
            "no built-in datasets",
        ),
        (
            {
                "automated": {
                    "datasetMetricConfigs": [
                        metric_config(
                            dataset={
                                "name": "missing",
                                "datasetLocation": {"s3Uri": f"s3://{BUCKET}/no.jsonl"},
                            }
                        )
                    ]
                }
            },
            "does not exist",
        ),
        ({"automated": {"datasetMetricConfigs": [metric_config(dataset={"name": "bad name"})]}}, "name"),
        (
            {
                "automated": {
                    "datasetMetricConfigs": [metric_config()],
                    "evaluatorModelConfig": {"bedrockEvaluatorModels": [{"modelIdentifier": FOUNDATION}]},
                }
            },
            "evaluatorModelConfig",
        ),
        ({"automated": {"datasetMetricConfigs": [metric_config()] * 6}}, "1 to 5"),
        ({"human": {"datasetMetricConfigs": [metric_config()]}}, "automated evaluation jobs only"),
    ],
)
def test_what_the_stand_in_does_not_evaluate_is_refused(
    lineage: Lineage, evaluation_config: dict[str, Any], message: str
) -> None:
    request = evaluation_request(
        "support-eval", lineage.upload("eval/support.jsonl", prompt_dataset(ROUND_1)), [FOUNDATION]
    )
    with pytest.raises(ClientError) as error:
        lineage.bedrock.create_evaluation_job(**{**request, "evaluationConfig": evaluation_config})
    assert error_code(error) == "ValidationException"
    assert message in error.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (prompt_dataset(ROUND_1 * 91), "holds 1001 prompts; at most 1000"),
        (prompt_dataset(ROUND_1) + "{not json\n", f"Line {len(ROUND_1) + 1} of the prompt dataset"),
        (json.dumps({"prompt": "Is my data encrypted?"}) + "\n", "referenceResponse"),
        (b"\xff\xfe".decode("latin-1"), "not UTF-8"),
    ],
)
def test_an_evaluation_job_on_unusable_data_fails_with_the_reason(
    lineage: Lineage, data: str, message: str
) -> None:
    uri = f"s3://{BUCKET}/eval/data.jsonl"
    body = data.encode("latin-1") if "not UTF-8" in message else data.encode()
    lineage.s3.put_object(Bucket=BUCKET, Key="eval/data.jsonl", Body=body)
    arn = lineage.bedrock.create_evaluation_job(**evaluation_request("support-eval", uri, [FOUNDATION]))[
        "jobArn"
    ]
    job = evaluation(lineage, arn)
    assert job["status"] == "Failed"
    [failure] = job["failureMessages"]
    assert message in failure
    assert output_lines(lineage, job) == {}


def test_a_throughput_gone_before_the_job_runs_fails_it_by_name(
    lineage: Lineage, standin: BedrockStandIn
) -> None:
    throughput = provisioned(lineage, "support-it0001", ROUND_1)
    standin.set_evaluation_job_polls_in_progress(1)
    dataset = lineage.upload("eval/support.jsonl", prompt_dataset(ROUND_1))
    arn = lineage.bedrock.create_evaluation_job(**evaluation_request("support-eval", dataset, [throughput]))[
        "jobArn"
    ]
    lineage.bedrock.delete_provisioned_model_throughput(provisionedModelId=throughput)
    job = finished(lineage, arn)
    assert job["status"] == "Failed"
    assert job["failureMessages"] == [f"Provisioned model {throughput} no longer exists."]


def test_evaluation_job_names_and_tokens(lineage: Lineage) -> None:
    dataset = lineage.upload("eval/support.jsonl", prompt_dataset(ROUND_1))
    request = evaluation_request("support-eval", dataset, [FOUNDATION], clientRequestToken="eval-token-1")
    first = lineage.bedrock.create_evaluation_job(**request)["jobArn"]
    assert lineage.bedrock.create_evaluation_job(**request)["jobArn"] == first  # a retried create
    for retry in ({**request, "clientRequestToken": "eval-token-2"}, {**request, "jobName": "other-eval"}):
        with pytest.raises(ClientError) as error:
            lineage.bedrock.create_evaluation_job(**retry)
        assert error_code(error) == "ConflictException"
    assert len(lineage.bedrock.list_evaluation_jobs()["jobSummaries"]) == 1
    with pytest.raises(ClientError) as error:
        evaluation(lineage, "support-eval")  # the API takes the ARN only
    assert error_code(error) == "ValidationException"
    with pytest.raises(ClientError) as error:
        evaluation(lineage, first[:-12] + "0123456789ab")
    assert error_code(error) == "ResourceNotFoundException"


def test_stopping_an_evaluation_job(lineage: Lineage, standin: BedrockStandIn) -> None:
    standin.set_evaluation_job_polls_in_progress(1)
    dataset = lineage.upload("eval/support.jsonl", prompt_dataset(ROUND_1))
    arn = lineage.bedrock.create_evaluation_job(**evaluation_request("support-eval", dataset, [FOUNDATION]))[
        "jobArn"
    ]
    lineage.bedrock.stop_evaluation_job(jobIdentifier=arn)
    [listed] = lineage.bedrock.list_evaluation_jobs()["jobSummaries"]
    assert listed["status"] == "Stopping"
    assert [evaluation(lineage, arn)["status"] for _ in range(2)] == ["Stopped", "Stopped"]  # the next Get
    with pytest.raises(ClientError) as error:
        lineage.bedrock.stop_evaluation_job(jobIdentifier=arn)
    assert error_code(error) == "ValidationException"
    assert output_lines(lineage, evaluation(lineage, arn)) == {}
    done = lineage.bedrock.create_evaluation_job(**evaluation_request("done-eval", dataset, [FOUNDATION]))[
        "jobArn"
    ]
    assert finished(lineage, done)["status"] == "Completed"
    with pytest.raises(ClientError) as error:
        lineage.bedrock.stop_evaluation_job(jobIdentifier=done)
    assert error_code(error) == "ValidationException"


def test_fail_next_evaluation_job_fails_the_matching_job(lineage: Lineage, standin: BedrockStandIn) -> None:
    standin.fail_next_evaluation_job("it0002", "Internal error: evaluation capacity unavailable")
    dataset = lineage.upload("eval/support.jsonl", prompt_dataset(ROUND_1))
    results = {}
    for name in ("support-it0001-eval", "support-it0002-eval", "support-it0002-eval-retry"):
        arn = lineage.bedrock.create_evaluation_job(**evaluation_request(name, dataset, [FOUNDATION]))[
            "jobArn"
        ]
        results[name] = finished(lineage, arn)
    assert [job["status"] for job in results.values()] == ["Completed", "Failed", "Completed"]
    assert results["support-it0002-eval"]["failureMessages"] == [
        "Internal error: evaluation capacity unavailable"
    ]
    assert output_lines(lineage, results["support-it0002-eval"]) == {}


def test_evaluation_jobs_are_listed_filtered_and_paged(lineage: Lineage, standin: BedrockStandIn) -> None:
    dataset = lineage.upload("eval/support.jsonl", prompt_dataset(ROUND_1))
    arns = [
        lineage.bedrock.create_evaluation_job(**evaluation_request(name, dataset, [FOUNDATION]))["jobArn"]
        for name in ("alpha-eval-1", "beta-eval-1", "alpha-eval-2")
    ]
    finished(lineage, arns[0])
    listed = lineage.bedrock.list_evaluation_jobs(sortBy="CreationTime", sortOrder="Ascending")[
        "jobSummaries"
    ]
    assert [job["jobName"] for job in listed] == ["alpha-eval-1", "beta-eval-1", "alpha-eval-2"]
    assert [job["status"] for job in listed] == ["Completed", "InProgress", "InProgress"]
    assert listed[0]["jobType"] == "Automated"
    assert listed[0]["evaluationTaskTypes"] == ["QuestionAndAnswer"]
    assert listed[0]["modelIdentifiers"] == [FOUNDATION]
    assert listed[0]["applicationType"] == "ModelEvaluation"
    newest_first = lineage.bedrock.list_evaluation_jobs()["jobSummaries"]
    assert [job["jobName"] for job in newest_first] == ["alpha-eval-2", "beta-eval-1", "alpha-eval-1"]
    in_progress = lineage.bedrock.list_evaluation_jobs(statusEquals="InProgress")["jobSummaries"]
    assert {job["jobName"] for job in in_progress} == {"beta-eval-1", "alpha-eval-2"}
    alpha = lineage.bedrock.list_evaluation_jobs(nameContains="alpha")["jobSummaries"]
    assert {job["jobName"] for job in alpha} == {"alpha-eval-1", "alpha-eval-2"}
    after = lineage.bedrock.list_evaluation_jobs(creationTimeAfter=listed[0]["creationTime"])["jobSummaries"]
    assert "alpha-eval-1" not in {job["jobName"] for job in after}
    page = lineage.bedrock.list_evaluation_jobs(maxResults=2, sortOrder="Ascending")
    rest = lineage.bedrock.list_evaluation_jobs(
        maxResults=2, sortOrder="Ascending", nextToken=page["nextToken"]
    )
    assert [job["jobArn"] for job in page["jobSummaries"] + rest["jobSummaries"]] == arns
    assert "nextToken" not in rest


def test_evaluation_job_tags(lineage: Lineage) -> None:
    dataset = lineage.upload("eval/support.jsonl", prompt_dataset(ROUND_1))
    tags = [{"key": "lineage", "value": "support"}]
    arn = lineage.bedrock.create_evaluation_job(
        **evaluation_request("support-eval", dataset, [FOUNDATION], jobTags=tags)
    )["jobArn"]
    assert lineage.tags(arn) == tags


def test_the_inventory_shows_a_running_evaluation_job(lineage: Lineage, standin: BedrockStandIn) -> None:
    session = SimpleNamespace(client=lambda service: {"bedrock": lineage.bedrock}[service])
    standin.set_evaluation_job_polls_in_progress(1)
    dataset = lineage.upload("eval/support.jsonl", prompt_dataset(ROUND_1))
    arn = lineage.bedrock.create_evaluation_job(**evaluation_request("support-eval", dataset, [FOUNDATION]))[
        "jobArn"
    ]
    running = {"kind": "evaluation_job", "name": "support-eval", "arn": arn, "status": "InProgress"}
    assert LocalSession.bedrock_inventory(session) == [running]
    assert finished(lineage, arn)["status"] == "Completed"
    assert LocalSession.bedrock_inventory(session) == []


# Over HTTP, through a moto server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def server_endpoint() -> Iterator[str]:
    install_bedrock_standin()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_the_routes_work_over_a_moto_server(server_endpoint: str) -> None:
    lineage = Lineage(
        endpoint_url=server_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    parent = lineage.fine_tune("http-it0001", ROUND_1)
    child = lineage.fine_tune("http-it0002", ROUND_2, base=parent["outputModelArn"])
    assert child["status"] == "Completed"
    assert (
        lineage.job(child["jobArn"])["jobName"] == "iterft-http-it0002"
    )  # an ARN, slashes and all, in the path
    deployment = lineage.deploy("http-eval", child["outputModelArn"])
    assert answer(lineage.runtime, deployment, "How do I reset my password?") == ROUND_1[0][1]
    assert answer(lineage.runtime, deployment, "Why are my files not syncing?") == ROUND_2[5][1]
    body = {"messages": [{"role": "user", "content": [{"text": "How do I share a folder?"}]}]}
    out = json.loads(lineage.runtime.invoke_model(modelId=deployment, body=json.dumps(body))["body"].read())
    assert out["output"]["message"]["content"][0]["text"] == ROUND_2[2][1]
    with pytest.raises(ClientError) as error:
        ask(lineage.runtime, child["outputModelArn"], "How do I reset my password?")
    assert error_code(error) == "ValidationException"
    assert lineage.bedrock.get_model_invocation_logging_configuration()["loggingConfig"] == {}


def test_evaluation_jobs_work_over_a_moto_server(server_endpoint: str) -> None:
    """moto routes the evaluation-job paths (the plural collection, the singular stop) to the stand-in."""
    lineage = Lineage(
        endpoint_url=server_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    dataset = lineage.upload("eval/http.jsonl", prompt_dataset(ROUND_1[:3]))
    done = lineage.bedrock.create_evaluation_job(**evaluation_request("http-eval", dataset, [FOUNDATION]))
    job = finished(lineage, done["jobArn"])  # an ARN, slash and all, in the path
    assert job["status"] == "Completed"
    [lines] = output_lines(lineage, job).values()
    assert [scores_of(line)["Accuracy"] for line in lines] == [0.0, 0.0, 0.0]
    stopped = lineage.bedrock.create_evaluation_job(
        **evaluation_request("http-eval-stopped", dataset, [FOUNDATION])
    )["jobArn"]
    lineage.bedrock.stop_evaluation_job(jobIdentifier=stopped)
    assert evaluation(lineage, stopped)["status"] == "Stopped"
    listed = lineage.bedrock.list_evaluation_jobs(nameContains="http-eval")["jobSummaries"]
    assert {job["jobName"]: job["status"] for job in listed} == {
        "http-eval": "Completed",
        "http-eval-stopped": "Stopped",
    }
