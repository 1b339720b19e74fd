"""The contracts between the workflow's steps: the execution input, each step's input and result, and
the state document that carries them (docs/architecture.md, "The workflow").

The state document starts as the execution input; each step adds one key (its `ResultPath`), so at
Finish it holds everything the round learned. `RoundState`'s fields are those keys, typed by the model
of the step that writes them; tests/unit/test_step_contracts.py resolves every JSONPath the synthesized
state machine reads or writes against these models. A handler parses its input once and returns
`model_dump(mode="json", exclude_unset=True)` of its result model: keys it sets (even to null) are
present, keys it leaves out are absent, as Step Functions' JSONPath needs.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from iterft_runtime.models.capacity import Capacity
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.messages import StartDataset
from iterft_runtime.models.records import DatasetRef


class StepModel(BaseModel):
    """A step's result: exactly these keys (a result with an undeclared key fails its step)."""

    model_config = ConfigDict(extra="forbid")

    def dump(self) -> dict[str, Any]:
        """The result as the workflow receives it: set keys only, JSON types."""
        return dump(self)


def dump(model: BaseModel) -> dict[str, Any]:
    """A step's result as the workflow receives it: the keys set (even to null) and no others, JSON
    types (what a handler returns)."""
    return model.model_dump(mode="json", exclude_unset=True)


_Section = TypeVar("_Section")


def required(section: _Section | None, key: str) -> _Section:
    """A section of the state document a step cannot run without: KeyError naming it when absent."""
    if section is None:
        raise KeyError(key)
    return section


class OpenModel(BaseModel):
    """A document a step reads but does not own (a service's response, a reviewer's answer): more keys
    may be present."""

    model_config = ConfigDict(extra="allow")


# The execution input ---------------------------------------------------------------------------------


DatasetModel = StartDataset
"""The `dataset` of a round's execution input (models/records.DatasetRef), as `iterft start` sends it."""


class RollbackRequest(StepModel):
    """`$.rollback` of a rollback's execution input (`iterft rollback`)."""

    to_iteration: int = Field(description="The earlier promoted iteration to serve again.")
    requested_by: str
    reason: str


class ExecutionInput(OpenModel):
    """What every step receives first: `kind` (`round` or `rollback`, read by the first Choice), the
    lineage's config, the iteration number, and the dataset (a round) or the rollback."""

    kind: Literal["round", "rollback"] = Field(description="`$.kind`: read by the `Rollback?` Choice.")
    lineage: LineageConfig
    iteration: int
    dataset: DatasetModel | None = Field(default=None, description="A training round's upload.")
    rollback: RollbackRequest | None = Field(default=None, description="A rollback's request.")

    @property
    def dataset_ref(self) -> DatasetRef:
        """The round's dataset; only training rounds have one."""
        if self.dataset is None:
            raise ValueError(f"{self.lineage.name} #{self.iteration} is a rollback: it has no dataset")
        return DatasetRef.from_dict(self.dataset.model_dump())


# Each step's result, by the key it is written to ------------------------------------------------------


class Problem(OpenModel):
    line: int | None = None
    code: str
    severity: str
    message: str = Field(description="Cut at 300 characters; the report has it whole.")


class ValidationResult(StepModel):
    """Validate dataset, at `$.validation`: bounded whatever the file."""

    valid: bool
    decision: str | None = Field(
        default=None, description="When not valid: `invalid_data` (a bad file) or `rejected` (bad overrides)."
    )
    records: int | None = None
    size_bytes: int | None = None
    estimated_tokens: int | None = Field(
        default=None, description="The texts' estimated tokens: what the cost estimate trains on."
    )
    training_data_uri: str | None = Field(default=None, description="The validated copy.")
    report_uri: str | None = None
    hyperparameters: dict[str, Any] = Field(description="Lineage defaults, then the upload's overrides.")
    strategy: str = Field(default="fine_tuning", description="The round's training strategy.")
    source: str | None = Field(
        default=None, description="How the dataset was built: its S3 metadata `source` (a curation's)."
    )
    reason: str | None = None
    problem_counts: dict[str, int] | None = Field(default=None, description="Per validation code.")
    problems: list[dict[str, Any]] | None = Field(default=None, description="The first five errors.")
    leakage: dict[str, Any] | None = Field(
        default=None,
        description="The leakage check: what it found and did (logic/leakage.LeakageCheck.summary).",
    )


