"""Model families: the data format, data limits and documented hyperparameter ranges per base model.

One table serves the config check at synth, the Validate step and `iterft validate`.
Ranges and limits are the Bedrock user guide's (its pages: docs/capabilities.md). A family
holds its defaults; `family_for_model` may return a model's own variant of it (same name, same
hyperparameters, its own data limits), e.g. Nova Micro, which takes no images or videos.
Where the guide is silent, the limit is the conservative one and says so below. Which model belongs
to which family is the capability table's to say (models/capabilities.py), with what else the model
can do where.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from iterft_runtime.models import capabilities
from iterft_runtime.models.capabilities import UnknownModelError


class DataFormat(StrEnum):
    CONVERSATION = "bedrock-conversation-2024"
    CLAUDE_MESSAGES = "claude-messages"
    PROMPT_COMPLETION = "prompt-completion"


@dataclass(frozen=True)
class HyperparameterRange:
    minimum: float
    maximum: float
    default: float
    integer: bool = False


_MB = 1024**2
_GB = 1024**3


@dataclass(frozen=True)
class MediaRules:
    """Images and videos a conversation record may carry, in user turns only (never the assistant's).

    Per the Nova guide and AWS's own Nova dataset validator (amazon-bedrock-samples): formats are
    the Converse API's lowercase names; several images or one video a record, never both; a file
    is text with images or text with videos, not both; the source is an `s3://` location.
    """

    image_formats: tuple[str, ...] = ("jpeg", "png", "gif", "webp")
    video_formats: tuple[str, ...] = ("mov", "mkv", "mp4", "webm")
    max_images_per_record: int = 10
    max_videos_per_record: int = 1


VALIDATION_MAX_RECORDS = 1_000
"""Claude 3 Haiku's documented cap on a validation file; the bound for every family whose guide is silent."""
VALIDATION_MAX_FILE_BYTES = 100 * _MB
"""Titan's documented validation-file limit; the bound for every family whose guide is silent."""


@dataclass(frozen=True)
class ModelFamily:
    name: str
    data_format: DataFormat
    hyperparameters: dict[str, HyperparameterRange]
    min_records: int
    max_records: int
    max_tokens_per_record: int
    max_file_bytes: int
    validation_max_records: int = VALIDATION_MAX_RECORDS
    validation_max_file_bytes: int = VALIDATION_MAX_FILE_BYTES
    reserved_tokens: tuple[str, ...] = ()
    """Strings no text of a record may contain."""
    media: MediaRules | None = None
    """None: text only; any image or video block is refused."""
    model: str | None = None
    """The model these limits are specific to; None for the family's defaults."""
    reasoning_content: bool = False
    """Assistant turns may carry `reasoningContent` blocks (Nova 2 Lite); data of such a family is checked
    by logic/validation_strategies."""
    takes_validation_set: bool = True
    """False: the model's fine-tuning takes no validation set, and a validation file is refused."""


NOVA = ModelFamily(
    name="nova",
    data_format=DataFormat.CONVERSATION,
    hyperparameters={
        "epochCount": HyperparameterRange(1, 5, 2, integer=True),
        "learningRate": HyperparameterRange(1e-6, 1e-4, 1e-5),
        "learningRateWarmupSteps": HyperparameterRange(0, 100, 10, integer=True),
    },
    min_records=8,
    max_records=20_000,
    max_tokens_per_record=32_000,
    max_file_bytes=10 * _GB,
    # The guide's list, plus the upper-case and `Thought:` forms AWS's Nova validator also refuses.
    reserved_tokens=(
        "User:",
        "USER:",
        "Bot:",
        "BOT:",
        "Assistant:",
        "ASSISTANT:",
        "System:",
        "SYSTEM:",
        "Thought:",
        "[EOS]",
        "<image>",
        "<video>",
    ),
    media=MediaRules(),
)
"""Nova family defaults: Lite's and Pro's, media allowed. A custom-model base named only by
family gets these, so a Micro lineage's media is caught at job time, not here."""
NOVA_MICRO = replace(NOVA, media=None, model="amazon.nova-micro")
"""Nova Micro: text only (the guide lists no image or video fine-tuning for Micro)."""
NOVA_2_LITE = replace(
    NOVA,
    name="nova-2-lite",
    min_records=200,
    media=MediaRules(image_formats=("png", "jpeg", "gif"), video_formats=("mov", "mkv", "mp4")),
    reasoning_content=True,
    takes_validation_set=False,
)
"""Nova 2 Lite (nova-2-sft-data-prep): Nova 1's conversation format, reserved tokens and per-record limits
plus optional `reasoningContent` (text only, `reasoningText`) in assistant turns; images in png, jpeg or
gif, videos in mov, mkv or mp4, one media kind a dataset; tool use (`toolUse`, `toolResult`, `toolConfig`)
"might cause your job to fail" and is refused; no validation set during fine-tuning. At least 200 records,
AWS's own Nova validator's bound for Nova 2 Lite fine-tuning (Nova 1 takes 8). No Bedrock page gives Nova 2
Lite's fine-tuning hyperparameters: these are Nova 1's ranges (cm-hp-nova-mm), so the job itself has the
last word on them."""
CLAUDE_HAIKU = ModelFamily(
    name="claude-haiku",
    data_format=DataFormat.CLAUDE_MESSAGES,
    hyperparameters={
        "epochCount": HyperparameterRange(1, 10, 2, integer=True),
        "batchSize": HyperparameterRange(4, 256, 32, integer=True),
        "learningRateMultiplier": HyperparameterRange(0.1, 2, 1),
        "earlyStoppingThreshold": HyperparameterRange(0, 0.1, 0.001),
        "earlyStoppingPatience": HyperparameterRange(1, 10, 2, integer=True),
    },
    min_records=32,
    max_records=10_000,
    max_tokens_per_record=32_000,
    max_file_bytes=10 * _GB,
    validation_max_records=1_000,
)
LLAMA_CONVERSATION = ModelFamily(
    name="llama-conversation",
    data_format=DataFormat.CONVERSATION,
    hyperparameters={
        "epochCount": HyperparameterRange(1, 10, 5, integer=True),
        "batchSize": HyperparameterRange(1, 1, 1, integer=True),
        "learningRate": HyperparameterRange(5e-6, 0.1, 1e-4),
    },
    min_records=100,
    max_records=10_000,
    max_tokens_per_record=16_000,
    max_file_bytes=10 * _GB,
)
PROMPT_COMPLETION = ModelFamily(
    name="prompt-completion",
    data_format=DataFormat.PROMPT_COMPLETION,
    hyperparameters={
        "epochCount": HyperparameterRange(1, 10, 5, integer=True),
        "batchSize": HyperparameterRange(1, 64, 1, integer=True),
        "learningRate": HyperparameterRange(0, 1, 1e-5),
        "learningRateWarmupSteps": HyperparameterRange(0, 250, 5, integer=True),
    },
    min_records=1,
    max_records=10_000,
    # At batch size 1 (the default); the guide halves it to 2,048 at larger batch sizes.
    max_tokens_per_record=4_096,
    max_file_bytes=1 * _GB,
    validation_max_file_bytes=100 * _MB,
)
LLAMA_PROMPT_COMPLETION = ModelFamily(
    name="llama-prompt-completion",
    data_format=DataFormat.PROMPT_COMPLETION,
    hyperparameters=LLAMA_CONVERSATION.hyperparameters,
    min_records=100,
    max_records=10_000,
    max_tokens_per_record=16_000,
    max_file_bytes=10 * _GB,
)

FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (
        NOVA,
        NOVA_2_LITE,
        CLAUDE_HAIKU,
        LLAMA_CONVERSATION,
        PROMPT_COMPLETION,
        LLAMA_PROMPT_COMPLETION,
    )
}

