"""Training strategies: what a round's customization job does, its settings, and which chains are documented.

A lineage applies strategies in sequence (fine-tuning, distillation from a teacher, reinforcement
fine-tuning with a grader, continued pre-training); each round's base is the champion, whatever strategy
produced it. Bedrock's user guide confirms only some of those chains (`DOCUMENTED_BASES`): a round whose
champion was produced by a strategy the guide does not confirm as a base for this round's strategy is
refused before any job, unless the lineage opts in (`strategies.allow_undocumented_chains`).

Sources (docs.aws.amazon.com/bedrock/latest/userguide/<page>.html): model-customization-submit
("you can ... use a fine-tuned or distilled model as your base model" for fine-tuning),
prequisites-model-distillation, reinforcement-fine-tuning, rft-submit-job, custom-model-supported;
the request shapes are botocore's (bedrock 2023-04-20: CustomizationConfig, RFTHyperParameters,
TeacherModelConfig, InvocationLogsConfig).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Defined without pydantic there (the validator's import); named here too, where it always was.
from iterft_runtime.models.strategy_names import Strategy as Strategy

SUBMIT_PAGE = "https://docs.aws.amazon.com/bedrock/latest/userguide/model-customization-submit.html"
"""The page that confirms fine-tuning a fine-tuned or distilled model."""

FOUNDATION = "foundation"
"""The base of a round that trains the foundation model itself (no custom model yet)."""
UNKNOWN_CUSTOM = "custom"
"""The base of a round on a starting custom model (a lineage's custom `base_model`) of unknown strategy."""

DOCUMENTED_BASES: dict[Strategy, frozenset[str]] = {
    Strategy.FINE_TUNING: frozenset({FOUNDATION, Strategy.FINE_TUNING, Strategy.DISTILLATION}),
    Strategy.DISTILLATION: frozenset({FOUNDATION}),
    Strategy.REINFORCEMENT: frozenset({FOUNDATION}),
    Strategy.CONTINUED_PRE_TRAINING: frozenset({FOUNDATION}),
}
"""What each strategy is documented to train on: a foundation model, or a custom model produced by these
strategies. Fine-tuning on a fine-tuned or distilled model is confirmed (SUBMIT_PAGE); no page confirms a
custom base for distillation, reinforcement or continued pre-training, nor fine-tuning on a model of
reinforcement or continued pre-training, so those chains are refused unless the lineage opts in."""


def chain_problem(strategy: Strategy, base: str, *, allow_undocumented: bool) -> str | None:
    """Why a round of `strategy` on a base produced by `base` (FOUNDATION, UNKNOWN_CUSTOM or a Strategy
    value) is refused, or None when the chain is documented (or the lineage opted in)."""
    if base in DOCUMENTED_BASES[strategy] or allow_undocumented:
        return None
    produced = {FOUNDATION: "the foundation model", UNKNOWN_CUSTOM: "a custom model of unknown strategy"}
    what = produced.get(base, f"a model produced by {base}")
    return (
        f"{strategy} on {what} is not a chain the Bedrock user guide documents ({SUBMIT_PAGE} confirms "
        "fine-tuning on fine-tuned or distilled models only); set strategies.allow_undocumented_chains: "
        "true to try it anyway"
    )


S3_URI = r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?$"
"""botocore's S3Uri pattern (InvocationLogSource.s3Uri, TrainingDataConfig.s3Uri)."""
LAMBDA_ARN = (
    r"^arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}(-gov)?-[a-z]+-\d{1}:\d{12}:function:[a-zA-Z0-9-_\.]+"
    r"(:(\$LATEST|[a-zA-Z0-9-_]+))?$"
)
"""botocore's LambdaArn pattern (LambdaGraderConfig.lambdaArn)."""


class InvocationLogSource(BaseModel):
    """Distil from the serving model's invocation logs instead of an uploaded file
    (`trainingDataConfig.invocationLogsConfig`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    s3_uri: Annotated[str, Field(pattern=S3_URI, max_length=1024)]
    """Where Bedrock's model invocation logging delivers the logs (the bucket and prefix to read)."""
    request_metadata: dict[str, str] = Field(default_factory=dict, max_length=16)
    """Only invocations whose `requestMetadata` has these key/value pairs (all of them)."""
    use_prompt_response: bool = False
    """Train on the logged responses too (they must come from the teacher itself), not only the prompts."""


class DistillationSettings(BaseModel):
    """`customizationConfig.distillationConfig.teacherModelConfig`, and where the prompts come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    teacher: Annotated[str, Field(min_length=1, max_length=2048)]
    """A teacher the capability table pairs with the lineage's model (model or inference profile id)."""
    max_response_length: Annotated[int, Field(ge=1)] | None = None
    """`maxResponseLengthForInference`: the most tokens the job asks of the teacher per prompt."""
    invocation_logs: InvocationLogSource | None = None
    """Distil from these invocation logs; None: from the uploaded prompts file."""


RFT_HYPERPARAMETERS: dict[str, tuple[float, float, bool]] = {
    "epochCount": (1, 50, True),
    "batchSize": (16, 512, True),
    "learningRate": (1e-7, 1e-3, False),
    "maxPromptLength": (1, math.inf, True),
    "trainingSamplePerPrompt": (2, 16, True),
    "inferenceMaxTokens": (1, math.inf, True),
    "evalInterval": (1, 100, True),
}
"""botocore's RFTHyperParameters ranges (minimum, maximum, whole number), kept equal to the model by
tests/unit/test_logic_strategies.py; maxPromptLength and inferenceMaxTokens have no range in the model:
iterft asks for positive integers."""


class ReinforcementSettings(BaseModel):
    """`customizationConfig.rftConfig`: the grader and the RFT hyperparameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grader: Literal["default"] | Annotated[str, Field(pattern=LAMBDA_ARN, max_length=512)] = "default"
    """`default`: the stack's grader Lambda, which rewards an answer with the lineage's primary metric
    against its `reference_answer` (the gate's own scoring code); or a team's grader Lambda's ARN."""
    hyperparameters: dict[str, int | float] = Field(default_factory=dict)
    """RFTHyperParameters (RFT_HYPERPARAMETERS' names and ranges)."""
    reasoning_effort: Literal["low", "medium", "high"] | None = None

    def problems(self) -> list[str]:
        """Every hyperparameter outside botocore's names and ranges, as sentences."""
        found = []
        for name, value in self.hyperparameters.items():
            if name not in RFT_HYPERPARAMETERS:
                known = ", ".join(RFT_HYPERPARAMETERS)
                found.append(f"{name} is not a reinforcement hyperparameter (known: {known})")
                continue
            low, high, whole = RFT_HYPERPARAMETERS[name]
            if whole and not float(value).is_integer():
                found.append(f"{name}={value} must be a whole number")
            elif not low <= value <= high:
                found.append(f"{name}={value} is outside {low:g}..{high:g}")
        return found

    @property
    def uses_default_grader(self) -> bool:
        return self.grader == "default"


class StrategyConfig(BaseModel):
    """Which strategies a lineage's rounds may use, and each one's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Strategy = Strategy.FINE_TUNING
    """The strategy of a round whose upload names none (S3 metadata `x-amz-meta-strategy`)."""
    distillation: DistillationSettings | None = None
    """Needed for distillation rounds."""
    reinforcement: ReinforcementSettings | None = None
    """Needed for reinforcement rounds."""
    allow_undocumented_chains: bool = False
    """Run a round on a champion of a strategy the user guide does not document as this strategy's base."""

    def required(self) -> tuple[Strategy, ...]:
        """The strategies the model must support for this config to deploy: the default, and every one
        with settings (an upload asking for another the model lacks is refused at its round)."""
        wanted = {self.default}
        wanted |= {Strategy.DISTILLATION} if self.distillation is not None else set()
        wanted |= {Strategy.REINFORCEMENT} if self.reinforcement is not None else set()
        return tuple(s for s in Strategy if s in wanted)

    def configured(self) -> tuple[Strategy, ...]:
        """The strategies this lineage's rounds can use: fine-tuning and continued pre-training always
        (the capability table decides whether the model supports them), the others once configured."""
        optional = {Strategy.DISTILLATION: self.distillation, Strategy.REINFORCEMENT: self.reinforcement}
        return tuple(s for s in Strategy if optional.get(s, True) is not None)
