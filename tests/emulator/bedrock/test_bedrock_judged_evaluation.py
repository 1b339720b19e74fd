"""Judged (LLM-as-a-judge) evaluation jobs of the Bedrock stand-in over precomputed inference: the
dataset's own responses are graded by the stand-in's evaluator (`iterft.local.standin_evaluation`), and
what Bedrock refuses is refused."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from bedrock_support import BUCKET, ROLE, ROUND_1, Lineage, error_code, finished, output_lines, scores_of
from botocore.exceptions import ClientError

from iterft.local.standin_evaluation import judged_builtin, judged_custom
from iterft.local.standin_model import FALLBACK_ANSWER

EVALUATOR = "amazon.nova-pro-v1:0"
SOURCE = "support-it0001-eval"
ANSWERS = f"s3://{BUCKET}/eval/answers.jsonl"
GROUNDED = {
    "name": "grounded",
    "instructions": "Does the response say what the reference says?\n"
    "{{prompt}}\n{{prediction}}\n{{ground_truth}}",
    "ratingScale": [
        {"definition": "No", "value": {"floatValue": 0}},
        {"definition": "Partly", "value": {"floatValue": 1}},
        {"definition": "Yes", "value": {"floatValue": 2}},
    ],
}


def responses_dataset(responses: list[str], source: str = SOURCE) -> str:
    """ROUND_1's questions with the given responses, as precomputed inference of `source`."""
    return "".join(
        json.dumps(
            {
                "prompt": prompt,
                "referenceResponse": reference,
                "category": "support",
                "modelResponses": [{"response": response, "modelIdentifier": source}],
            }
        )
        + "\n"
        for (prompt, reference), response in zip(ROUND_1, responses, strict=True)
    )


def judged_request(
    name: str,
    dataset_uri: str,
    metrics: list[str],
    custom: list[dict[str, Any]] | None = None,
    source: str = SOURCE,
) -> dict[str, Any]:
    evaluators = {"bedrockEvaluatorModels": [{"modelIdentifier": EVALUATOR}]}
    automated: dict[str, Any] = {
        "datasetMetricConfigs": [
            {
                "taskType": "General",
                "dataset": {"name": "support-eval", "datasetLocation": {"s3Uri": dataset_uri}},
                "metricNames": [*metrics, *(metric["name"] for metric in custom or [])],
            }
        ],
        "evaluatorModelConfig": evaluators,
    }
    if custom:
        automated["customMetricConfig"] = {
            "customMetrics": [{"customMetricDefinition": metric} for metric in custom],
            "evaluatorModelConfig": evaluators,
        }
    return {
        "jobName": name,
        "roleArn": ROLE,
        "evaluationConfig": {"automated": automated},
        "inferenceConfig": {
            "models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": source}}]
        },
        "outputDataConfig": {"s3Uri": f"s3://{BUCKET}/evaluations/"},
    }


def test_a_judged_job_grades_the_responses_it_is_given(lineage: Lineage) -> None:
    responses = [reference for _, reference in ROUND_1]
    responses[1] = FALLBACK_ANSWER
    responses[2] = "The app runs on Windows."  # part of the reference only
    uri = lineage.upload("eval/answers.jsonl", responses_dataset(responses))
    metrics = ["Builtin.Correctness", "Builtin.Completeness", "Builtin.Helpfulness"]
    arn = lineage.bedrock.create_evaluation_job(**judged_request("judged", uri, metrics, [GROUNDED]))[
        "jobArn"
    ]
    job = finished(lineage, arn)
    assert job["status"] == "Completed", job.get("failureMessages")
    summary = lineage.bedrock.list_evaluation_jobs()["jobSummaries"][0]
    assert summary["inferenceConfigSummary"]["modelConfigSummary"] == {
        "bedrockModelIdentifiers": [],
        "precomputedInferenceSourceIdentifiers": [SOURCE],
    }

    [(key, lines)] = output_lines(lineage, job).items()
    assert re.fullmatch(
        rf"evaluations/judged/[a-z0-9]{{12}}/models/{SOURCE}/taskTypes/General/datasets/support-eval/"
        r"[0-9a-f-]{36}_output\.jsonl",
        key,
    )
    assert len(lines) == len(ROUND_1)
    for line, response in zip(lines, responses, strict=True):
        record = line["inputRecord"]
        assert record["modelResponses"] == [{"response": response, "modelIdentifier": SOURCE}]
        scores = scores_of(line)
        assert list(scores) == [*metrics, "grounded"]
        for name in metrics:
            assert scores[name] == judged_builtin(name, record, response)
        assert scores["grounded"] == judged_custom(GROUNDED, record, response)
        details = {
            score["metricName"]: score["evaluatorDetails"]
            for score in line["automatedEvaluationResult"]["scores"]
        }
        assert all(detail[0]["modelIdentifier"] == EVALUATOR for detail in details.values())
    # The reference itself is graded best; "I don't know." is no help; half an answer is in between.
    first, unknown, partial = (scores_of(line) for line in lines[:3])
    assert first == {name: 1.0 for name in metrics} | {"grounded": 2.0}
    assert unknown["Builtin.Helpfulness"] == 0.0 and unknown["grounded"] == 0.0
    assert 0.0 < partial["Builtin.Completeness"] < 1.0


def test_a_custom_metric_whose_instructions_hide_the_response_gets_the_lowest_rating() -> None:
    record = {"prompt": ROUND_1[0][0], "referenceResponse": ROUND_1[0][1]}
    blind = {**GROUNDED, "instructions": "Rate it against {{ground_truth}}."}
    assert judged_custom(GROUNDED, record, ROUND_1[0][1]) == 2.0
    assert judged_custom(blind, record, ROUND_1[0][1]) == 0.0