class BeginResult(StepModel):
    """Begin iteration, at `$.round`: the parent (the champion now) and the round's deterministic names."""

    base_model: str = Field(description="What the job sends as baseModelIdentifier: the champion.")
    parent_iteration: int | None = Field(description="The champion's iteration (0: the starting point).")
    job_name: str = Field(description="The customization job's name, also its client request token.")
    custom_model_name: str
    output_uri: str = Field(description="Where the job writes its metrics CSVs.")
    candidate_capacity_name: str
    champion_capacity_name: str
    candidate_evaluation_job_name: str = Field(description="Used only with `evaluation.managed_job`.")
    champion_evaluation_job_name: str = Field(description="Used only with `evaluation.managed_job`.")
    hyperparameters: dict[str, Any]
    # Defaults: a round begun before strategies existed (still running across an upgrade) was fine-tuning.
    strategy: str = Field(
        default="fine_tuning", description="The round's strategy (models/strategy.Strategy)."
    )
    customization_type: str = Field(
        default="FINE_TUNING", description="Read by `Training strategy?`; the job's customizationType."
    )
    customization_config: dict[str, Any] | None = Field(
        default=None,
        description="The job's CustomizationConfig (PascalCase, as the task sends it); none for fine-tuning.",
    )
    training_data_config: dict[str, Any] | None = Field(
        default=None, description="The job's TrainingDataConfig (PascalCase), read by Distill and Reinforce."
    )


class CustomizationJob(OpenModel):
    """Fine-tune candidate / Find existing job, at `$.job`: Bedrock's job description (only `Status` is
    read, by `Existing job done?`)."""

    Status: str | None = None


class TrainingResult(StepModel):
    """Collect training metrics, at `$.training` (Finish publishes the duration as a metric)."""

    job_arn: str
    output_model_arn: str
    training_loss: float | None = None
    validation_loss: float | None = None
    training_seconds: float | None = Field(default=None, description="The job's creation to its end.")


class ShardModel(StepModel):
    """One shard of the evaluation set: item index range and where its lines are in the file."""

    index: int
    start: int
    end: int
    byte_start: int
    byte_end: int
    first_line: int


class EvalSetObject(StepModel):
    """The S3 object version Plan evaluation read: every shard reads exactly it."""

    version_id: str | None = None
    etag: str | None = None


class EvaluationPlan(StepModel):
    """Plan evaluation, at `$.evaluation_plan`."""

    eval_set_version: str
    eval_set_object: EvalSetObject
    records: int
    champion_model: str | None = Field(
        description="What the champion answers with; null when its metrics are reused or it needs capacity."
    )
    champion_to_deploy: str | None = Field(description="The champion's model when nothing serves it.")
    shard_records: int
    shard_count: int = Field(description="Read by `Distributed evaluation?`.")
    shard_list_key: str = Field(description="Every shard as a JSON array: the Distributed Map's items.")
    shards: list[ShardModel] | None = Field(description="The same list inline; null past 400 shards.")


class CapacityModel(StepModel):
    """A deployment or provisioned throughput (models/capacity.Capacity.to_dict)."""

    kind: str
    name: str
    arn: str
    model_arn: str
    role: str
    model_units: int | None = None
    commitment: str | None = None
    created_at: str | None = None

    def to_capacity(self) -> Capacity:
        return Capacity.from_dict(self.model_dump())


class CapacityResult(StepModel):
    """Provision evaluation capacity, at `$.capacity`."""

    evaluation: list[CapacityModel] = Field(description="The Capacity records created.")
    candidate_model: str = Field(description="The id the shards call for the candidate.")
    champion_model: str | None = Field(description="The id the shards call for the champion, if it answers.")


