"""The capability table: which model can be customized by which strategy, deployed on demand,
provisioned or evaluated, in which region, until when; each fact with the Bedrock user guide page it
comes from. Plain data and small lookups: the config check at synth, the runtime's choice of
evaluation capacity and the Bedrock stand-in all ask this table, and docs/capabilities.md is
generated from it (a test keeps the two equal).

Read on 2026-12-03. Where the pages are silent a capability is left out (refused), never assumed;
where they disagree the row's `note` says so. Regions are AWS region codes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from iterft_runtime.models.capacity import CapacityKind

_GUIDE = "https://docs.aws.amazon.com/bedrock/latest/userguide/"
FINE_TUNING_PAGE = _GUIDE + "custom-model-fine-tuning.html"
"""Supported models and Regions for fine-tuning (the table with Nova 2 Lite and Llama 3.3 70B)."""
CUSTOMIZATION_PAGE = _GUIDE + "custom-model-supported.html"
"""Supported models and Regions for fine-tuning and continued pre-training (lists Titan Text)."""
DISTILLATION_PAGE = _GUIDE + "prequisites-model-distillation.html"
RFT_PAGE = _GUIDE + "reinforcement-fine-tuning.html"
ON_DEMAND_PAGE = _GUIDE + "deploy-custom-model-on-demand.html"
PROVISIONED_PAGE = _GUIDE + "prov-thru-supported.html"
PROVISIONED_TITAN_PAGE = _GUIDE + "pt-supported.html"
"""The earlier edition of the provisioned throughput table: the one that lists Titan Text Express."""
EVALUATION_PAGE = _GUIDE + "evaluation-support.html"
"""Supported Regions and models for model evaluation (the Regions list)."""
EVALUATOR_PAGE = _GUIDE + "evaluation-judge.html"
"""Evaluate model performance using another LLM as a judge: the supported evaluator models, one list for
built-in metrics and one for custom metrics."""
PRECOMPUTED_INFERENCE_PAGE = _GUIDE + "model-evaluation-prompt-datasets-judge.html"
"""The judge job's prompt dataset, and the one with your own inference responses (`modelResponses`)."""
LIFECYCLE_PAGE = _GUIDE + "model-lifecycle.html"
CLAUDE_3_HAIKU_CARD = _GUIDE + "model-card-anthropic-claude-3-haiku.html"
TITAN_TEXT_PAGE = _GUIDE + "titan-text-models.html"
MODEL_EVALUATION_API = (
    "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_EvaluationBedrockModel.html"
)

US_EAST_1 = "us-east-1"
US_WEST_2 = "us-west-2"

ON_DEMAND_CUSTOMIZED_SINCE = date(2025, 7, 16)
"""An on-demand deployment takes custom models customized on or after this date (ON_DEMAND_PAGE)."""

