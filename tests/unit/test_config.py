"""Environment configs: the shipped ones load, and every broken one is refused naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks import functions
from stacks.app_builder import build_app
from stacks.config import ConfigError, load_config
from stacks.functions import LayerNotBuiltError

VALID = {
    "environment": "test",
    "lineages": [{"name": "support-bot", "base_model": "amazon.nova-micro-v1:0:128k"}],
}


def _load(tmp_path: Path, data: dict) -> None:
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(data))
    load_config("test", tmp_path)


def _broken(change: dict) -> dict:
    data = copy.deepcopy(VALID)
    lineage_change = change.pop("lineage", None)
    if lineage_change is not None:
        data["lineages"][0].update(lineage_change)
    data.update(change)
    return data


def test_dev_loads() -> None:
    config = load_config("dev")
    assert config.environment == "dev"
    assert config.stack_name == "iterft-dev"
    assert [lineage.name for lineage in config.lineages] == ["support-bot", "support-distilled"]
    assert config.retention.destroy_data_on_delete is True
    # The demo's second lineage starts from a distilled model, then fine-tunes it (docs/strategies.md).
    distilled = config.lineage("support-distilled").strategies
    assert distilled.default == "distillation" and distilled.distillation is not None
    assert distilled.distillation.teacher == "amazon.nova-pro-v1:0"
    assert not distilled.allow_undocumented_chains


def test_prod_loads() -> None:
    config = load_config("prod")
    assert config.stack_name == "iterft-prod"
    assert [lineage.name for lineage in config.lineages] == ["support-bot", "claims-triage"]
    assert config.retention.destroy_data_on_delete is False
    assert config.notifications.emails == ["ml-platform-alerts@example.com"]


def test_a_valid_config_in_another_directory_loads(tmp_path: Path) -> None:
    _load(tmp_path, VALID)


def _custom_metric(
    name: str, instructions: str = "Rate {{prediction}}", values: tuple[int, int] = (0, 1)
) -> dict:
    return {
        "name": name,
        "instructions": instructions,
        "rating_scale": [{"definition": "no", "value": values[0]}, {"definition": "yes", "value": values[1]}],
    }


def _custom_metrics(*metrics: dict) -> dict:
    managed_job = {"evaluator_model": "amazon.nova-pro-v1:0", "custom_metrics": list(metrics)}
    return {"lineage": {"evaluation": {"managed_job": managed_job}}}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"lineage": {"name": "Support_Bot"}}, ["lineages.0.name", "pattern"], id="bad-lineage-name"
        ),
        pytest.param(
            {"lineage": {"base_model": "acme.super-model-v1"}},
            [
                "lineages.0",
                "'acme.super-model-v1' is not a model iterft can customize",
                "known: amazon.nova-2-lite-v1:0:256k, amazon.nova-lite-v1:0:300k",
            ],
            id="unknown-base-model",
        ),
        pytest.param(
            {"lineage": {"base_model": "amazon.nova-micro-v1:0"}},
            [
                "lineages.0",
                "on-demand id of Amazon Nova Micro",
                "customize it as 'amazon.nova-micro-v1:0:128k'",
            ],
            id="on-demand-id-as-base-model",
        ),
        pytest.param(
            {"lineage": {"base_model": "amazon.nova-2-lite-v1:0:256k", "hyperparameters": {"batchSize": 8}}},
            ["lineages.0", "batchSize is not a hyperparameter of the nova-2-lite family"],
            id="nova-2-lite-takes-nova-1-hyperparameters",
        ),
        pytest.param(
            {
                "lineage": {
                    "base_model": "arn:aws:bedrock:us-east-1:123456789012:custom-model/"
                    "amazon.nova-micro-v1:0:128k/abcdef012345",
                    "family": "claude-haiku",
                    "hyperparameters": {},
                }
            },
            ["lineages.0", "family: 'claude-haiku', but amazon.nova-micro-v1:0:128k is of family 'nova'"],
            id="family-other-than-the-custom-models-base",
        ),
        pytest.param(
            {"lineage": {"base_model": "arn:aws:bedrock:us-east-1:123456789012:custom-model/abc"}},
            ["lineages.0", "family: required", "does not name its base model"],
            id="custom-model-arn-without-family",
        ),
        pytest.param(
            {"lineage": {"serving": {"mode": "on_demand", "model_units": 2}}},
            ["lineages.0.serving", "model_units: only for mode provisioned"],
            id="model-units-without-provisioned",
        ),
        pytest.param(
            {"lineage": {"serving": {"mode": "provisioned", "commitment": "one_year"}}},
            ["lineages.0.serving.commitment", "none", "one_month", "six_months"],
            id="unknown-commitment",
        ),
        pytest.param(
            {"lineage": {"retention": {"keep_models": 0}}},
            ["lineages.0.retention.keep_models", "greater than or equal to 1"],
            id="keep-no-models",
        ),
        pytest.param(
            {"lineage": {"hyperparameters": {"epochCount": 9}}},
            ["lineages.0", "hyperparameters", "epochCount=9", "1..5"],
            id="hyperparameter-out-of-range",
        ),
        pytest.param(
            {"lineage": {"hyperparameters": {"batchSize": 8}}},
            ["lineages.0", "batchSize", "not a hyperparameter of the nova family"],
            id="hyperparameter-of-another-family",
        ),
        pytest.param(
            {"lineages": [VALID["lineages"][0], VALID["lineages"][0]]},
            ["lineages", "repeated: support-bot"],
            id="duplicate-lineage",
        ),
        pytest.param({"colour": "blue"}, ["colour", "Extra inputs are not permitted"], id="unknown-key"),
        pytest.param(
            {"lineage": {"gates": {"min_improvement": 0.1}}},
            ["lineages.0.gates", "Extra inputs are not permitted"],
            id="unknown-lineage-key",
        ),
        pytest.param({"lineages": []}, ["lineages", "at least 1"], id="no-lineage"),
        pytest.param(
            {"lineage": {"evaluation": {"metric": "bleu"}}},
            [
                "lineages.0.evaluation.metric",
                "unknown metric 'bleu'",
                "exact_match, judge, rouge_l, token_f1",
            ],
            id="unknown-primary-metric",
        ),
        pytest.param(
            {"lineage": {"evaluation": {"metric": "judge"}}},
            ["lineages.0.evaluation", "the 'judge' metric needs evaluation.judge"],
            id="judge-metric-without-a-judge",
        ),
        pytest.param(
            {"lineage": {"evaluation": {"judge": {"model": "amazon.nova-micro-v1:0:128k"}}}},
            ["lineages.0.evaluation.judge.model", "String should match pattern"],
            id="judge-not-an-on-demand-foundation-model",
        ),
        pytest.param(
            {"lineage": {"evaluation": {"guards": {"bedrock_non_toxicity": 0.01}}}},
            ["lineages.0.evaluation", "'bedrock_non_toxicity' metric needs evaluation.managed_job"],
            id="managed-metric-without-a-managed-job",
        ),
        pytest.param(
            {
                "lineage": {
                    "base_model": "amazon.titan-text-express-v1:0:8k",
                    "hyperparameters": {},
                    "serving": {"mode": "provisioned"},
                    "evaluation": {"metric": "bedrock_robustness", "managed_job": {"metrics": ["accuracy"]}},
                }
            },
            ["lineages.0.evaluation", "'bedrock_robustness' metric needs", "in managed_job.metrics"],
            id="managed-metric-not-computed-by-the-job",
        ),
        pytest.param(
            {
                "lineage": {
                    "base_model": "amazon.titan-text-express-v1:0:8k",
                    "hyperparameters": {},
                    "serving": {"mode": "provisioned"},
                    "evaluation_invoke_model": "arn:aws:bedrock:us-east-1:123456789012:custom-model/abc",
                    "evaluation": {"managed_job": {}},
                }
            },
            ["lineages.0", "evaluation_invoke_model", "cannot be evaluated by evaluation.managed_job"],
            id="managed-job-cannot-evaluate-the-starting-point",
        ),
        pytest.param(
            {
                "lineage": {
                    "evaluation": {
                        "managed_job": {
                            "evaluator_model": "amazon.nova-pro-v1:0",
                            "metrics": ["accuracy", "correctness"],
                        }
                    }
                }
            },
            ["lineages.0.evaluation.managed_job", "['accuracy'] are computed by a programmatic job"],
            id="programmatic-metric-in-a-judged-job",
        ),
        pytest.param(
            {"lineage": {"evaluation": {"managed_job": {"metrics": ["correctness"]}}}},
            ["lineages.0.evaluation.managed_job", "evaluator_model: judged metrics and custom_metrics need"],
            id="judged-metric-without-an-evaluator",
        ),
        pytest.param(
            {"lineage": {"evaluation": {"guards": {"bedrock_custom_policy": 0.05}}}},
            ["lineages.0.evaluation", "needs evaluation.managed_job.custom_metrics to define 'policy'"],
            id="custom-metric-not-defined",
        ),
        pytest.param(
            _custom_metrics(*(_custom_metric(f"m{index}") for index in range(11))),
            ["lineages.0.evaluation.managed_job.custom_metrics", "at most 10 items"],
            id="more-than-ten-custom-metrics",
        ),
        pytest.param(
            _custom_metrics(_custom_metric("policy", "Rate the answer", (0, 0))),
            [
                "custom_metrics.0.instructions",
                "put {{prediction}} in them",
                "custom_metrics.0.rating_scale",
                "each rating value once",
            ],
            id="custom-metric-that-cannot-score",
        ),
        pytest.param(
            {"lineage": {"evaluation": {"managed_job": {"metrics": ["fluency"]}}}},
            ["lineages.0.evaluation.managed_job.metrics", "unknown built-in metric(s) ['fluency']"],
            id="unknown-built-in-metric",
        ),
        pytest.param(
            {"lineage": {"evaluation": {"guards": {"rouge": 0.05}}}},
            ["lineages.0.evaluation.guards", "unknown metric 'rouge'"],
            id="unknown-guard-metric",
        ),
        pytest.param(
            {"lineage": {"evaluation": {"guards": {"exact_match": 1.5}}}},
            ["lineages.0.evaluation.guards.exact_match", "less than or equal to 1"],
            id="guard-tolerance-out-of-range",
        ),
        pytest.param(
            {"lineage": {"evaluation": {"metric": "rouge_l", "guards": {"rouge_l": 0.1}}}},
            ["lineages.0.evaluation", "'rouge_l' is the primary metric"],
            id="primary-metric-as-guard",
        ),
        pytest.param(
            {"lineage": {"gate": {"plateau_rounds": 0}}},
            ["lineages.0.gate.plateau_rounds", "greater than or equal to 1"],
            id="plateau-rounds-zero",
        ),
        pytest.param(
            {"lineage": {"approval": {"required": True, "timeout_hours": 0}}},
            ["lineages.0.approval.timeout_hours", "greater than 0"],
            id="approval-timeout-zero",
        ),
        pytest.param(
            {"lineage": {"approval": {"needed": True}}},
            ["lineages.0.approval.needed", "Extra inputs are not permitted"],
            id="unknown-approval-key",
        ),
        pytest.param(
            {"lineage": {"gate": {"plateau_threshold": -0.1}}},
            ["lineages.0.gate.plateau_threshold"],
            id="negative-plateau-threshold",
        ),
        pytest.param(
            {"lineage": {"cost": {"monthly_budget_usd": 100}}},
            [
                "lineages.0.cost",
                "monthly_budget_usd",
                "cost.training_usd_per_1k_tokens and cost.evaluation_capacity_usd_per_hour",
            ],
            id="budget-without-prices",
        ),
        pytest.param(
            {"lineage": {"cost": {"monthly_budget_usd": 100, "training_usd_per_1k_tokens": 0.01}}},
            ["lineages.0.cost", "set cost.evaluation_capacity_usd_per_hour"],
            id="budget-without-the-capacity-price",
        ),
        pytest.param(
            {"lineage": {"cost": {"training_usd_per_1k_tokens": -1}}},
            ["lineages.0.cost.training_usd_per_1k_tokens", "greater than or equal to 0"],
            id="negative-price",
        ),
        pytest.param(
            {"lineage": {"cost": {"monthly_budget_usd": 0}}},
            ["lineages.0.cost.monthly_budget_usd", "greater than 0"],
            id="zero-budget",
        ),
        pytest.param(
            {"retention": {"log_days": 45}}, ["retention.log_days", "45", "CloudWatch"], id="log-retention"
        ),
        pytest.param({"account": "12345"}, ["account"], id="account-not-12-digits"),
        pytest.param(
            {"evaluation": {"distributed_above_shards": 401}},
            ["evaluation.distributed_above_shards", "less than or equal to 400"],
            id="distributed-map-threshold-past-the-inline-limit",
        ),
        pytest.param(
            {"evaluation": {"distributed_above_shards": 0}},
            ["evaluation.distributed_above_shards", "greater than or equal to 1"],
            id="distributed-map-threshold-zero",
        ),
        pytest.param(
            {"notifications": {"emails": ["not-an-address"]}}, ["notifications.emails.0"], id="bad-email"
        ),
    ],
)
def test_a_broken_config_is_refused_naming_the_field(
    tmp_path: Path, change: dict, expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, _broken(change))
    message = str(raised.value)
    assert str(tmp_path / "test.yaml") in message
    for part in expected:
        assert part in message


def test_a_nova_2_lite_lineage_loads_with_its_own_family(tmp_path: Path) -> None:
    lineage = {**VALID["lineages"][0], "base_model": "amazon.nova-2-lite-v1:0:256k"}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({**VALID, "lineages": [lineage]}))
    family = load_config("test", tmp_path).lineages[0].model_family()
    assert family.name == "nova-2-lite"
    assert family.reasoning_content and not family.takes_validation_set


def test_gate_defaults_plateau_to_the_minimum_improvement(tmp_path: Path) -> None:
    lineage = {**VALID["lineages"][0], "gate": {"min_improvement": 0.03}}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({**VALID, "lineages": [lineage]}))
    gate = load_config("test", tmp_path).lineages[0].gate
    assert (gate.plateau_limit, gate.plateau_rounds, gate.pause_when_converged) == (0.03, 3, True)
    assert gate.model_copy(update={"plateau_threshold": 0.0}).plateau_limit == 0.0
    approval = load_config("test", tmp_path).lineages[0].approval
    assert (approval.required, approval.timeout_hours, approval.timeout_seconds) == (False, 72, 72 * 3600)
    assert approval.model_copy(update={"timeout_hours": 0.0001}).timeout_seconds == 1  # whole seconds, >= 1


def test_environment_must_match_the_file_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"environment: is 'prod', expected 'test'"):
        _load(tmp_path, {**VALID, "environment": "prod"})


def test_invalid_yaml_is_reported(tmp_path: Path) -> None:
    (tmp_path / "test.yaml").write_text("environment: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config("test", tmp_path)


def test_a_missing_config_lists_the_available_environments() -> None:
    with pytest.raises(
        ConfigError, match=r"no config for environment 'nope'.*available: .*\bdev\b.*\bprod\b"
    ):
        load_config("nope")


def test_build_app_without_an_environment_says_how_to_pass_one() -> None:
    with pytest.raises(ConfigError, match=r"pass -c env=NAME; available: .*\bdev\b.*\bprod\b"):
        build_app()


def test_build_app_without_the_lambda_layer_says_to_run_make_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(functions, "LAYER_DIR", tmp_path / "build" / "layer")
    with pytest.raises(LayerNotBuiltError, match="run `make setup`"):
        build_app("dev")
