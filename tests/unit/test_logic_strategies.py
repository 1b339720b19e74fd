"""Strategies: which one a round uses, which chains are documented, what the job is sent, how the default
grader rewards."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator
from iterft_runtime.logic.grading import GradingError, grade
from iterft_runtime.logic.strategies import (
    choose_strategy,
    customization_config,
    invocation_log_source,
    produced_by,
    requested_strategy,
    training_data_config,
)
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import IterationRecord
from iterft_runtime.models.strategy import FOUNDATION, RFT_HYPERPARAMETERS, UNKNOWN_CUSTOM, Strategy
from pydantic import ValidationError

MICRO = "amazon.nova-micro-v1:0:128k"
GRADER = "arn:aws:lambda:us-east-1:123456789012:function:iterft-dev-grader-line"
CUSTOM = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdefghijkl"


def _lineage(**strategies: Any) -> LineageConfig:
    return LineageConfig.model_validate({"name": "line", "base_model": MICRO, "strategies": strategies})


DISTILLING = {"distillation": {"teacher": "amazon.nova-pro-v1:0", "max_response_length": 1000}}


def test_the_explicit_request_beats_the_metadata_which_beats_the_default() -> None:
    assert requested_strategy("reinforcement", {"strategy": "distillation"}) == "reinforcement"
    assert requested_strategy(None, {"Strategy": " Distillation "}) == "distillation"
    assert requested_strategy(None, {"hp-epochcount": "3"}) is None


def test_a_round_uses_the_default_unless_asked_and_only_what_the_lineage_configures() -> None:
    lineage = _lineage(**DISTILLING)
    assert choose_strategy(lineage, None, "us-east-1", FOUNDATION) == (Strategy.FINE_TUNING, None)
    assert choose_strategy(lineage, "distillation", "us-east-1", FOUNDATION) == (Strategy.DISTILLATION, None)
    _, problem = choose_strategy(_lineage(), "distillation", "us-east-1", FOUNDATION)
    assert problem == "distillation needs strategies.distillation settings in the lineage's config"
    _, problem = choose_strategy(lineage, "magic", "us-east-1", FOUNDATION)
    assert problem is not None and problem.startswith("unknown strategy 'magic'")
    _, problem = choose_strategy(lineage, "continued_pre_training", "us-east-1", FOUNDATION)
    assert problem is not None and "cannot be customized by CONTINUED_PRE_TRAINING in us-east-1" in problem
    _, problem = choose_strategy(lineage, "distillation", "us-west-2", FOUNDATION)
    assert (
        problem is not None
        and "cannot be customized by DISTILLATION in us-west-2 (only us-east-1)" in problem
    )


@pytest.mark.parametrize(
    ("strategy", "base", "documented"),
    [
        ("fine_tuning", FOUNDATION, True),
        ("fine_tuning", "fine_tuning", True),
        ("fine_tuning", "distillation", True),
        ("fine_tuning", "reinforcement", False),
        ("fine_tuning", UNKNOWN_CUSTOM, False),
        ("distillation", FOUNDATION, True),
        ("distillation", "fine_tuning", False),
        ("distillation", "distillation", False),
    ],
)
def test_only_the_chains_the_user_guide_documents_run_unless_the_lineage_opts_in(
    strategy: str, base: str, documented: bool
) -> None:
    lineage = _lineage(**DISTILLING)
    _, problem = choose_strategy(lineage, strategy, "us-east-1", base)
    assert (problem is None) is documented
    if not documented:
        assert problem is not None and "allow_undocumented_chains" in problem
        opted_in = _lineage(**DISTILLING, allow_undocumented_chains=True)
        assert choose_strategy(opted_in, strategy, "us-east-1", base)[1] is None


def test_the_champion_was_produced_by_its_rounds_strategy_through_rollbacks() -> None:
    records = {
        1: IterationRecord(iteration=1, strategy="distillation"),
        2: IterationRecord(iteration=2),  # before strategies: fine-tuning
        3: IterationRecord(iteration=3, rollback_of=1),
    }
    lineage = _lineage(**DISTILLING)
    assert produced_by(lineage, 0, records.get) == FOUNDATION
    assert produced_by(lineage, 1, records.get) == "distillation"
    assert produced_by(lineage, 2, records.get) == "fine_tuning"
    assert produced_by(lineage, 3, records.get) == "distillation"
    custom = LineageConfig.model_validate({"name": "line", "base_model": CUSTOM})
    assert produced_by(custom, 0, records.get) == UNKNOWN_CUSTOM


def _botocore_valid(request: dict[str, Any]) -> None:
    """Raise when `request` (camelCase) does not fit botocore's CreateModelCustomizationJob input."""
    model = get_session().get_service_model("bedrock").operation_model("CreateModelCustomizationJob")
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()