EVALUABLE_MODEL_ID = re.compile(
    r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:((:foundation-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}"
    r"([.:]?[a-z0-9-]{1,63}))|([0-9]{12}:provisioned-model/[a-z0-9]{12})|([0-9]{12}:imported-model/[a-z0-9]{12})"
    r"|([0-9]{12}:application-inference-profile/[a-z0-9]{12})|([0-9]{12}:inference-profile/(([a-z-]{2,8}.)"
    r"[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63})))|([0-9]{12}:(default-prompt-router|prompt-router)"
    r"/[a-zA-Z0-9-:.]+)))|(([a-z]{2,4}[.]{1})([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63})))"
    r"|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63}))"
    r"|arn:aws(-[^:]+)?:sagemaker:[a-z0-9-]{1,20}:[0-9]{12}:endpoint/[a-z0-9-]{1,63}"
)
"""botocore's EvaluationBedrockModel.modelIdentifier pattern, verbatim (MODEL_EVALUATION_API): what an
evaluation job can evaluate. Bedrock checks it (botocore does not): custom model and custom model
deployment ARNs do not match it, so a custom model is evaluated through its provisioned throughput's
ARN, and a model whose evaluation capacity is an on-demand deployment cannot be evaluated by a job."""

_CUSTOM_MODEL_ARN = re.compile(
    r"arn:aws[a-z-]*:bedrock:(?P<region>[a-z0-9-]+):\d{12}:custom-model/(?P<base>[a-z0-9-]+\.[^/]+)/[a-z0-9]{12}"
)
"""A custom model ARN as Bedrock writes it (botocore's CustomModelArn): it names its base model."""
_FOUNDATION_MODEL_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:[a-z0-9-]*::foundation-model/(?P<model>.+)")


class CustomizationType(StrEnum):
    """CreateModelCustomizationJob's `customizationType` (IMPORTED is not a training strategy)."""

    FINE_TUNING = "FINE_TUNING"
    CONTINUED_PRE_TRAINING = "CONTINUED_PRE_TRAINING"
    DISTILLATION = "DISTILLATION"
    """As the student, from one of the row's `teachers`."""
    REINFORCEMENT_FINE_TUNING = "REINFORCEMENT_FINE_TUNING"


class UnknownModelError(ValueError):
    """The model id is in no row of the table (or in no family iterft can train)."""


@dataclass(frozen=True)
class Fact:
    """Where something is documented to work, and the page that says so. No regions: nowhere."""

    regions: tuple[str, ...] = ()
    source: str = ""

    def __contains__(self, region: object) -> bool:
        return region in self.regions


NOWHERE = Fact()


@dataclass(frozen=True)
class Lifecycle:
    end_of_life: date | None
    """None: no end-of-life date is published (the model is Active)."""
    source: str
    still_available_in: tuple[str, ...] = ()
    """Regions where the model card says it remains available after its end-of-life date."""

    def end_of_life_in(self, region: str) -> date | None:
        return None if region in self.still_available_in else self.end_of_life


@dataclass(frozen=True)
class ModelCapabilities:
    """One customizable foundation model, by its customization id (with its context suffix)."""

    model_id: str
    name: str
    family: str | None
    """The training-data family iterft validates its data against (models/families.py); None: Bedrock
    customizes it but iterft has no family for it yet, so no lineage can start from it."""
    customization: dict[CustomizationType, Fact]
    on_demand: Fact
    """Custom models of this base can be deployed for on-demand inference (custom model deployment)."""
    provisioned: Fact
    """Provisioned throughput can be bought for custom models of this base."""
    lifecycle: Lifecycle
    teachers: tuple[str, ...] = ()
    """Distillation teachers (model or inference profile ids) this model is a student of."""
    note: str = ""
    on_demand_id: str | None = None
    """The foundation model's on-demand id when it is not the customization id cut at its context
    suffix (Titan Text's carry no `:0`: TITAN_TEXT_PAGE)."""

    @property
    def inference_id(self) -> str:
        """The foundation model's on-demand id: `amazon.nova-micro-v1:0:128k` -> `amazon.nova-micro-v1:0`."""
        return self.on_demand_id or ":".join(self.model_id.split(":")[:2])

    def customization_regions(
        self, kind: CustomizationType = CustomizationType.FINE_TUNING
    ) -> tuple[str, ...]:
        return self.customization.get(kind, NOWHERE).regions

    def can_customize(self, region: str, kind: CustomizationType = CustomizationType.FINE_TUNING) -> bool:
        return region in self.customization_regions(kind)

    def evaluation_capacity(self, region: str) -> CapacityKind | None:
        """The cheapest way a custom model of this base answers an evaluation set in `region`: an
        on-demand deployment (no hourly charge) where there is one, else one no-commitment model unit
        of provisioned throughput; None where neither exists."""
        if region in self.on_demand:
            return CapacityKind.DEPLOYMENT
        if region in self.provisioned:
            return CapacityKind.PROVISIONED
        return None

    def managed_job_can_evaluate(self, region: str) -> bool:
        """Whether Bedrock's evaluation job can invoke this model's evaluation capacity in `region`
        (a programmatic job): only provisioned throughput (EVALUABLE_MODEL_ID takes no custom model
        deployment). A judged job over precomputed responses invokes no evaluated model
        (`judged_job_can_evaluate`)."""
        return self.evaluation_capacity(region) is CapacityKind.PROVISIONED

    def judged_job_can_evaluate(self, region: str) -> bool:
        """Whether a judged evaluation job can grade this model's answers in `region`: it reads them as
        precomputed inference, so whatever the capacity, where Bedrock runs model evaluation at all."""
        return self.evaluation_capacity(region) is not None and region in MODEL_EVALUATION_REGIONS

    def end_of_life_in(self, region: str) -> date | None:
        return self.lifecycle.end_of_life_in(region)

    def past_end_of_life(self, region: str, today: date) -> bool:
        end = self.end_of_life_in(region)
        return end is not None and today >= end


_ACTIVE = Lifecycle(None, LIFECYCLE_PAGE)
_NOVA_PRO = "amazon.nova-pro-v1:0"
_NOVA_PREMIER = "us.amazon.nova-premier-v1:0"
_LLAMA_405B = "meta.llama3-1-405b-instruct-v1:0"
_LLAMA_31_70B = "meta.llama3-1-70b-instruct-v1:0"
_LLAMA_33_70B = "meta.llama3-3-70b-instruct-v1:0"
_TITAN_NOTE = (
    "custom-model-supported lists Titan Text for fine-tuning and continued pre-training; the newer "
    "custom-model-fine-tuning table and prov-thru-supported no longer list it, and no end-of-life date "
    "was found: re-check before relying on it."
)


def _in_one_region(
    region: str,
    model_id: str,
    name: str,
    family: str,
    teachers: tuple[str, ...] = (),
    *,
    on_demand: bool,
    provisioned: bool = True,
) -> ModelCapabilities:
    """A model Bedrock fine-tunes in one region (and distills into there, when it names teachers), with
    on-demand deployment and provisioned throughput there or nowhere."""
    customization = {CustomizationType.FINE_TUNING: Fact((region,), FINE_TUNING_PAGE)}
    if teachers:
        customization[CustomizationType.DISTILLATION] = Fact((region,), DISTILLATION_PAGE)
    return ModelCapabilities(
        model_id=model_id,
        name=name,
        family=family,
        customization=customization,
        on_demand=Fact((region,), ON_DEMAND_PAGE) if on_demand else NOWHERE,
        provisioned=Fact((region,), PROVISIONED_PAGE) if provisioned else NOWHERE,
        lifecycle=_ACTIVE,
        teachers=teachers,
    )


def _nova(model_id: str, name: str, teachers: tuple[str, ...]) -> ModelCapabilities:
    return _in_one_region(US_EAST_1, model_id, name, "nova", teachers, on_demand=True)


def _llama(model_id: str, name: str, family: str, teachers: tuple[str, ...] = ()) -> ModelCapabilities:
    return _in_one_region(US_WEST_2, model_id, name, family, teachers, on_demand=False)


def _titan(model_id: str, name: str, provisioned: Fact) -> ModelCapabilities:
    """Titan Text G1; its on-demand id is the customization id without `:0:<context>`."""
    both = (US_EAST_1, US_WEST_2)
    return ModelCapabilities(
        model_id=model_id,
        name=name,
        family="prompt-completion",
        customization={
            CustomizationType.FINE_TUNING: Fact(both, CUSTOMIZATION_PAGE),
            CustomizationType.CONTINUED_PRE_TRAINING: Fact(both, CUSTOMIZATION_PAGE),
        },
        on_demand=NOWHERE,
        provisioned=provisioned,
        lifecycle=_ACTIVE,
        note=_TITAN_NOTE,
        on_demand_id=model_id.split(":")[0],
    )


_ROWS = (
    _nova("amazon.nova-micro-v1:0:128k", "Amazon Nova Micro", (_NOVA_PRO, _NOVA_PREMIER)),
    _nova("amazon.nova-lite-v1:0:300k", "Amazon Nova Lite", (_NOVA_PRO, _NOVA_PREMIER)),
    _nova("amazon.nova-pro-v1:0:300k", "Amazon Nova Pro", (_NOVA_PREMIER,)),
    ModelCapabilities(
        model_id="amazon.nova-2-lite-v1:0:256k",
        name="Amazon Nova 2 Lite",
        family="nova-2-lite",
        customization={
            CustomizationType.FINE_TUNING: Fact((US_EAST_1,), FINE_TUNING_PAGE),
            CustomizationType.REINFORCEMENT_FINE_TUNING: Fact((US_EAST_1,), RFT_PAGE),
        },
        on_demand=Fact((US_EAST_1,), ON_DEMAND_PAGE),
        provisioned=Fact((US_EAST_1,), PROVISIONED_PAGE),
        lifecycle=_ACTIVE,
        note=(
            "Its fine-tuning data (nova-2-sft-data-prep) is Nova 1's format plus reasoningContent in "
            "assistant turns, images (png, jpeg, gif) or videos (mov, mkv, mp4) but not both in one dataset, "
            "no tool use, at least 200 records (AWS's Nova dataset validator), and no validation set. No "
            "Bedrock page gives its fine-tuning hyperparameters: iterft checks Nova 1's ranges "
            "(cm-hp-nova-mm)."
        ),
    ),
    ModelCapabilities(
        model_id="anthropic.claude-3-haiku-20240307-v1:0:200k",
        name="Anthropic Claude 3 Haiku",
        family="claude-haiku",
        customization={CustomizationType.FINE_TUNING: Fact((US_WEST_2,), FINE_TUNING_PAGE)},
        on_demand=NOWHERE,
        provisioned=Fact(("ap-southeast-2", "eu-west-3", US_EAST_1, US_WEST_2), PROVISIONED_PAGE),
        lifecycle=Lifecycle(
            date(2026, 9, 10),
            CLAUDE_3_HAIKU_CARD,
            still_available_in=("ap-northeast-2", "ca-central-1", "eu-central-2", "sa-east-1"),
        ),
        note="End of life on 2026-09-10 in most regions, us-west-2 (its only fine-tuning region) included.",
    ),
    _llama(
        "meta.llama3-1-8b-instruct-v1:0:128k",
        "Meta Llama 3.1 8B Instruct",
        "llama-prompt-completion",
        (_LLAMA_405B, _LLAMA_31_70B, _LLAMA_33_70B),
    ),
    _llama(
        "meta.llama3-1-70b-instruct-v1:0:128k",
        "Meta Llama 3.1 70B Instruct",
        "llama-prompt-completion",
        (_LLAMA_405B,),
    ),
    _llama(
        "meta.llama3-2-1b-instruct-v1:0:128k",
        "Meta Llama 3.2 1B Instruct",
        "llama-conversation",
        (_LLAMA_405B, _LLAMA_31_70B, _LLAMA_33_70B),
    ),
    _llama(
        "meta.llama3-2-3b-instruct-v1:0:128k",
        "Meta Llama 3.2 3B Instruct",
        "llama-conversation",
        (_LLAMA_31_70B, _LLAMA_33_70B),
    ),
    _llama("meta.llama3-2-11b-instruct-v1:0:128k", "Meta Llama 3.2 11B Instruct", "llama-conversation"),
    _llama("meta.llama3-2-90b-instruct-v1:0:128k", "Meta Llama 3.2 90B Instruct", "llama-conversation"),
    _in_one_region(
        US_WEST_2,
        "meta.llama3-3-70b-instruct-v1:0:128k",
        "Meta Llama 3.3 70B Instruct",
        "llama-conversation",
        (_LLAMA_405B,),
        on_demand=True,
        provisioned=False,
    ),
    _titan(
        "amazon.titan-text-express-v1:0:8k",
        "Amazon Titan Text G1 - Express",
        Fact(
            (
                "ap-south-1",
                "ap-southeast-2",
                "ca-central-1",
                "eu-west-1",
                "eu-west-2",
                "eu-west-3",
                "sa-east-1",
                US_EAST_1,
                US_WEST_2,
            ),
            PROVISIONED_TITAN_PAGE,
        ),
    ),
    _titan("amazon.titan-text-lite-v1:0:4k", "Amazon Titan Text G1 - Lite", NOWHERE),
)

MODELS: dict[str, ModelCapabilities] = {row.model_id: row for row in _ROWS}
"""Every customizable model iterft knows, by its customization id."""

MODEL_EVALUATION_REGIONS = (
    "ap-northeast-1",
    "ap-south-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    US_EAST_1,
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    US_WEST_2,
)
"""Where Bedrock runs model evaluation jobs (EVALUATION_PAGE)."""


@dataclass(frozen=True)
class Evaluator:
    """A model Bedrock lets judge an evaluation job (EVALUATOR_PAGE), by its on-demand id."""

    model_id: str
    name: str
    builtin: bool
    """Judges the built-in metrics (Builtin.Correctness and the rest)."""
    custom: bool
    """Judges custom metrics."""


def _evaluators() -> dict[str, Evaluator]:
    both = (
        ("amazon.nova-pro-v1:0", "Amazon Nova Pro"),
        ("amazon.nova-2-lite-v1:0", "Amazon Nova 2 Lite"),
        ("amazon.nova-micro-v1:0", "Amazon Nova Micro"),
        ("amazon.nova-premier-v1:0", "Amazon Nova Premier"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "Anthropic Claude 3.5 Sonnet v1"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "Anthropic Claude 3.5 Sonnet v2"),
        ("anthropic.claude-3-7-sonnet-20250219-v1:0", "Anthropic Claude 3.7 Sonnet"),
        ("anthropic.claude-sonnet-4-20250514-v1:0", "Anthropic Claude Sonnet 4"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "Anthropic Claude 3 Haiku"),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "Anthropic Claude 3.5 Haiku"),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", "Anthropic Claude Haiku 4.5"),
        ("anthropic.claude-opus-4-5-20251101-v1:0", "Anthropic Claude Opus 4.5"),
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", "Anthropic Claude Sonnet 4.5"),
        ("meta.llama3-1-70b-instruct-v1:0", "Meta Llama 3.1 70B Instruct"),
        ("mistral.mistral-large-2402-v1:0", "Mistral Large (24.02)"),
    )
    custom_only = (
        ("mistral.mistral-large-2407-v1:0", "Mistral Large (24.07)"),
        ("meta.llama3-3-70b-instruct-v1:0", "Meta Llama 3.3 70B Instruct"),
    )
    found = {model: Evaluator(model, name, builtin=True, custom=True) for model, name in both}
    found.update({model: Evaluator(model, name, builtin=False, custom=True) for model, name in custom_only})
    return found


