"""Registry records: what the registry stores about datasets, iterations and a lineage's state.

Plain dataclasses over plain values (str, int, float, dict); the data-access layer converts
DynamoDB's Decimals before building them, so nothing above it ever sees a Decimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any
from urllib.parse import quote


class Decision(StrEnum):
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"
    FAILED = "failed"
    INVALID_DATA = "invalid_data"
    RUNNING = "running"


@dataclass(frozen=True)
class DatasetRef:
    """One uploaded object version: what an S3 event names and what one iteration trains on."""

    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int
    uploaded_at: str
    strategy: str | None = None
    """The strategy `iterft start --strategy` asked for (None: the upload's metadata, else the default)."""

    @property
    def identity(self) -> str:
        """What makes an upload unique: its version id, or its ETag in an unversioned bucket."""
        return self.version_id or f"etag-{self.etag}"

    @property
    def s3_uri(self) -> str:
        uri = f"s3://{self.bucket}/{self.key}"
        return f"{uri}?versionId={quote(self.version_id, safe='')}" if self.version_id else uri

    def to_dict(self) -> dict[str, Any]:
        """The `dataset` object of the execution input (docs/architecture.md); no `strategy` unless asked."""
        data = asdict(self)
        if self.strategy is None:
            del data["strategy"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetRef:
        return cls(
            bucket=str(data["bucket"]),
            key=str(data["key"]),
            version_id=data.get("version_id") or None,
            etag=str(data.get("etag") or ""),
            size=int(data.get("size") or 0),
            uploaded_at=str(data["uploaded_at"]),
            strategy=data.get("strategy") or None,
        )


@dataclass(frozen=True)
class QueuedUpload:
    """A dataset waiting in the registry for its lineage to be idle; `sort_key` is its QUEUE# key."""

    sort_key: str
    dataset: DatasetRef
    sequencer: str | None = None
    """The S3 event's `sequencer` (upper-case hex): orders the versions of one key (logic/uploads.py)."""
    received_at: str | None = None
    """When the trigger queue received the event (SQS SentTimestamp, milliseconds)."""


@dataclass(frozen=True)
class UploadRecord:
    """One object version seen under incoming/<lineage>/ (registry item `UPLOAD#<key>#<version>`):
    the lineage's upload ledger, what `iterft history --uploads` lists."""

    dataset: DatasetRef
    status: str
    """logic/uploads.UploadStatus: queued, started, withdrawn, superseded, invalid_data, ignored, refused."""
    sequencer: str | None = None
    received_at: str | None = None
    recorded_at: str | None = None
    """When the trigger queued it (None for an upload recorded without a round, or before this field)."""
    iteration: int | None = None
    """The iteration it started (status started)."""
    reason: str | None = None
    """Why it was withdrawn, superseded, refused or ignored."""
    by: str | None = None
    """Who withdrew it (the operator's IAM identity, or `s3` when its object version was deleted)."""
    closed_at: str | None = None
    """When it was withdrawn, superseded, refused or ignored."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UploadRecord:
        iteration = data.get("iteration")
        return cls(
            dataset=DatasetRef.from_dict(data),
            status=str(data.get("status") or "started"),
            sequencer=data.get("sequencer"),
            received_at=data.get("received_at"),
            recorded_at=data.get("recorded_at"),
            iteration=int(iteration) if iteration is not None else None,
            reason=data.get("reason"),
            by=data.get("by"),
            closed_at=data.get("closed_at"),
        )

    def to_public(self) -> dict[str, Any]:
        """What `iterft history --uploads --json` and `iterft status --json` show for one upload."""
        return {
            "dataset": self.dataset.s3_uri,
            "key": self.dataset.key,
            "version_id": self.dataset.version_id,
            "size_bytes": self.dataset.size,
            "uploaded_at": self.dataset.uploaded_at,
            "sequencer": self.sequencer,
            "recorded_at": self.recorded_at,
            "status": self.status,
            "iteration": self.iteration,
            "reason": self.reason,
            "by": self.by,
            "closed_at": self.closed_at,
        }


COST_KEYS = ("training_tokens", "epochs", "training_usd", "capacity_hours", "capacity_usd", "total_usd")
"""An iteration's `cost`, as the history shows it."""


@dataclass
class IterationRecord:
    """One round of a lineage (registry item `ITER#<n>`)."""

    iteration: int
    decision: str = Decision.RUNNING.value
    parent_iteration: int | None = None
    base_model: str | None = None
    """Exactly what the customization job was sent as baseModelIdentifier."""
    output_model_arn: str | None = None
    dataset: str | None = None
    """The uploaded object as `s3://bucket/key?versionId=...`."""
    dataset_bucket: str | None = None
    dataset_key: str | None = None
    dataset_version: str | None = None
    dataset_etag: str | None = None
    uploaded_at: str | None = None
    dataset_source: str | None = None
    """How the dataset was built, from its S3 metadata `source` (a curated dataset's; None for an upload
    that does not say)."""
    job_name: str | None = None
    job_arn: str | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    strategy: str | None = None
    """The round's training strategy (models/strategy.Strategy); None: a round from before strategies,
    which was fine-tuning. At dispatch what `iterft start --strategy` asked for; Begin records the
    round's own."""
    requested_strategy: str | None = None
    """What `iterft start --strategy` asked for (the dataset's `strategy` in the execution input), kept
    as dispatched: `dataset_ref` rebuilds that input from it, not from `strategy`, which Begin changes."""
    customization_type: str | None = None
    """What the job was sent as customizationType."""
    customization_config: dict[str, Any] = field(default_factory=dict)
    """What the job was sent as customizationConfig (empty for fine-tuning and continued pre-training)."""
    training_loss: float | None = None
    validation_loss: float | None = None
    training_seconds: float | None = None
    """The customization job's duration, creation to end."""
    eval_score: float | None = None
    champion_score: float | None = None
    min_improvement: float | None = None
    metric: str | None = None
    eval_set_version: str | None = None
    """The evaluation set version every score of this iteration was measured on."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """The candidate's metrics by name, summarized (`logic.evaluation.metrics_summary`): `{"overall": x,
    "categories": n, "by_category": {...}}`, at most a few categories listed; all of them are in the
    metrics document at `metrics_uri`."""
    champion_metrics: dict[str, Any] = field(default_factory=dict)
    """The champion's metrics on the same set version, same shape."""
    metrics_uri: str | None = None
    """Every metric of both models, per category too: `{metric, eval_set_version, champion_reused,
    candidate, champion}` (a reused champion's entry is its summary)."""
    deltas: dict[str, Any] = field(default_factory=dict)
    """Candidate minus champion, overall, per metric: `{"delta", "ci_low", "ci_high"}` (the mean paired
    difference and its confidence interval, logic/paired.py); a bare number in rounds recorded before
    intervals (`delta_value` reads both)."""
    inconclusive: bool | None = None
    """The gate (decide_on lower_bound) could not tell: the primary's interval straddled min_improvement."""
    records_to_resolve: int | None = None
    """An inconclusive round: about how many more evaluation records would resolve a difference its size."""
    power: dict[str, Any] = field(default_factory=dict)
    """The yardstick's power this round (logic/paired.Power.to_dict): the smallest improvement the set can
    detect at the lineage's confidence, and the records min_improvement would need."""
    cost_per_point_usd: float | None = None
    """Estimated cost of one point (0.01) of primary improvement: the round's cost over its improvement in
    points (None: no gain, or no dollars)."""
    gate: list[dict[str, Any]] = field(default_factory=list)
    """The gate's verdict per rule: `{"rule": "...", "passed": bool}`."""
    converged: bool | None = None
    """The lineage's converged state after this round (None: the round was not decided by the gate)."""
    regression: bool | None = None
    """True: the gate decided the round and the candidate fell by the plateau threshold or more (the
    data hurt); such a round does not count towards a plateau."""
    reason: str | None = None
    approval: dict[str, Any] = field(default_factory=dict)
    """The human review of a passing candidate: `status` (pending | approved | rejected | timed_out),
    `requested_at`, and once answered `reviewer`, `reason`."""
    approval_token: str | None = None
    """The wait-for-approval step's task token while the review is pending (what approve/reject answer)."""
    records: int | None = None
    size_bytes: int | None = None
    report_uri: str | None = None
    leakage: dict[str, Any] = field(default_factory=dict)
    """What the leakage check found and did (logic/leakage.LeakageCheck.summary): `action`, `threshold`,
    `shingle_words`, `evaluation_prompts`, `matched` (`exact`, `near`), `dropped`, the `first` few matches
    (`line`, `where`, `evaluation_line`, `exact`, `similarity`). Empty: not checked (before the check
    existed, or a round that distils from invocation logs)."""
    results_uri: str | None = None
    evaluation_job_arns: list[str] = field(default_factory=list)
    """The round's Bedrock evaluation jobs (lineages with `evaluation.managed_job`): the candidate's, and
    the champion's when it was scored again; their per-prompt output is under `managed_results_uri`."""
    managed_results_uri: str | None = None
    evaluation_capacity: list[dict[str, Any]] = field(default_factory=list)
    """What the round created so the candidate (and a champion with nothing serving it) could answer
    the evaluation set: `models/capacity.Capacity` as dicts. Deleted when the round ends, except
    the one a promotion adopted as the serving capacity."""
    serving_action: str | None = None
    """How a promotion or rollback put the model in service: adopt | update | create | none."""
    serving_model_id: str | None = None
    """What served the lineage once this promotion or rollback completed (the pointer's value)."""
    rollback_of: int | None = None
    """A rollback: the earlier iteration whose model it made the champion again."""
    requested_by: str | None = None
    """Who asked for a rollback (what `iterft rollback` was run as)."""
    model_deleted_at: str | None = None
    """When retention deleted this iteration's custom model."""
    execution_arn: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    cost: dict[str, Any] = field(default_factory=dict)
    """The round's estimated cost (logic/cost.py), COST_KEYS; the registry leaves out the dollars
    a price was unset for, the history shows them as null. Empty: no estimate was made."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IterationRecord:
        """Build from a registry item; keys that are not fields (pk, sk) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {name: value for name, value in data.items() if name in known and value is not None}
        values["iteration"] = int(values["iteration"])
        values["hyperparameters"] = {k: str(v) for k, v in dict(values.get("hyperparameters", {})).items()}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Every field that is set; unset (None) fields are left out of the registry item."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    def dataset_ref(self) -> DatasetRef:
        """The upload this iteration trains on, as recorded at dispatch: the dataset of the execution
        input that dispatch started (a resumed dispatch starts the same execution again with it)."""
        if self.dataset_bucket is None or self.dataset_key is None or self.uploaded_at is None:
            raise ValueError(f"iteration {self.iteration} has no dataset reference")
        return DatasetRef(
            bucket=self.dataset_bucket,
            key=self.dataset_key,
            version_id=self.dataset_version,
            etag=self.dataset_etag or "",
            size=self.size_bytes or 0,
            uploaded_at=self.uploaded_at,
            strategy=self.requested_strategy,
        )

    def to_history(self) -> dict[str, Any]:
        """The public history object (what `iterft history` shows): one row per iteration."""
        return {
            "iteration": self.iteration,
            "decision": self.decision,
            "parent_iteration": self.parent_iteration,
            "base_model": self.base_model,
            "output_model_arn": self.output_model_arn,
            "dataset": self.dataset,
            "source": self.dataset_source,
            "job_arn": self.job_arn,
            "hyperparameters": dict(self.hyperparameters),
            "strategy": self.strategy or (None if self.rollback_of is not None else "fine_tuning"),
            "customization_type": self.customization_type,
            "customization_config": dict(self.customization_config),
            "records": self.records,
            "size_bytes": self.size_bytes,
            "report_uri": self.report_uri,
            "leakage": dict(self.leakage),
            "results_uri": self.results_uri,
            "metrics_uri": self.metrics_uri,
            "evaluation_job_arns": list(self.evaluation_job_arns),
            "managed_results_uri": self.managed_results_uri,
            "training_loss": self.training_loss,
            "validation_loss": self.validation_loss,
            "training_seconds": self.training_seconds,
            "eval_score": self.eval_score,
            "champion_score": self.champion_score,
            "min_improvement": self.min_improvement,
            "eval_set_version": self.eval_set_version,
            "metric": self.metric,
            "metrics": dict(self.metrics),
            "champion_metrics": dict(self.champion_metrics),
            "deltas": {name: _delta_entry(value) for name, value in self.deltas.items()},
            "gate": list(self.gate),
            "inconclusive": self.inconclusive,
            "records_to_resolve": self.records_to_resolve,
            "power": dict(self.power),
            "cost_per_point_usd": self.cost_per_point_usd,
            "converged": self.converged,
            "regression": bool(self.regression),
            "approval": dict(self.approval),
            "evaluation_capacity": [dict(item) for item in self.evaluation_capacity],
            "serving_action": self.serving_action,
            "serving_model_id": self.serving_model_id,
            "rollback_of": self.rollback_of,
            "requested_by": self.requested_by,
            "model_deleted_at": self.model_deleted_at,
            "reason": self.reason,
            "cost": {key: self.cost.get(key) for key in COST_KEYS} if self.cost else {},
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


def delta_value(entry: Any) -> float | None:
    """The mean difference of a history delta, whichever shape it was recorded in."""
    if isinstance(entry, Mapping):
        value = entry.get("delta")
        return None if value is None else float(value)
    return None if entry is None else float(entry)


def _delta_entry(entry: Any) -> dict[str, float | None]:
    """A history delta as `{"delta", "ci_low", "ci_high"}` (bounds None for a round recorded before them)."""
    if isinstance(entry, Mapping):
        return {
            key: None if entry.get(key) is None else float(entry[key])
            for key in ("delta", "ci_low", "ci_high")
        }
    return {"delta": delta_value(entry), "ci_low": None, "ci_high": None}


@dataclass(frozen=True)
class LineageState:
    """A lineage's `STATE` item: its champion, serving pointer, lock and iteration counter."""

    lineage: str
    champion_model: str
    """What the next round sends as baseModelIdentifier."""
    champion_iteration: int = 0
    """0 while the champion is still the lineage's starting point."""
    champion_model_arn: str | None = None
    champion_score: float | None = None
    champion_eval_set_version: str | None = None
    champion_metric: str | None = None
    """The metric champion_score was measured with; a score is reused only for the same metric."""
    champion_metrics: dict[str, Any] | None = None
    """Every metric of the champion on champion_eval_set_version (reused only for the same metric set)."""
    serving_model_id: str | None = None
    """What applications invoke for the champion (the serving capacity's ARN); None while the
    starting point serves or under serving mode none."""
    serving_capacity: dict[str, Any] | None = None
    """The lineage's serving capacity (`models/capacity.Capacity` as a dict): what promotions update."""
    converged: bool = False
    """Gains stayed under the plateau threshold for `gate.plateau_rounds` decided rounds in a row."""
    marginal_rounds: int = 0
    """Consecutive decided rounds whose primary improvement was under the plateau threshold."""
    plateau_iteration: int | None = None
    """The last iteration counted by the plateau rule (a retried Finish does not count twice)."""
    lock_owner: int | None = None
    lock_since: str | None = None
    next_iteration: int = 1
    spend_month: str | None = None
    """The calendar month (UTC, `YYYY-MM`) `spend_usd` counts: the month of the last counted Finish."""
    spend_usd: float = 0.0
    """The estimated cost (total_usd) of the rounds that finished in `spend_month`."""
    budget_notified_month: str | None = None
    """The month the team was last told the monthly budget was reached (once a month)."""
    retired_at: str | None = None
    """When `iterft retire` retired the lineage: no round starts any more, its uploads are refused."""
    retired_by: str | None = None
    retired_reason: str | None = None

    @classmethod
    def from_dict(cls, lineage: str, data: Mapping[str, Any]) -> LineageState:
        known = {f.name for f in fields(cls)} - {"lineage"}
        values = {name: value for name, value in data.items() if name in known and value is not None}
        return cls(lineage=lineage, **values)