def _camel(value: Any) -> Any:
    """The Step Functions integration's PascalCase keys as the API's camelCase ones."""
    if isinstance(value, dict):
        return {key[0].lower() + key[1:]: _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def _job_request(strategy: Strategy, config: dict[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    request = {
        "jobName": "job",
        "customModelName": "model",
        "roleArn": "arn:aws:iam::123456789012:role/bedrock",
        "baseModelIdentifier": MICRO,
        "customizationType": strategy.customization_type.value,
        "trainingDataConfig": _camel(data),
        "outputDataConfig": {"s3Uri": "s3://bucket/jobs/"},
    }
    if config is not None:
        request["customizationConfig"] = _camel(config)
    return request


def test_each_strategys_request_fits_botocores_model() -> None:
    distilling = _lineage(
        **{
            "distillation": {
                "teacher": "amazon.nova-pro-v1:0",
                "invocation_logs": {
                    "s3_uri": "s3://logs-bucket/AWSLogs/",
                    "request_metadata": {"lineage": "line", "team": "support"},
                    "use_prompt_response": True,
                },
            }
        }
    )
    config = customization_config(distilling, Strategy.DISTILLATION, default_grader_arn="")
    assert config == {
        "DistillationConfig": {"TeacherModelConfig": {"TeacherModelIdentifier": "amazon.nova-pro-v1:0"}}
    }
    data = training_data_config(distilling, Strategy.DISTILLATION, "s3://bucket/validated/x.jsonl")
    assert data["InvocationLogsConfig"]["RequestMetadataFilters"] == {
        "AndAll": [{"Equals": {"lineage": "line"}}, {"Equals": {"team": "support"}}]
    }
    _botocore_valid(_job_request(Strategy.DISTILLATION, config, data))
    # The logs are the round's data, whatever Validate made of the upload (an empty one: no file at all);
    # the same lineage's fine-tuning rounds train on their uploads.
    logs = invocation_log_source(distilling, Strategy.DISTILLATION)
    assert logs is not None and logs.s3_uri == "s3://logs-bucket/AWSLogs/"
    assert training_data_config(distilling, Strategy.DISTILLATION, "") == data
    assert invocation_log_source(distilling, Strategy.FINE_TUNING) is None
    assert invocation_log_source(_lineage(**DISTILLING), Strategy.DISTILLATION) is None

    file_data = training_data_config(_lineage(), Strategy.FINE_TUNING, "s3://bucket/validated/x.jsonl")
    assert file_data == {"S3Uri": "s3://bucket/validated/x.jsonl"}
    assert customization_config(_lineage(), Strategy.FINE_TUNING, default_grader_arn="") is None
    _botocore_valid(_job_request(Strategy.FINE_TUNING, None, file_data))


def test_reinforcement_settings_are_checked_against_botocores_ranges() -> None:
    with pytest.raises(ValidationError, match=re.escape("batchSize=8 is outside 16..512")):
        _lineage(reinforcement={"hyperparameters": {"batchSize": 8}})
    with pytest.raises(
        ValidationError, match="Amazon Nova Micro cannot be customized by reinforcement anywhere"
    ):
        _lineage(reinforcement={})
    with pytest.raises(
        ValidationError, match=re.escape("'amazon.nova-premier' is not a teacher of Amazon Nova Micro")
    ):
        _lineage(distillation={"teacher": "amazon.nova-premier"})
    with pytest.raises(
        ValidationError, match=re.escape("default: distillation needs strategies.distillation settings")
    ):
        _lineage(default="distillation")


def test_the_default_grader_rewards_with_the_primary_metric_against_the_reference() -> None:
    samples = [
        {
            "id": "1",
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "reset the password"},
            ],
            "reference_answer": "reset the password",
        },
        {
            "id": "2",
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": [{"text": "reset it"}]},
            ],
            "metadata": {"reference_answer": {"answer": "reset the password"}},
        },
    ]
    rewards = grade(samples, "token_f1")
    assert [r["id"] for r in rewards] == ["1", "2"]
    assert rewards[0]["aggregate_reward_score"] == 1.0
    # "reset it" vs "reset the password": 1 common token, precision 1/2, recall 1/3 -> F1 0.4.
    assert rewards[1]["aggregate_reward_score"] == pytest.approx(0.4)
    assert rewards[1]["metrics_list"] == [{"name": "token_f1", "value": pytest.approx(0.4), "type": "Reward"}]
    with pytest.raises(GradingError, match="no assistant answer"):
        grade(
            [{"id": "3", "messages": [{"role": "user", "content": "q"}], "reference_answer": "a"}], "token_f1"
        )


def test_the_reinforcement_ranges_are_botocores() -> None:
    """models/strategy.py keeps botocore's RFTHyperParameters ranges (the Lambda runtime reads them at
    synth without loading botocore's model): this keeps the copy equal to the model."""
    shape = get_session().get_service_model("bedrock").shape_for("RFTHyperParameters")
    from_botocore = {
        name: (member.metadata.get("min"), member.metadata.get("max"))
        for name, member in shape.members.items()  # type: ignore[attr-defined]
        if member.type_name != "string"
    }
    ours = {name: (low, high) for name, (low, high, _) in RFT_HYPERPARAMETERS.items()}
    assert {name: ours[name] for name, (low, _) in from_botocore.items() if low is not None} == {
        name: value for name, value in from_botocore.items() if value[0] is not None
    }
    assert set(ours) == set(from_botocore)