class CapacityStatusInput(StepModel):
    """Check evaluation / serving capacity's input: `{capacities: $.capacity.evaluation | $.swap.targets}`."""

    capacities: list[CapacityModel] | None = None


class Readiness(StepModel):
    """Check capacity / managed evaluation status, at `$.capacity_check` / `$.evaluation_job_check`."""

    ready: bool
    failed: bool
    reason: str


class Polls(StepModel):
    """A poll loop's counter, at `$.polls`."""

    polls: int


class ManagedEvaluationJob(StepModel):
    role: str
    job_name: str
    job_arn: str
    model: str


class ManagedEvaluationResult(StepModel):
    """Start managed evaluation, at `$.managed_evaluation`."""

    output_uri: str
    jobs: list[ManagedEvaluationJob]
    job_arns: list[str]


class ManagedEvaluationStatusInput(StepModel):
    """Check managed evaluation's input: `{job_arns: $.managed_evaluation.job_arns}`."""

    job_arns: list[str]


class ScoreShardInput(StepModel):
    """Score shard's input, the Score shards Map's `ItemSelector`."""

    lineage: LineageConfig
    iteration: int
    candidate_model: str
    champion_model: str | None
    eval_set_object: EvalSetObject
    shard: ShardModel


class ScoreShardResult(StepModel):
    """Score shard's result (the Map keeps only the index: OutputPath `$.shard.index` of its input)."""

    index: int
    records: int
    uri: str


class EvaluationResult(StepModel):
    """Aggregate evaluation, at `$.evaluation` (Decide reads it)."""

    metric: str = Field(description="The primary metric.")
    eval_set_version: str
    records: int
    candidate_score: float
    champion_score: float | None
    champion_reused: bool
    results_uri: str
    metrics_uri: str
    candidate_metrics: dict[str, Any] = Field(description="Per metric `{overall, categories, by_category}`.")
    champion_metrics: dict[str, Any]
    managed_results_uri: str | None = None
    candidate_scores_uri: str | None = Field(default=None, description="The candidate's per-record scores.")
    champion_scores_uri: str | None = Field(
        default=None, description="The champion's per-record scores on the same set version."
    )


class DecisionResult(StepModel):
    """Decide, at `$.decision` (also the reviewer's rejection / the approval timeout, and a rollback's
    `{promote, decision, reason}`)."""

    promote: bool | None = None
    decision: str | None = None
    reason: str | None = None
    improvement: float | None = Field(default=None, description="The primary metric's gain.")
    deltas: dict[str, dict[str, float | None]] | None = Field(
        default=None, description="Per metric, overall: `{delta, ci_low, ci_high}`."
    )
    gate: list[dict[str, Any]] | None = Field(default=None, description="`[{rule, passed}]`.")
    inconclusive: bool | None = Field(default=None, description="The primary's interval straddled the gate.")
    records_to_resolve: int | None = Field(
        default=None, description="More records an inconclusive round needs."
    )
    power: dict[str, Any] | None = Field(
        default=None, description="The yardstick's power (logic/paired.Power)."
    )
    approval_required: bool | None = None
    approval_timeout_seconds: int | None = None


class ApprovalAnswer(OpenModel):
    """Wait for approval, at `$.approval`: what `iterft approve/reject` send, or the timeout's error."""

    approved: bool | None = None
    reviewer: str | None = None
    reason: str | None = None


class Promotion(StepModel):
    """Prepare promotion (or Begin rollback), at `$.promotion`: what is promoted."""

    model_arn: str
    score: float | None = None
    metrics: dict[str, Any] | None = None
    eval_set_version: str | None = None
    metric: str | None = None
    decision: str | None = None
    champion_iteration: int | None = Field(default=None, description="A rollback's earlier iteration.")