EVALUATORS: dict[str, Evaluator] = _evaluators()
"""The evaluator models of LLM-as-a-judge jobs (EVALUATOR_PAGE, read 2026-12-03): all judge built-in and
custom metrics but Mistral Large 24.07 and Llama 3.3 70B, which judge custom metrics only. The page also
accepts their cross-Region inference profiles (`us.`, `eu.`, ... prefixed)."""
_GEO_PREFIX = re.compile(r"^(us|eu|apac|jp|au|ca|us-gov|global)\.")


def evaluator(model_id: str) -> Evaluator | None:
    """The evaluator a model id or cross-Region inference profile id names; None when Bedrock's page
    does not list it."""
    return EVALUATORS.get(_GEO_PREFIX.sub("", model_id, count=1))


def known_models() -> str:
    return ", ".join(sorted(MODELS))


def find(model_id: str) -> ModelCapabilities | None:
    """The row of a customization id or a foundation model ARN naming one; None if the table has none."""
    foundation = _FOUNDATION_MODEL_ARN.fullmatch(model_id)
    return MODELS.get(foundation.group("model") if foundation else model_id)


def by_inference_id(model_id: str) -> ModelCapabilities | None:
    """The row whose on-demand id (no context suffix) is `model_id`, or a foundation model ARN of it."""
    foundation = _FOUNDATION_MODEL_ARN.fullmatch(model_id)
    wanted = foundation.group("model") if foundation else model_id
    return next((row for row in _ROWS if row.inference_id == wanted), None)


