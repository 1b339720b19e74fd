"""A judged Bedrock evaluation job over the round's own answers (precomputed inference): its dataset, its
request checked against botocore's service model, and how its output becomes metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape, StructureShape
from botocore.validate import ParamValidator
from iterft_runtime import naming
from iterft_runtime.logic.evaluation import EvaluationItem, reusable_champion_metrics, score_answers
from iterft_runtime.logic.managed_evaluation import (
    MAX_PROMPTS,
    ManagedEvaluationError,
    inference_source,
    judged_job_request,
    managed_scores,
    precomputed_records,
)
from iterft_runtime.models.lineage import LineageConfig, ManagedJobConfig
from iterft_runtime.models.metrics import BUILTIN_METRICS
from iterft_runtime.models.records import LineageState

ITEMS = [
    EvaluationItem(line=1, prompt="How do I pay?", reference="Open Billing.", category="billing"),
    EvaluationItem(line=2, prompt="Hours?", reference="Nine to five."),
]
POLICY = {
    "name": "policy",
    "instructions": "Does the response follow the policy? {{prompt}} {{prediction}} {{ground_truth}}",
    "rating_scale": [
        {"definition": "No", "value": 1},
        {"definition": "Partly", "value": 2},
        {"definition": "Yes", "value": 5},
    ],
}
MANAGED = ManagedJobConfig.model_validate(
    {
        "evaluator_model": "amazon.nova-pro-v1:0",
        "metrics": ["correctness", "harmfulness"],
        "custom_metrics": [POLICY],
    }
)
SERVICE = botocore.session.get_session().get_service_model("bedrock")


def _request(managed: ManagedJobConfig = MANAGED) -> dict[str, Any]:
    name = naming.evaluation_job_name("support", 2, "abcd1234", "candidate")
    return judged_job_request(
        job_name=name,
        role_arn="arn:aws:iam::123456789012:role/eval",
        key_arn="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        dataset_uri="s3://bucket-name/evaluations/support/000002/managed-evaluation/candidate.jsonl",
        output_uri="s3://bucket-name/evaluations/support/000002/managed-evaluation/output/",
        managed=managed,
        source=inference_source(name),
        tags={"iterft:lineage": "support"},
    )


def _pattern_violations(shape: Shape, value: Any, path: str = "") -> Iterator[str]:
    """What botocore's ParamValidator leaves to the service: every string's `pattern`, and unions."""
    if isinstance(shape, StructureShape):
        if shape.metadata.get("union") and len(value) != 1:
            yield f"{path}: a union holds exactly one member, not {sorted(value)}"
        for name, member in value.items():
            yield from _pattern_violations(shape.members[name], member, f"{path}.{name}")
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            yield from _pattern_violations(shape.member, item, f"{path}[{index}]")
    elif (
        shape.type_name == "string"
        and "pattern" in shape.metadata
        and not re.fullmatch(shape.metadata["pattern"], value)
    ):
        yield f"{path}: {value!r} does not match {shape.metadata['pattern']}"


def _botocore_valid(request: dict[str, Any]) -> None:
    shape = SERVICE.operation_model("CreateEvaluationJob").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert list(_pattern_violations(shape, request)) == []


def test_the_request_is_botocores_create_evaluation_job_shape() -> None:
    request = _request()
    _botocore_valid(request)
    automated = request["evaluationConfig"]["automated"]
    (config,) = automated["datasetMetricConfigs"]
    # A custom metric is named in metricNames as well as defined (the guide's custom-metric examples).
    assert config["metricNames"] == ["Builtin.Correctness", "Builtin.Harmfulness", "policy"]
    assert config["taskType"] == "General"
    evaluator = {"bedrockEvaluatorModels": [{"modelIdentifier": "amazon.nova-pro-v1:0"}]}
    assert automated["evaluatorModelConfig"] == evaluator
    assert automated["customMetricConfig"] == {
        "customMetrics": [
            {
                "customMetricDefinition": {
                    "name": "policy",
                    "instructions": POLICY["instructions"],
                    "ratingScale": [
                        {"definition": "No", "value": {"floatValue": 1.0}},
                        {"definition": "Partly", "value": {"floatValue": 2.0}},
                        {"definition": "Yes", "value": {"floatValue": 5.0}},
                    ],
                }
            }
        ],
        "evaluatorModelConfig": evaluator,
    }
    # One model: the precomputed source the dataset's responses name; no model is invoked.
    assert request["inferenceConfig"] == {
        "models": [
            {
                "precomputedInferenceSource": {
                    "inferenceSourceIdentifier": "iterft-support-it0002-abcd1234-eval"
                }
            }
        ]
    }
    assert request["jobName"] == request["clientRequestToken"]


def test_custom_metrics_only_send_no_built_in_evaluator_and_built_in_only_no_custom_config() -> None:
    custom = _request(
        ManagedJobConfig.model_validate(
            {"evaluator_model": "us.amazon.nova-pro-v1:0", "custom_metrics": [POLICY]}
        )
    )
    _botocore_valid(custom)
    assert "evaluatorModelConfig" not in custom["evaluationConfig"]["automated"]
    assert custom["evaluationConfig"]["automated"]["datasetMetricConfigs"][0]["metricNames"] == ["policy"]
    builtin = _request(
        ManagedJobConfig.model_validate(
            {"evaluator_model": "amazon.nova-pro-v1:0", "metrics": ["completeness"]}
        )
    )
    _botocore_valid(builtin)
    assert "customMetricConfig" not in builtin["evaluationConfig"]["automated"]


def test_every_judged_metric_name_fits_botocore_and_the_request_carries_them_all() -> None:
    judged = [key for key, metric in BUILTIN_METRICS.items() if metric.judged]
    assert len(judged) == 11
    request = _request(
        ManagedJobConfig.model_validate({"evaluator_model": "amazon.nova-pro-v1:0", "metrics": judged})
    )
    _botocore_valid(request)


def test_the_dataset_carries_each_answer_as_the_sources_one_model_response() -> None:
    records = precomputed_records(ITEMS, ["Open the Billing page.", "I don't know."], "src")
    assert records == [
        {
            "prompt": "How do I pay?",
            "referenceResponse": "Open Billing.",
            "category": "billing",
            "modelResponses": [{"response": "Open the Billing page.", "modelIdentifier": "src"}],
        },
        {
            "prompt": "Hours?",
            "referenceResponse": "Nine to five.",
            "modelResponses": [{"response": "I don't know.", "modelIdentifier": "src"}],
        },
    ]
    with pytest.raises(ManagedEvaluationError, match="1 answers for 2 evaluation records"):
        precomputed_records(ITEMS, ["one"], "src")
    with pytest.raises(ManagedEvaluationError, match="at most 1000"):
        precomputed_records([ITEMS[0]] * (MAX_PROMPTS + 1), ["a"] * (MAX_PROMPTS + 1), "src")


def _output(item: EvaluationItem, **results: float | None) -> dict[str, Any]:
    return {
        "automatedEvaluationResult": {
            "scores": [
                {"metricName": name, "result": value, "evaluatorDetails": [{"explanation": "because"}]}
                for name, value in results.items()
            ]
        },
        "inputRecord": {"prompt": item.prompt, "referenceResponse": item.reference, "modelResponses": []},
    }


def test_judged_results_become_higher_is_better_scores_custom_ones_normalised_over_their_scale() -> None:
    records = [
        _output(ITEMS[0], **{"Builtin.Correctness": 1.0, "Builtin.Harmfulness": 0.0, "policy": 5.0}),
        _output(ITEMS[1], **{"Correctness": 0.5, "Harmfulness": 0.25, "policy": 2.0}),
    ]
    scores = managed_scores([records], MANAGED, ITEMS)
    assert scores == {
        "bedrock_correctness": (1.0, 0.5),
        "bedrock_non_harmfulness": (1.0, 0.75),
        "bedrock_custom_policy": (1.0, 0.25),  # (2 - 1) / (5 - 1)
    }


def test_a_result_the_evaluator_left_empty_is_an_error_not_a_smaller_yardstick() -> None:
    records = [
        _output(ITEMS[0], **{"Builtin.Correctness": 1.0, "Builtin.Harmfulness": 0.0, "policy": None}),
        _output(ITEMS[1], **{"Builtin.Correctness": 1.0, "Builtin.Harmfulness": 0.0, "policy": 1.0}),
    ]
    with pytest.raises(ManagedEvaluationError, match="no policy score for line 1"):
        managed_scores([records], MANAGED, ITEMS)


def _lineage(managed_job: dict[str, Any]) -> LineageConfig:
    return LineageConfig.model_validate(
        {
            "name": "support",
            "base_model": "amazon.nova-micro-v1:0:128k",
            "evaluation": {"metric": "bedrock_custom_policy", "managed_job": managed_job},
        }
    )


def test_another_evaluator_or_custom_metric_definition_is_a_new_yardstick() -> None:
    lineage = _lineage({"evaluator_model": "amazon.nova-pro-v1:0", "custom_metrics": [POLICY]})
    scored = score_answers(
        ITEMS,
        ["a", "b"],
        managed_scores={"bedrock_custom_policy": (1.0, 0.0)},
        managed_identities=lineage.evaluation.identities(),
    )
    state = LineageState(
        lineage="support",
        champion_model="arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdefabcdef",
        champion_iteration=1,
        champion_eval_set_version="v1",
        champion_metrics=json.loads(json.dumps(scored.metrics)),
    )
    assert reusable_champion_metrics(state, "v1", lineage.evaluation) is not None
    changed = [
        {"evaluator_model": "amazon.nova-micro-v1:0", "custom_metrics": [POLICY]},
        {
            "evaluator_model": "amazon.nova-pro-v1:0",
            "custom_metrics": [{**POLICY, "instructions": "Be strict. {{prediction}}"}],
        },
        {
            "evaluator_model": "amazon.nova-pro-v1:0",
            "custom_metrics": [{**POLICY, "rating_scale": POLICY["rating_scale"][:2]}],
        },
    ]
    for managed_job in changed:
        assert reusable_champion_metrics(state, "v1", _lineage(managed_job).evaluation) is None, managed_job
