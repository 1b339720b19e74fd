"""Bedrock's managed evaluation job, its plain logic: the dataset, the request, the status, the output."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from iterft_runtime import naming
from iterft_runtime.logic.evaluation import EvaluationItem, reusable_champion_metrics, score_answers
from iterft_runtime.logic.managed_evaluation import (
    MAX_PROMPTS,
    ManagedEvaluationError,
    check_prompt_count,
    dataset_records,
    job_output_prefix,
    job_progress,
    job_request,
    jobs_progress,
    managed_scores,
)
from iterft_runtime.models.capabilities import EVALUABLE_MODEL_ID
from iterft_runtime.models.lineage import LineageConfig, ManagedJobConfig
from iterft_runtime.models.records import LineageState

CANDIDATE = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/cand00000001"
CHAMPION = "amazon.titan-text-express-v1"
ITEMS = [
    EvaluationItem(line=1, prompt="How do I pay?", reference="Open Billing.", category="billing"),
    EvaluationItem(line=2, prompt="Reset password?", reference="Use the reset link.", category="account"),
    EvaluationItem(line=3, prompt="How do I pay?", reference="Open Billing.", category="billing"),
    EvaluationItem(line=4, prompt="Hours?", reference="Nine to five."),
]


def _managed(*metrics: str) -> ManagedJobConfig:
    return ManagedJobConfig(metrics=list(metrics))


def _record(item: EvaluationItem, model: str, **results: float | None) -> dict[str, Any]:
    given = {"prompt": item.prompt, "referenceResponse": item.reference}
    if item.category is not None:
        given["category"] = item.category
    return {
        "automatedEvaluationResult": {
            "scores": [{"metricName": name, "result": value} for name, value in results.items()]
        },
        "inputRecord": given,
        "modelResponses": [{"response": "an answer", "modelIdentifier": model}],
    }


def test_the_dataset_is_the_set_in_bedrocks_shape_and_at_most_a_thousand_prompts() -> None:
    assert dataset_records(ITEMS[:2] + ITEMS[3:]) == [
        {"prompt": "How do I pay?", "referenceResponse": "Open Billing.", "category": "billing"},
        {"prompt": "Reset password?", "referenceResponse": "Use the reset link.", "category": "account"},
        {"prompt": "Hours?", "referenceResponse": "Nine to five."},
    ]
    too_many = [ITEMS[0]] * (MAX_PROMPTS + 1)
    with pytest.raises(
        ManagedEvaluationError, match="1001 records; a Bedrock evaluation job takes at most 1000"
    ):
        dataset_records(too_many)
    check_prompt_count(MAX_PROMPTS)
    with pytest.raises(ManagedEvaluationError, match="1001 records"):
        check_prompt_count(MAX_PROMPTS + 1)


def test_the_request_names_the_set_the_metrics_and_one_model_with_the_name_as_token() -> None:
    name = naming.evaluation_job_name("claims", 3, "abcd1234", "champion")
    request = job_request(
        job_name=name,
        role_arn="arn:aws:iam::123456789012:role/eval",
        key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        dataset_uri="s3://b/evaluations/claims/000003/managed-evaluation/dataset.jsonl",
        output_uri="s3://b/evaluations/claims/000003/managed-evaluation/output/",
        metrics=["accuracy", "toxicity"],
        model=CHAMPION,
        max_tokens=256,
        tags={"iterft:lineage": "claims"},
    )
    assert name == "iterft-claims-it0003-abcd1234-champion-eval"
    assert (
        naming.evaluation_job_name("claims", 3, "abcd1234", "candidate")
        == "iterft-claims-it0003-abcd1234-eval"
    )
    assert request["jobName"] == request["clientRequestToken"] == name
    (config,) = request["evaluationConfig"]["automated"]["datasetMetricConfigs"]
    assert config == {
        "taskType": "QuestionAndAnswer",
        "dataset": {
            "name": "iterft-evaluation-set",
            "datasetLocation": {"s3Uri": "s3://b/evaluations/claims/000003/managed-evaluation/dataset.jsonl"},
        },
        "metricNames": ["Builtin.Accuracy", "Builtin.Toxicity"],
    }
    # An automated job evaluates a single model.
    [model] = [model["bedrockModel"] for model in request["inferenceConfig"]["models"]]
    assert model["modelIdentifier"] == CHAMPION
    assert json.loads(model["inferenceParams"]) == {"inferenceConfig": {"maxTokens": 256, "temperature": 0.0}}
    assert request["customerEncryptionKeyId"] == "arn:aws:kms:us-east-1:123456789012:key/k"
    assert request["outputDataConfig"] == {
        "s3Uri": "s3://b/evaluations/claims/000003/managed-evaluation/output/"
    }
    assert request["jobTags"] == [{"key": "iterft:lineage", "value": "claims"}]
    assert job_output_prefix("evaluations/claims/000003/managed-evaluation/output/", name) == (
        f"evaluations/claims/000003/managed-evaluation/output/{name}/"
    )


@pytest.mark.parametrize(
    ("status", "messages", "expected"),
    [
        ("Completed", (), (True, False, "evaluation job j completed")),
        ("InProgress", (), (False, False, "evaluation job j is in progress")),
        (
            "Failed",
            ("model not found", "access denied"),
            (False, True, "ended Failed: model not found; access denied"),
        ),
        ("Stopped", (), (False, True, "evaluation job j ended Stopped")),
        ("Stopping", (), (False, True, "evaluation job j ended Stopping")),
    ],
)
def test_job_progress(status: str, messages: tuple[str, ...], expected: tuple[bool, bool, str]) -> None:
    progress = job_progress("j", status, messages)
    assert (progress.ready, progress.failed) == expected[:2]
    assert expected[2] in progress.reason


def test_the_rounds_jobs_are_ready_together_and_fail_as_soon_as_one_fails() -> None:
    done, running = job_progress("a", "Completed"), job_progress("b", "InProgress")
    failed = job_progress("c", "Failed", ("quota exceeded",))
    assert jobs_progress([done, done]).ready
    assert jobs_progress([done, running]).to_dict() == {
        "ready": False,
        "failed": False,
        "reason": "evaluation job b is in progress",
    }
    both = jobs_progress([running, failed])
    assert (both.ready, both.failed, both.reason) == (
        False,
        True,
        "evaluation job c ended Failed: quota exceeded",
    )


def test_output_scores_line_up_with_the_items_and_read_higher_is_better() -> None:
    # Output in another order than the set, with both spellings of the metric names Bedrock uses.
    records = [
        _record(
            ITEMS[3],
            CANDIDATE,
            **{"Builtin.Accuracy": 0.25, "Builtin.Robustness": 0.5, "Builtin.Toxicity": 0.0},
        ),
        _record(ITEMS[0], CANDIDATE, Accuracy=1.0, Robustness=0.1, Toxicity=0.0),
        _record(ITEMS[1], CANDIDATE, Accuracy=0.5, Robustness=0.2, Toxicity=0.25),
        _record(ITEMS[2], CANDIDATE, Accuracy=0.75, Robustness=0.3, Toxicity=0.0),
    ]
    scores = managed_scores([records], _managed("accuracy", "robustness", "toxicity"), ITEMS)
    # Identical items (lines 1 and 3) take the identical records in turn.
    assert scores == {
        "bedrock_accuracy": (1.0, 0.5, 0.75, 0.25),
        "bedrock_robustness": (0.9, 0.8, 0.7, 0.5),
        "bedrock_non_toxicity": (1.0, 0.75, 1.0, 1.0),
    }
    # Summarized like every other metric: overall, and per category (line 4 has none).
    summary = score_answers(ITEMS, ["a"] * 4, managed_scores=scores).metrics
    assert summary["bedrock_accuracy"] == {
        "overall": pytest.approx((1.0 + 0.5 + 0.75 + 0.25) / 4),
        "by_category": {"account": 0.5, "billing": pytest.approx(0.875)},
    }
    with pytest.raises(ValueError, match="3 bedrock_accuracy scores for 4 evaluation items"):
        score_answers(ITEMS, ["a"] * 4, managed_scores={"bedrock_accuracy": (1.0, 1.0, 1.0)})


def test_one_file_per_metric_reads_like_one_file_with_every_metric() -> None:
    accuracy = [
        _record(item, CANDIDATE, Accuracy=score)
        for item, score in zip(ITEMS, (1, 0.5, 0.75, 0.25), strict=True)
    ]
    toxicity = [
        _record(item, CANDIDATE, Toxicity=score) for item, score in zip(ITEMS, (0, 0.5, 0, 0), strict=True)
    ]
    toxicity.reverse()
    assert managed_scores([accuracy, toxicity], _managed("accuracy", "toxicity"), ITEMS) == {
        "bedrock_accuracy": (1.0, 0.5, 0.75, 0.25),
        "bedrock_non_toxicity": (1.0, 0.5, 1.0, 1.0),
    }
    with pytest.raises(ManagedEvaluationError, match=r"no Builtin\.Toxicity score for line 1"):
        managed_scores([accuracy], _managed("accuracy", "toxicity"), ITEMS)


@pytest.mark.parametrize(
    ("records", "error"),
    [
        pytest.param(
            [_record(item, CANDIDATE, Accuracy=1.0) for item in ITEMS[:3]],
            "no Builtin.Accuracy score for line 4 of the set",
            id="a-prompt-missing",
        ),
        pytest.param(
            [_record(item, CANDIDATE, Accuracy=1.0) for item in [*ITEMS, ITEMS[0]]],
            "1 record\\(s\\) beyond the set",
            id="a-prompt-too-many",
        ),
        pytest.param(
            [_record(ITEMS[0], CANDIDATE, Robustness=1.0)],
            "has no Builtin.Accuracy score",
            id="metric-missing",
        ),
        pytest.param(
            [_record(ITEMS[0], CANDIDATE, Accuracy=None)], "has no Builtin.Accuracy score", id="metric-null"
        ),
    ],
)
def test_an_incomplete_output_is_an_error(records: list[dict[str, Any]], error: str) -> None:
    with pytest.raises(ManagedEvaluationError, match=error):
        managed_scores([records], _managed("accuracy"), ITEMS)


def test_adding_a_managed_job_is_a_new_yardstick_the_champion_is_scored_on_again() -> None:
    plain = LineageConfig.model_validate(
        {
            "name": "claims",
            "base_model": "amazon.titan-text-express-v1:0:8k",
            "serving": {"mode": "provisioned"},
        }
    )
    managed = LineageConfig.model_validate(
        {**plain.model_dump(), "evaluation": {"managed_job": {"metrics": ["accuracy"]}}}
    )
    assert managed.evaluation.metric_names() == plain.evaluation.metric_names() | {"bedrock_accuracy"}
    scored = score_answers(ITEMS, [item.reference for item in ITEMS]).metrics
    state = LineageState(
        lineage="claims",
        champion_model="m",
        champion_iteration=1,
        champion_metrics=scored,
        champion_eval_set_version="v1",
    )
    assert reusable_champion_metrics(state, "v1", plain.evaluation) == scored
    assert reusable_champion_metrics(state, "v1", managed.evaluation) is None


def test_what_a_job_can_evaluate_is_botocores_pattern_verbatim() -> None:
    shape = botocore.session.get_session().get_service_model("bedrock").shape_for("EvaluationBedrockModel")
    assert EVALUABLE_MODEL_ID.pattern == shape.members["modelIdentifier"].metadata["pattern"]
    assert EVALUABLE_MODEL_ID.fullmatch(CANDIDATE) and EVALUABLE_MODEL_ID.fullmatch(CHAMPION)
    deployment = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456"
    assert not EVALUABLE_MODEL_ID.fullmatch(deployment)