def model(model_id: str) -> ModelCapabilities:
    """The row of a customization id; unknown ids are refused with the ids the table knows."""
    row = find(model_id)
    if row is not None:
        return row
    alias = by_inference_id(model_id)
    if alias is not None:
        raise UnknownModelError(
            f"{model_id!r} is the on-demand id of {alias.name}; customize it as {alias.model_id!r}"
        )
    raise UnknownModelError(f"{model_id!r} is not a model iterft can customize; known: {known_models()}")


@dataclass(frozen=True)
class CustomModelArn:
    region: str
    base_model: str
    """The customization id of the foundation model it was customized from."""


def parse_custom_model_arn(arn: str) -> CustomModelArn | None:
    """A custom model ARN's region and base model; None when the ARN does not name its base model."""
    match = _CUSTOM_MODEL_ARN.fullmatch(arn)
    return CustomModelArn(match.group("region"), match.group("base")) if match else None


def base_model_of(identifier: str) -> str | None:
    """The foundation model a base model identifier comes down to: itself (an id or a foundation model
    ARN), or the base a custom model ARN names; None when it names none."""
    custom = parse_custom_model_arn(identifier)
    if custom is not None:
        return custom.base_model
    if ":custom-model/" in identifier:
        return None
    foundation = _FOUNDATION_MODEL_ARN.fullmatch(identifier)
    return foundation.group("model") if foundation else identifier