def _custom(count: int) -> list[dict[str, Any]]:
    return [{**GROUNDED, "name": f"metric-{index}"} for index in range(count)]


def _with(request: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`request` with the member at dotted `path` (list items by index) replaced by `value`."""
    copy = json.loads(json.dumps(request))
    *parents, last = path.split(".")
    node = copy
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return copy


AUTOMATED = "evaluationConfig.automated"
METRIC_NAMES = f"{AUTOMATED}.datasetMetricConfigs.0.metricNames"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ((METRIC_NAMES, ["Builtin.Fluency"]), "Unknown metric Builtin.Fluency"),
        ((METRIC_NAMES, ["Builtin.Correctness", "policy"]), "Unknown metric policy"),
        ((METRIC_NAMES, ["Builtin.Accuracy"]), "Builtin.Accuracy is a metric of programmatic"),
        (
            (
                f"{AUTOMATED}.customMetricConfig",
                {
                    "customMetrics": [{"customMetricDefinition": m} for m in _custom(11)],
                    "evaluatorModelConfig": {"bedrockEvaluatorModels": [{"modelIdentifier": EVALUATOR}]},
                },
            ),
            "up to 10 custom metrics",
        ),
        (
            (
                f"{AUTOMATED}.evaluatorModelConfig.bedrockEvaluatorModels.0.modelIdentifier",
                "amazon.titan-text-express-v1",
            ),
            "not supported as an evaluator model for built-in metrics",
        ),
        (
            (
                f"{AUTOMATED}.evaluatorModelConfig.bedrockEvaluatorModels.0.modelIdentifier",
                "meta.llama3-3-70b-instruct-v1:0",
            ),
            "not supported as an evaluator model for built-in metrics",
        ),
        (
            (
                f"{AUTOMATED}.evaluatorModelConfig.bedrockEvaluatorModels",
                [{"modelIdentifier": EVALUATOR}] * 2,
            ),
            "exactly 1 evaluator model",
        ),
        ((f"{AUTOMATED}.datasetMetricConfigs.0.taskType", "QuestionAndAnswer"), "taskType General only"),
        (
            (f"{AUTOMATED}.datasetMetricConfigs.0.metricNames", ["Builtin.Coherence"]),
            "does not grade Builtin.Coherence",
        ),
        (
            ("inferenceConfig.models.0.precomputedInferenceSource.inferenceSourceIdentifier", "my model!"),
            "inferenceSourceIdentifier",
        ),
        (
            (
                "inferenceConfig.models",
                [{"precomputedInferenceSource": {"inferenceSourceIdentifier": SOURCE}}] * 2,
            ),
            "only a single model is supported",
        ),
    ],
)
def test_what_bedrock_refuses_of_a_judged_job_is_refused(
    lineage: Lineage, change: tuple[str, Any], message: str
) -> None:
    uri = lineage.upload("eval/answers.jsonl", responses_dataset([ref for _, ref in ROUND_1]))
    request = _with(judged_request("judged", uri, ["Builtin.Correctness"], [GROUNDED]), *change)
    with pytest.raises(ClientError) as error:
        lineage.bedrock.create_evaluation_job(**request)
    assert error_code(error) == "ValidationException"
    assert message in error.value.response["Error"]["Message"]
    assert lineage.bedrock.list_evaluation_jobs()["jobSummaries"] == []


def test_precomputed_inference_without_a_judge_is_refused(lineage: Lineage) -> None:
    uri = lineage.upload("eval/answers.jsonl", responses_dataset([ref for _, ref in ROUND_1]))
    request = judged_request("judged", uri, ["Builtin.Correctness"])
    del request["evaluationConfig"]["automated"]["evaluatorModelConfig"]
    request = _with(
        request,
        f"{AUTOMATED}.datasetMetricConfigs.0",
        {
            "taskType": "QuestionAndAnswer",
            "dataset": {"name": "support-eval", "datasetLocation": {"s3Uri": uri}},
            "metricNames": ["Builtin.Accuracy"],
        },
    )
    with pytest.raises(ClientError) as error:
        lineage.bedrock.create_evaluation_job(**request)
    assert "Precomputed inference (your own inference responses) is graded by a judge" in str(error.value)


def _records(**change: Any) -> str:
    lines = responses_dataset([ref for _, ref in ROUND_1]).splitlines()
    record = {**json.loads(lines[1]), **change}
    return "\n".join([lines[0], json.dumps(record), *lines[2:]]) + "\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _records(modelResponses=[{"response": "Open Billing.", "modelIdentifier": "another-model"}]),
            f"Line 2 of the prompt dataset {ANSWERS} names modelIdentifier 'another-model'",
        ),
        (
            _records(modelResponses=[{"response": "a", "modelIdentifier": SOURCE}] * 2),
            f"Line 2 of the prompt dataset {ANSWERS} needs modelResponses with exactly one",
        ),
        (_records(modelResponses=None), "Line 2 of the prompt dataset"),
    ],
)
def test_a_dataset_whose_responses_do_not_fit_the_source_fails_the_job(
    lineage: Lineage, data: str, message: str
) -> None:
    uri = lineage.upload("eval/answers.jsonl", data)
    arn = lineage.bedrock.create_evaluation_job(**judged_request("judged", uri, ["Builtin.Correctness"]))[
        "jobArn"
    ]
    job = finished(lineage, arn)
    assert job["status"] == "Failed"
    assert message in job["failureMessages"][0]
    assert output_lines(lineage, job) == {}