class SwapResult(StepModel):
    """Swap serving model, at `$.swap`."""

    action: str = Field(description="create, update, adopt or none.")
    targets: list[CapacityModel] = Field(description="What must serve the model (empty under mode none).")
    replaced: CapacityModel | None = Field(description="A serving capacity of another kind, to delete.")


class PromoteResult(StepModel):
    """Promote candidate, at `$.promoted`."""

    champion_model_arn: str
    serving_model_id: str
    released: list[str]


class Outcome(StepModel):
    """Record outcome / Mark invalid / Clean up, at `$.outcome`."""

    decision: str | None
    reason: str | None


class RetentionResult(OpenModel):
    """Apply retention, at `$.retention` (or its caught error)."""

    deleted_iterations: list[int] | None = None
    skipped: list[str] | None = None
    deleted_count: int | None = None
    skipped_count: int | None = None


class FinishResult(StepModel):
    """Finish iteration, at `$.finish`: empty."""


class ErrorInfo(OpenModel):
    """A caught error, at `$.error` (or `$.fine_tune_conflict`): Step Functions' `{Error, Cause}`."""

    Error: str | None = None
    Cause: str | None = None


class ReleaseResult(StepModel):
    """Release evaluation capacity's result (discarded)."""

    released: list[str]


class RoundState(ExecutionInput):
    """The state document: the execution input plus one key per step that ran."""

    validation: ValidationResult | None = None
    round: BeginResult | None = None
    job: CustomizationJob | None = None
    fine_tune_conflict: ErrorInfo | None = None
    training: TrainingResult | None = None
    evaluation_plan: EvaluationPlan | None = None
    capacity: CapacityResult | None = None
    capacity_check: Readiness | None = None
    polls: Polls | None = None
    managed_evaluation: ManagedEvaluationResult | None = None
    evaluation_job_check: Readiness | None = None
    evaluation: EvaluationResult | None = None
    decision: DecisionResult | None = None
    approval: ApprovalAnswer | None = None
    promotion: Promotion | None = None
    swap: SwapResult | None = None
    promoted: PromoteResult | None = None
    outcome: Outcome | None = None
    retention: RetentionResult | None = None
    finish: FinishResult | None = None
    error: ErrorInfo | None = None

    def evaluation_capacities(self) -> list[Capacity]:
        """The evaluation capacity the round says it created (`$.capacity.evaluation`)."""
        return [item.to_capacity() for item in self.capacity.evaluation] if self.capacity else []

    def swap_target(self) -> Capacity | None:
        """The serving capacity Swap serving model aimed at (`$.swap.targets`, empty under mode none)."""
        return self.swap.targets[0].to_capacity() if self.swap and self.swap.targets else None

    def replaced_capacity(self) -> Capacity | None:
        """A serving capacity of another kind the swap replaces (after a change of serving mode)."""
        return self.swap.replaced.to_capacity() if self.swap and self.swap.replaced else None


STEP_RESULTS: dict[str, type[BaseModel]] = {
    "validate": ValidationResult,
    "begin": BeginResult,
    "collect_metrics": TrainingResult,
    "plan_evaluation": EvaluationPlan,
    "provision_capacity": CapacityResult,
    "capacity_status": Readiness,
    "start_managed_evaluation": ManagedEvaluationResult,
    "managed_evaluation_status": Readiness,
    "score_shard": ScoreShardResult,
    "aggregate_evaluation": EvaluationResult,
    "decide": DecisionResult,
    "swap_serving": SwapResult,
    "promote": PromoteResult,
    "release_capacity": ReleaseResult,
    "retain_models": RetentionResult,
    "clean_up": Outcome,
    "finish": FinishResult,
    "begin_rollback": RoundState,
}
"""Each step Lambda's result model, by handler module."""

STEP_INPUTS: dict[str, type[BaseModel]] = {
    "capacity_status": CapacityStatusInput,
    "managed_evaluation_status": ManagedEvaluationStatusInput,
    "score_shard": ScoreShardInput,
}
"""The steps whose input is not the state document (their state's Parameters / ItemSelector)."""