def regions_text(regions: Iterable[str]) -> str:
    listed = sorted(regions)
    return ", ".join(listed) if listed else "no region"


END_OF_LIFE_WARNING_DAYS = 90
"""Within this many days of a model's end of life, a config using it is accepted with a warning."""


@dataclass
class Verdict:
    """What the table says of one use of a model in one region: refusals, and warnings."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def lifecycle_verdict(row: ModelCapabilities, region: str, today: date, subject: str) -> Verdict:
    """A refusal once `row` is past its end of life in `region`, a warning within
    END_OF_LIFE_WARNING_DAYS of it; `subject` names the model in the messages."""
    verdict = Verdict()
    end = row.end_of_life_in(region)
    if end is None:
        return verdict
    days = (end - today).days
    if days <= 0:
        verdict.problems.append(
            f"{subject} reached its end of life in {region} on {end.isoformat()} ({row.lifecycle.source}); "
            "choose an active model"
        )
    elif days <= END_OF_LIFE_WARNING_DAYS:
        verdict.warnings.append(
            f"{subject} reaches its end of life in {region} on {end.isoformat()}, in {days} days "
            f"({row.lifecycle.source}): plan the move to an active model"
        )
    return verdict


def check_use(
    row: ModelCapabilities,
    region: str,
    today: date,
    *,
    customization: CustomizationType = CustomizationType.FINE_TUNING,
    serving: CapacityKind | None = None,
    managed_job: bool = False,
    judged: bool = False,
) -> Verdict:
    """Whether a lineage can grow from `row` in `region` as of `today`: customized by `customization`,
    evaluated on the cheapest capacity the model has there (by a managed evaluation job too when
    `managed_job`: a judged one when `judged`, else a programmatic one), and served on `serving` (None:
    nothing serves)."""
    verdict = Verdict()
    if not row.can_customize(region, customization):
        verdict.problems.append(
            f"{row.name} ({row.model_id}) cannot be customized by {customization} in {region}; it can in "
            f"{regions_text(row.customization_regions(customization))} "
            f"({row.customization.get(customization, NOWHERE).source or FINE_TUNING_PAGE})"
        )
    lifecycle = lifecycle_verdict(row, region, today, f"{row.name} ({row.model_id})")
    verdict.problems += lifecycle.problems
    verdict.warnings += lifecycle.warnings
    evaluation = row.evaluation_capacity(region)
    if evaluation is None:
        verdict.problems.append(
            f"custom models of {row.name} can be neither deployed on demand nor provisioned in {region}, so "
            f"no round could evaluate one ({ON_DEMAND_PAGE}, {row.provisioned.source or PROVISIONED_PAGE})"
        )
    elif managed_job and judged and not row.judged_job_can_evaluate(region):
        verdict.problems.append(
            f"evaluation.managed_job: Bedrock runs no model evaluation job in {region} ({EVALUATION_PAGE})"
        )
    elif managed_job and not judged and not row.managed_job_can_evaluate(region):
        verdict.problems.append(
            f"evaluation.managed_job: accuracy, robustness and toxicity are not available for {row.name} in "
            f"{region}: a programmatic evaluation job invokes the model, its evaluation capacity there is an "
            "on-demand custom model deployment, and Bedrock's evaluation jobs accept foundation models, "
            f"inference profiles and provisioned throughput, not deployments ({MODEL_EVALUATION_API}). "
            "Judged metrics (an evaluator_model, with correctness, completeness, ... or custom_metrics) "
            "grade the round's own answers as precomputed inference and are available "
            f"({PRECOMPUTED_INFERENCE_PAGE})"
        )
    if serving is CapacityKind.DEPLOYMENT and region not in row.on_demand:
        where = regions_text(row.on_demand.regions)
        verdict.problems.append(
            f"serving.mode: on_demand is not available for {row.name} custom models in {region} (on-demand "
            f"custom model deployment: {where}, {ON_DEMAND_PAGE}); use provisioned or none"
        )
    if serving is CapacityKind.PROVISIONED and region not in row.provisioned:
        where = regions_text(row.provisioned.regions)
        verdict.problems.append(
            f"serving.mode: provisioned is not available for {row.name} custom models in {region} "
            f"(provisioned throughput: {where}, {row.provisioned.source or PROVISIONED_PAGE}); "
            "use on_demand or none"
        )
    return verdict
