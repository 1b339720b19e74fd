"""Automated model evaluation jobs (`bedrock.evaluation`, scored by `iterft.local.standin_evaluation`)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from bedrock_support import (
    BUCKET,
    FOUNDATION,
    NOVA,
    REGION,
    ROLE,
    ROUND_1,
    Lineage,
    answer,
    error_code,
    evaluated,
    evaluation,
    evaluation_request,
    finished,
    mean_accuracy,
    output_lines,
    prompt_dataset,
    provisioned,
    scores_of,
)
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID

from iterft.local.bedrock import BedrockStandIn
from iterft.local.session import LocalSession
from iterft.local.standin_evaluation import nlp_f1, perturbations
from iterft.local.standin_model import FALLBACK_ANSWER


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
                    "datasetMetricConfigs": [metric_config(taskType="General")],
                    "evaluatorModelConfig": {
                        "bedrockEvaluatorModels": [{"modelIdentifier": "amazon.titan-text-express-v1"}]
                    },
                }
            },
            "not supported as an evaluator model",
        ),
        (
            {
                "automated": {
                    "datasetMetricConfigs": [metric_config(taskType="General")],
                    "evaluatorModelConfig": {
                        "bedrockEvaluatorModels": [{"modelIdentifier": "amazon.nova-pro-v1:0"}]
                    },
                }
            },
            "Builtin.Accuracy is a metric of programmatic model evaluation jobs",
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