_VARIANTS: dict[str, ModelFamily] = {"amazon.nova-micro-v1:0:128k": NOVA_MICRO}
"""Models with limits of their own within their family, by customization id."""

CUSTOM_MODEL_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:custom-model/\S+$")


def family_for_model(model_id: str) -> ModelFamily:
    """The limits of a customizable foundation model id (or its on-demand id): its own variant of its
    family, if it has one. Unknown ids are refused with the ids the capability table knows."""
    row = capabilities.find(model_id) or capabilities.by_inference_id(model_id)
    if row is None:
        known = capabilities.known_models()
        raise UnknownModelError(f"{model_id!r} is not a model iterft can fine-tune; known: {known}")
    if row.family is None:
        raise UnknownModelError(f"{row.name} ({row.model_id}) has no family in iterft: {row.note}")
    return _VARIANTS.get(row.model_id) or FAMILIES[row.family]


def family_named(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model family {name!r}; known: {', '.join(sorted(FAMILIES))}"
        ) from None


def is_custom_model_arn(model_id: str) -> bool:
    return bool(CUSTOM_MODEL_ARN.match(model_id))


def invocable_foundation_model_id(model_id: str) -> str:
    """The on-demand id of a fine-tunable id: `amazon.nova-micro-v1:0:128k` -> `amazon.nova-micro-v1:0`,
    `amazon.titan-text-express-v1:0:8k` -> `amazon.titan-text-express-v1` (the capability table's)."""
    row = capabilities.find(model_id)
    if row is not None:
        return row.inference_id
    parts = model_id.split(":")
    return ":".join(parts[:2]) if len(parts) > 2 else model_id


def check_hyperparameters(family: ModelFamily, values: Mapping[str, object]) -> list[str]:
    """Every problem with `values` for `family`, as readable sentences (empty when all is well)."""
    problems = []
    for name, raw in values.items():
        allowed = family.hyperparameters.get(name)
        if allowed is None:
            known = ", ".join(sorted(family.hyperparameters))
            problems.append(f"{name} is not a hyperparameter of the {family.name} family (known: {known})")
            continue
        try:
            number = float(raw)  # type: ignore[arg-type]  # any JSON value; a non-number raises
        except (TypeError, ValueError):
            problems.append(f"{name}={raw!r} is not a number")
            continue
        if allowed.integer and not number.is_integer():
            problems.append(f"{name}={raw} must be a whole number")
        elif not allowed.minimum <= number <= allowed.maximum:
            problems.append(f"{name}={raw} is outside {allowed.minimum:g}..{allowed.maximum:g}")
    return problems
