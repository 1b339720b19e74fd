"""The capability table (models/capabilities.py): its lookups, the config checks at synth that ask it
(refusals naming the regions, serving modes, end of life, warnings), and that every config in the
repository passes them."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk.assertions import Annotations, Match
from iterft_runtime.models import capabilities
from iterft_runtime.models.capabilities import (
    CustomizationType,
    UnknownModelError,
    base_model_of,
    check_use,
    parse_custom_model_arn,
)
from iterft_runtime.models.capacity import CapacityKind
from iterft_runtime.models.families import (
    FAMILIES,
    NOVA,
    NOVA_MICRO,
    family_for_model,
    invocable_foundation_model_id,
)
from template_support import FIXTURE_CONFIG_DIR

from benchmarks.evaluation import config_yaml
from stacks.app_builder import build_app, synth_date
from stacks.config import CONFIG_DIR, ConfigError, check_models, load_config, parse_config

TODAY = date(2026, 12, 3)
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"
NOVA_MICRO_ID = "amazon.nova-micro-v1:0:128k"
LLAMA_31 = "meta.llama3-1-8b-instruct-v1:0:128k"
LLAMA_33 = "meta.llama3-3-70b-instruct-v1:0:128k"
HAIKU_EOL = date(2026, 9, 10)
GUIDE = "https://docs.aws.amazon.com/bedrock/latest/userguide/"


# The table --------------------------------------------------------------------------------------


def test_every_fact_names_the_page_it_comes_from() -> None:
    for row in capabilities.MODELS.values():
        facts = [*row.customization.values(), row.on_demand, row.provisioned]
        for fact in facts:
            assert not fact.regions or fact.source.startswith(GUIDE), (row.model_id, fact)
        assert row.lifecycle.source.startswith(GUIDE), row.model_id
        assert row.customization_regions(), f"{row.model_id} is customizable nowhere"


def test_every_row_has_a_family_iterft_trains_or_says_why_not() -> None:
    for row in capabilities.MODELS.values():
        if row.family is None:
            assert row.note, row.model_id
            with pytest.raises(UnknownModelError, match="has no family in iterft"):
                family_for_model(row.model_id)
        else:
            assert family_for_model(row.model_id).name == row.family in FAMILIES
    assert family_for_model(NOVA_MICRO_ID) is NOVA_MICRO
    assert family_for_model("amazon.nova-micro-v1:0") is NOVA_MICRO  # `iterft validate --model` takes either
    assert family_for_model("amazon.nova-pro-v1:0:300k") is NOVA


def test_it_covers_every_family_and_the_models_bedrock_facts_lists() -> None:
    assert {row.family for row in capabilities.MODELS.values()} - {None} == set(FAMILIES)
    for model_id in ("amazon.nova-2-lite-v1:0:256k", LLAMA_33, HAIKU, NOVA_MICRO_ID):
        assert model_id in capabilities.MODELS


@pytest.mark.parametrize(
    ("model_id", "kind", "regions"),
    [
        (HAIKU, CustomizationType.FINE_TUNING, ("us-west-2",)),
        (NOVA_MICRO_ID, CustomizationType.FINE_TUNING, ("us-east-1",)),
        (NOVA_MICRO_ID, CustomizationType.DISTILLATION, ("us-east-1",)),
        (NOVA_MICRO_ID, CustomizationType.CONTINUED_PRE_TRAINING, ()),
        ("amazon.nova-2-lite-v1:0:256k", CustomizationType.REINFORCEMENT_FINE_TUNING, ("us-east-1",)),
        (LLAMA_33, CustomizationType.DISTILLATION, ("us-west-2",)),
        (
            "amazon.titan-text-express-v1:0:8k",
            CustomizationType.CONTINUED_PRE_TRAINING,
            ("us-east-1", "us-west-2"),
        ),
    ],
)
def test_where_each_customization_runs(
    model_id: str, kind: CustomizationType, regions: tuple[str, ...]
) -> None:
    assert capabilities.model(model_id).customization_regions(kind) == regions


def test_distillation_students_name_their_teachers() -> None:
    assert capabilities.model(NOVA_MICRO_ID).teachers == (
        "amazon.nova-pro-v1:0",
        "us.amazon.nova-premier-v1:0",
    )
    assert capabilities.model(LLAMA_33).teachers == ("meta.llama3-1-405b-instruct-v1:0",)
    assert capabilities.model(HAIKU).teachers == ()


@pytest.mark.parametrize(
    ("model_id", "region", "capacity", "managed_job"),
    [
        (NOVA_MICRO_ID, "us-east-1", CapacityKind.DEPLOYMENT, False),
        (NOVA_MICRO_ID, "us-west-2", None, False),
        (LLAMA_33, "us-west-2", CapacityKind.DEPLOYMENT, False),
        (LLAMA_31, "us-west-2", CapacityKind.PROVISIONED, True),
        (HAIKU, "us-west-2", CapacityKind.PROVISIONED, True),
        ("amazon.titan-text-express-v1:0:8k", "us-east-1", CapacityKind.PROVISIONED, True),
        ("amazon.titan-text-lite-v1:0:4k", "us-east-1", None, False),
    ],
)
def test_evaluation_capacity_and_what_a_managed_job_can_evaluate(
    model_id: str, region: str, capacity: CapacityKind | None, managed_job: bool
) -> None:
    row = capabilities.model(model_id)
    assert row.evaluation_capacity(region) is capacity
    assert row.managed_job_can_evaluate(region) is managed_job


def test_end_of_life_is_per_region_as_the_model_card_says() -> None:
    haiku = capabilities.model(HAIKU)
    assert haiku.end_of_life_in("us-west-2") == HAIKU_EOL
    assert haiku.end_of_life_in("ca-central-1") is None  # still available there
    assert haiku.past_end_of_life("us-west-2", HAIKU_EOL)
    assert not haiku.past_end_of_life("us-west-2", date(2026, 9, 9))
    assert capabilities.model(NOVA_MICRO_ID).end_of_life_in("us-east-1") is None


def test_ids_arns_and_on_demand_ids() -> None:
    assert capabilities.find(f"arn:aws:bedrock:us-east-1::foundation-model/{NOVA_MICRO_ID}") is not None
    assert capabilities.by_inference_id("amazon.nova-pro-v1:0") is capabilities.model(
        "amazon.nova-pro-v1:0:300k"
    )
    assert (
        invocable_foundation_model_id("amazon.titan-text-express-v1:0:8k") == "amazon.titan-text-express-v1"
    )
    assert invocable_foundation_model_id(NOVA_MICRO_ID) == "amazon.nova-micro-v1:0"
    custom = f"arn:aws:bedrock:us-west-2:123456789012:custom-model/{LLAMA_31}/abcdef012345"
    assert parse_custom_model_arn(custom) == capabilities.CustomModelArn("us-west-2", LLAMA_31)
    assert base_model_of(custom) == LLAMA_31
    assert base_model_of("arn:aws:bedrock:us-east-1:123456789012:custom-model/abc") is None
    assert base_model_of(NOVA_MICRO_ID) == NOVA_MICRO_ID


def test_unknown_ids_are_refused_with_the_known_ones() -> None:
    with pytest.raises(UnknownModelError) as error:
        capabilities.model("acme.super-model-v1")
    assert all(model_id in str(error.value) for model_id in capabilities.MODELS)
    with pytest.raises(UnknownModelError, match=r"on-demand id of Amazon Nova Micro; customize it as"):
        capabilities.model("amazon.nova-micro-v1:0")


def test_check_use_sums_up_what_a_lineage_would_meet() -> None:
    haiku = capabilities.model(HAIKU)
    assert check_use(haiku, "us-west-2", date(2026, 1, 1), serving=CapacityKind.PROVISIONED).problems == []
    refused = check_use(haiku, "us-east-1", TODAY, serving=CapacityKind.DEPLOYMENT)
    assert len(refused.problems) == 3  # not customizable here, past its end of life, no on-demand
    assert refused.warnings == []


# The config at synth --------------------------------------------------------------------------


def _config(region: str | None, **lineage: object) -> dict:
    data: dict = {"environment": "test", "lineages": [{"name": "claims-triage", **lineage}]}
    if region:
        data["region"] = region
    return data


def _check(data: dict, today: date = TODAY, region: str | None = None) -> list:
    config = parse_config(copy.deepcopy(data), "test.yaml")
    return check_models(config, region or config.region, today, "test.yaml")


def _refusal(data: dict, today: date = TODAY) -> str:
    with pytest.raises(ConfigError) as raised:
        _check(data, today)
    return str(raised.value)


HAIKU_LINEAGE = {"base_model": HAIKU, "hyperparameters": {}, "serving": {"mode": "provisioned"}}


def test_a_base_model_not_customizable_in_the_region_is_refused_naming_where_it_is() -> None:
    message = _refusal(_config("us-east-1", **HAIKU_LINEAGE), today=date(2026, 1, 1))
    assert message.startswith("test.yaml: not deployable in us-east-1 as of 2026-01-01")
    assert "lineages.0 (claims-triage): Anthropic Claude 3 Haiku" in message
    assert "cannot be customized by FINE_TUNING in us-east-1; it can in us-west-2" in message
    assert GUIDE + "custom-model-fine-tuning.html" in message
    message = _refusal(_config("us-west-2", base_model=NOVA_MICRO_ID))
    assert "cannot be customized by FINE_TUNING in us-west-2; it can in us-east-1" in message


@pytest.mark.parametrize(
    ("region", "lineage", "expected"),
    [
        (
            "us-west-2",
            {"base_model": LLAMA_31, "hyperparameters": {}},  # on_demand by default
            "serving.mode: on_demand is not available for Meta Llama 3.1 8B Instruct custom models in "
            "us-west-2 (on-demand custom model deployment: no region",
        ),
        (
            "us-west-2",
            {"base_model": LLAMA_33, "hyperparameters": {}, "serving": {"mode": "provisioned"}},
            "serving.mode: provisioned is not available for Meta Llama 3.3 70B Instruct custom models in "
            "us-west-2 (provisioned throughput: no region",
        ),
        (
            "us-east-1",
            {"base_model": NOVA_MICRO_ID, "evaluation": {"managed_job": {}}},
            "evaluation.managed_job: accuracy, robustness and toxicity are not available for Amazon Nova "
            "Micro in us-east-1: a programmatic evaluation job invokes the model, its evaluation capacity "
            "there is an on-demand custom model deployment",
        ),
        (
            "us-east-1",
            {
                "base_model": "amazon.titan-text-lite-v1:0:4k",
                "hyperparameters": {},
                "serving": {"mode": "none"},
            },
            "can be neither deployed on demand nor provisioned in us-east-1, so no round could evaluate one",
        ),
    ],
)
def test_what_the_model_cannot_do_in_the_region_is_refused(region: str, lineage: dict, expected: str) -> None:
    assert expected in _refusal(_config(region, **lineage))


def test_a_model_past_its_end_of_life_is_refused_and_one_near_it_warned_about() -> None:
    data = _config("us-west-2", **HAIKU_LINEAGE)
    for today in (TODAY, HAIKU_EOL):
        message = _refusal(data, today)
        assert (
            "Anthropic Claude 3 Haiku (anthropic.claude-3-haiku-20240307-v1:0:200k) reached its end of life "
            in message
        )
        assert f"in us-west-2 on 2026-09-10 ({GUIDE}model-card-anthropic-claude-3-haiku.html)" in message
    (warning,) = _check(data, date(2026, 6, 12))
    assert warning.lineage == "claims-triage"
    assert "reaches its end of life in us-west-2 on 2026-09-10, in 90 days" in warning.message
    assert _check(data, date(2026, 6, 11)) == []  # 91 days ahead: no warning yet


JUDGED = {
    "metric": "bedrock_correctness",
    "managed_job": {"evaluator_model": "amazon.nova-pro-v1:0", "metrics": ["correctness", "completeness"]},
}
CUSTOM_METRIC = {
    "name": "policy",
    "instructions": "Does the response follow the policy? {{prompt}} {{prediction}} {{ground_truth}}",
    "rating_scale": [{"definition": "No", "value": 0}, {"definition": "Yes", "value": 1}],
}


def test_a_nova_lineage_served_on_demand_may_be_gated_on_judged_metrics() -> None:
    """The synth refusal of `bedrock_*` metrics on on-demand evaluation capacity is only for a programmatic
    job (it invokes the model); a judged job grades precomputed answers, so it is accepted for Nova."""
    data = _config("us-east-1", base_model=NOVA_MICRO_ID, evaluation=JUDGED)
    assert _check(data) == []
    custom = {**JUDGED, "managed_job": {**JUDGED["managed_job"], "custom_metrics": [CUSTOM_METRIC]}}
    custom["guards"] = {"bedrock_custom_policy": 0.05}
    assert _check(_config("us-east-1", base_model=NOVA_MICRO_ID, evaluation=custom)) == []
    row = capabilities.model(NOVA_MICRO_ID)
    assert not row.managed_job_can_evaluate("us-east-1") and row.judged_job_can_evaluate("us-east-1")


@pytest.mark.parametrize(
    ("managed_job", "expected"),
    [
        # Llama 3.3 70B judges custom metrics only (evaluation-judge's two lists).
        (
            {"evaluator_model": "meta.llama3-3-70b-instruct-v1:0", "metrics": ["correctness"]},
            "evaluator_model: meta.llama3-3-70b-instruct-v1:0 does not judge built-in metrics",
        ),
        (
            {"evaluator_model": "amazon.titan-text-express-v1", "custom_metrics": [CUSTOM_METRIC]},
            "evaluator_model: amazon.titan-text-express-v1 does not judge custom metrics",
        ),
    ],
)
def test_an_evaluator_bedrock_does_not_list_is_refused(managed_job: dict, expected: str) -> None:
    evaluation = {"managed_job": managed_job}
    message = _refusal(_config("us-east-1", base_model=NOVA_MICRO_ID, evaluation=evaluation))
    assert expected in message and GUIDE + "evaluation-judge.html" in message


def test_cross_region_profiles_of_listed_evaluators_are_evaluators() -> None:
    assert capabilities.evaluator("us.amazon.nova-pro-v1:0") == capabilities.evaluator("amazon.nova-pro-v1:0")
    assert capabilities.evaluator("amazon.nova-lite-v1:0") is None


def test_a_judge_past_its_end_of_life_is_refused() -> None:
    data = _config("us-east-1", base_model=NOVA_MICRO_ID)
    data["lineages"][0]["evaluation"] = {"judge": {"model": "anthropic.claude-3-haiku-20240307-v1:0"}}
    assert (
        "evaluation.judge.model: anthropic.claude-3-haiku-20240307-v1:0 reached its end of life in us-east-1"
        in (_refusal(data))
    )
    (warning,) = _check(data, date(2026, 8, 1))
    assert (
        "evaluation.judge.model: anthropic.claude-3-haiku-20240307-v1:0 reaches its end of life"
        in warning.message
    )


def test_a_custom_starting_point_is_asked_about_by_its_base_model() -> None:
    custom_haiku = f"arn:aws:bedrock:us-west-2:123456789012:custom-model/{HAIKU}/abcdef012345"
    message = _refusal(_config("us-west-2", **{**HAIKU_LINEAGE, "base_model": custom_haiku}))
    assert (
        "Anthropic Claude 3 Haiku (anthropic.claude-3-haiku-20240307-v1:0:200k) reached its end of life"
        in message
    )
    custom_nova = f"arn:aws:bedrock:us-east-1:123456789012:custom-model/{NOVA_MICRO_ID}/abcdef012345"
    assert _check(_config("us-east-1", base_model=custom_nova)) == []
    message = _refusal(_config("us-west-2", base_model=custom_nova))
    assert "base_model: the custom model is in us-east-1, the stack in us-west-2" in message
    assert "cannot be customized by FINE_TUNING in us-west-2" in message
    short = _config(
        "us-east-1", base_model="arn:aws:bedrock:us-east-1:123456789012:custom-model/abc", family="nova"
    )
    assert "does not name its base model" in _refusal(short)


def test_the_region_must_be_known_at_synth() -> None:
    with pytest.raises(ConfigError, match=r"region: unknown at synth.*CDK_DEFAULT_REGION"):
        _check(_config(None, base_model=NOVA_MICRO_ID))
    assert _check(_config(None, base_model=NOVA_MICRO_ID), region="us-east-1") == []  # from the CLI's default


def _write(tmp_path: Path, data: dict) -> None:
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(data))


def test_synth_refuses_the_config_naming_its_file(tmp_path: Path) -> None:
    _write(tmp_path, _config("us-east-1", **HAIKU_LINEAGE))
    with pytest.raises(
        ConfigError, match=r"test\.yaml: not deployable in us-east-1 as of 2026-12-03"
    ) as raised:
        build_app("test", str(tmp_path / "out"), tmp_path, today=TODAY)
    assert "it can in us-west-2" in str(raised.value)


def test_synth_warns_when_the_end_of_life_is_near(tmp_path: Path) -> None:
    _write(tmp_path, _config("us-west-2", **HAIKU_LINEAGE))
    app = build_app("test", str(tmp_path / "out"), tmp_path, today=date(2026, 7, 1))
    (stack,) = [child for child in app.node.children if isinstance(child, cdk.Stack)]
    Annotations.from_stack(stack).has_warning(
        "/iterft-test",
        Match.string_like_regexp("reaches its end of life in us-west-2 on 2026-09-10, in 71 days"),
    )


def test_the_synth_date_comes_from_the_context() -> None:
    assert synth_date(cdk.App(context={"today": "2026-09-10"})) == HAIKU_EOL
    with pytest.raises(ConfigError, match=r"-c today=soon: not a date"):
        synth_date(cdk.App(context={"today": "soon"}))


# Every config in the repository ----------------------------------------------------------------


def _repository_configs() -> list[tuple[str, Path]]:
    found = [(path.stem, CONFIG_DIR) for path in sorted(CONFIG_DIR.glob("*.yaml"))]
    return found + [(path.stem, FIXTURE_CONFIG_DIR) for path in sorted(FIXTURE_CONFIG_DIR.glob("*.yaml"))]


@pytest.mark.parametrize(("environment", "directory"), _repository_configs(), ids=lambda value: str(value))
def test_every_config_in_the_repository_deploys_today(environment: str, directory: Path) -> None:
    """Today's date, not a fixed one: a model of a shipped config nearing its end of life fails here
    first (a warning is accepted; a refusal is not)."""
    config = load_config(environment, directory)
    check_models(config, config.region, synth_date(cdk.App()), f"{directory}/{environment}.yaml")


def test_the_configs_checked_include_the_shipped_and_the_fixture_ones() -> None:
    assert {name for name, _ in _repository_configs()} >= {"dev", "prod", "itest", "oregon"}


def test_the_benchmark_config_deploys_today(tmp_path: Path) -> None:
    config = parse_config(yaml.safe_load(config_yaml(concurrency=4)), "bench.yaml")
    check_models(config, config.region, synth_date(cdk.App()), "bench.yaml")


def test_prod_no_longer_grows_claude_3_haiku() -> None:
    """config/prod.yaml's claims-triage: the closest model a us-east-1 stack can fine-tune, served on
    provisioned throughput, judged, and without the managed job its Nova evaluation capacity rules out."""
    lineage = load_config("prod").lineage("claims-triage")
    assert lineage.base_model == "amazon.nova-lite-v1:0:300k"
    assert lineage.serving.mode == "provisioned" and lineage.serving.commitment == "one_month"
    assert lineage.evaluation.judge is not None and lineage.evaluation.managed_job is None
