"""The reconciler's plan, plain Python: what no path of the workflow may leave behind, and its repair.

Input: one lineage's registry snapshot, the status of the execution holding its lock, what Bedrock lists
of the stack's custom models and capacity, and the serving pointer. Output: a typed list of repairs
(`Repair`); the handler (handlers/reconcile.py) carries them out, records and notifies them.

Rules (issue 19):
- a lock held by an iteration whose execution has ended is released (the iteration recorded failed if
  it still says running), and the next queued upload dispatched; a lock whose execution never started
  is dispatched again after a grace period (dispatch resumes it). A RUNNING execution is never touched;
- uploads queued for longer than the grace period on a lineage with no lock, whose last round also ended
  longer ago, are dispatched again: the trigger message that should have started the next one was lost
  (dead-lettered after the queue's receives). Not where uploads wait on purpose: a retired lineage, a
  converged one with `gate.pause_when_converged`, one over its monthly budget;
- a custom model of the stack's jobs that no iteration records is recorded on the iteration its name
  says, then deleted by retention's rules (logic/serving.models_to_delete);
- a deployment or provisioned throughput named by the stack that nothing serves and no running round
  uses is deleted;
- a serving pointer that disagrees with the registry's champion is notified, never changed.

A resource is the stack's only when its name parses (naming.parse_round_resource, naming.
parse_serving_capacity_name) to an iteration the registry holds whose upload has the name's fingerprint
(so another stack's lineage of the same name is never touched), and that iteration is not running.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from iterft_runtime import naming
from iterft_runtime.logic.cost import CostInputError, budget_check, parse_time
from iterft_runtime.logic.notifications import Notification, subject_line
from iterft_runtime.logic.serving import LineageModel, models_to_delete
from iterft_runtime.models.capacity import CapacityKind
from iterft_runtime.models.lineage import CostConfig, ModelRetention
from iterft_runtime.models.records import Decision, IterationRecord, LineageState

ENDED_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
"""Step Functions' execution statuses after which nothing of the round runs any more."""
RUNNING_STATUS = "RUNNING"
NOT_FOUND = "NOT_FOUND"
"""DescribeExecution found no execution of the recorded ARN (its history expired, 90 days)."""
GRACE = timedelta(minutes=10)
"""A lock younger than this is left alone when its execution never started or cannot be found: a
dispatcher may be starting it right now."""


class RepairKind(StrEnum):
    RELEASE_LOCK = "release_lock"
    REDISPATCH = "redispatch"
    RECORD_MODEL = "record_model"
    DELETE_MODEL = "delete_model"
    DELETE_CAPACITY = "delete_capacity"
    POINTER_MISMATCH = "pointer_mismatch"


@dataclass(frozen=True)
class Repair:
    """One repair: `target` is what it acts on (an ARN, or the lock), `detail` the sentence an operator
    reads (in `iterft repair`, the registry and the notification)."""

    kind: RepairKind
    lineage: str
    iteration: int | None
    target: str
    detail: str
    capacity_kind: CapacityKind | None = None
    execution_status: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            key: (str(value) if isinstance(value, StrEnum) else value) for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Repair:
        capacity = data.get("capacity_kind")
        iteration = data.get("iteration")
        return cls(
            kind=RepairKind(str(data["kind"])),
            lineage=str(data["lineage"]),
            iteration=int(iteration) if iteration is not None else None,
            target=str(data["target"]),
            detail=str(data["detail"]),
            capacity_kind=CapacityKind(str(capacity)) if capacity else None,
            execution_status=data.get("execution_status"),
        )


@dataclass(frozen=True)
class ReconcileRequest:
    """The function's payload: `{}` from the schedule (every lineage), or `{"lineage", "dry_run"}` from
    `iterft repair` (one lineage, Bedrock always listed: a full sweep)."""

    lineage: str | None = None
    dry_run: bool = False

    @classmethod
    def from_event(cls, event: Mapping[str, Any] | None) -> ReconcileRequest:
        event = event or {}
        lineage, dry_run = event.get("lineage"), event.get("dry_run", False)
        if lineage is not None and (not isinstance(lineage, str) or not lineage):
            raise ValueError(f"reconcile request: lineage must be a non-empty string, not {lineage!r}")
        if not isinstance(dry_run, bool):
            raise ValueError(f"reconcile request: dry_run must be true or false, not {dry_run!r}")
        return cls(lineage, dry_run)

    @property
    def full_sweep(self) -> bool:
        return self.lineage is not None


@dataclass(frozen=True)
class ExecutionStatus:
    status: str
    """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, or NOT_FOUND."""
    stopped_at: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in ENDED_STATUSES


@dataclass(frozen=True)
class ListedModel:
    name: str
    arn: str


@dataclass(frozen=True)
class ListedCapacity:
    kind: CapacityKind
    name: str
    arn: str
    model_arn: str | None


@dataclass(frozen=True)
class Inventory:
    """What Bedrock lists in the account and region (the plan picks the stack's own by name)."""

    models: Sequence[ListedModel] = ()
    capacities: Sequence[ListedCapacity] = ()


@dataclass(frozen=True)
class Snapshot:
    """One lineage as the registry holds it (one Query: naming.RECONCILE_RANGE)."""

    lineage: str
    state: LineageState | None
    iterations: Sequence[IterationRecord] = ()
    repairs: Sequence[Mapping[str, Any]] = ()
    """Earlier repair records, oldest first (for not notifying the same pointer mismatch twice)."""
    swept_through: int = 0
    """Every iteration up to this one was ended at the last sweep of Bedrock's lists."""
    queued: int = 0
    queued_since: str | None = None
    """When the oldest queued upload reached the trigger queue (its `received_at`, else its event time)."""

    def iteration(self, number: int) -> IterationRecord | None:
        return next((record for record in self.iterations if record.iteration == number), None)


@dataclass(frozen=True)
class Context:
    """What the plan knows besides the registry."""

    stack_name: str
    retention: ModelRetention
    now: datetime
    execution: ExecutionStatus | None = None
    """The lock owner's execution (None: not locked, or never started)."""
    inventory: Inventory | None = None
    """None: Bedrock was not listed (nothing needed it): no model or capacity repair."""
    pointer: str | None = None
    extra_protected: frozenset[str] = field(default_factory=frozenset)
    pause_when_converged: bool = False
    """The lineage's `gate.pause_when_converged`: a converged lineage keeps its uploads queued."""
    cost: CostConfig | None = None
    """The lineage's prices and budget: one over its monthly budget keeps its uploads queued."""


def lock_execution(snapshot: Snapshot) -> str | None:
    """The execution to describe: the lock owner's, when it has one."""
    state = snapshot.state
    if state is None or state.lock_owner is None:
        return None
    record = snapshot.iteration(state.lock_owner)
    return record.execution_arn if record else None


def _owner_ended(snapshot: Snapshot, execution: ExecutionStatus | None, now: datetime) -> bool:
    state = snapshot.state
    if state is None or state.lock_owner is None or execution is None:
        return False
    return execution.ended or (execution.status == NOT_FOUND and _older_than(state.lock_since, now, GRACE))


def _older_than(stamp: str | None, now: datetime, age: timedelta) -> bool:
    try:
        return stamp is not None and now - parse_time(stamp) >= age
    except CostInputError:
        return False


def running_iterations(snapshot: Snapshot, execution: ExecutionStatus | None, now: datetime) -> set[int]:
    """Iterations a round may still be using: recorded running, except a lock owner whose execution ended."""
    ended_owner = (
        snapshot.state.lock_owner if _owner_ended(snapshot, execution, now) and snapshot.state else None
    )
    return {
        record.iteration
        for record in snapshot.iterations
        if record.decision == Decision.RUNNING and record.iteration != ended_owner
    }


def sweep_point(snapshot: Snapshot, execution: ExecutionStatus | None, now: datetime) -> int:
    """The newest iteration up to which every iteration has ended (what a sweep can settle)."""
    running = running_iterations(snapshot, execution, now)
    settled = 0
    for record in sorted(snapshot.iterations, key=lambda record: record.iteration):
        if record.iteration in running:
            break
        settled = record.iteration
    return settled


def needs_inventory(snapshot: Snapshot, execution: ExecutionStatus | None, now: datetime) -> bool:
    """Bedrock must be listed only when an iteration ended since the last sweep: what a round leaves
    behind, it leaves when it ends."""
    return sweep_point(snapshot, execution, now) > snapshot.swept_through


def plan(snapshot: Snapshot, context: Context) -> list[Repair]:
    """Every repair the lineage needs, in the order to carry them out (capacity before the models it
    serves: Bedrock refuses to delete a model still deployed)."""
    repairs = _lock_repairs(snapshot, context) + _queue_repairs(snapshot, context)
    if context.inventory is not None:
        capacities = _capacity_repairs(snapshot, context, context.inventory)
        repairs += capacities
        repairs += _model_repairs(snapshot, context, context.inventory, capacities)
    repairs += _pointer_repairs(snapshot, context)
    return repairs


def _lock_repairs(snapshot: Snapshot, context: Context) -> list[Repair]:
    state, name = snapshot.state, snapshot.lineage
    if state is None or state.lock_owner is None:
        return []
    owner = state.lock_owner
    record = snapshot.iteration(owner)
    execution = context.execution
    if record is not None and record.execution_arn is None:
        if not _older_than(state.lock_since, context.now, GRACE):
            return []
        return [
            Repair(
                RepairKind.REDISPATCH,
                name,
                owner,
                f"lock of iteration {owner}",
                f"iteration {owner} has held the lock since {state.lock_since} without an execution: "
                "dispatched again (dispatch starts it)",
            )
        ]
    if record is None or not _owner_ended(snapshot, execution, context.now) or execution is None:
        return []
    when = f" at {execution.stopped_at}" if execution.stopped_at else ""
    recorded = " recorded failed," if record.decision == Decision.RUNNING else ""
    return [
        Repair(
            RepairKind.RELEASE_LOCK,
            name,
            owner,
            record.execution_arn or f"lock of iteration {owner}",
            f"iteration {owner}'s execution {execution.status}{when} while holding the lock:{recorded} "
            "lock released, next queued upload dispatched",
            execution_status=execution.status,
        )
    ]


def _queue_repairs(snapshot: Snapshot, context: Context) -> list[Repair]:
    """Uploads left queued on an idle lineage (see the module's rules)."""
    state, name = snapshot.state, snapshot.lineage
    if state is None or not snapshot.queued or state.lock_owner is not None or state.retired_at:
        return []
    if state.converged and context.pause_when_converged:
        return []
    budget = (
        budget_check(context.cost, state.spend_month, state.spend_usd, context.now) if context.cost else None
    )
    if budget is not None and budget.reached:
        return []
    ended = [record.ended_at for record in snapshot.iterations if record.ended_at]
    if not _older_than(snapshot.queued_since, context.now, GRACE) or (
        ended and not _older_than(max(ended), context.now, GRACE)
    ):
        return []
    return [
        Repair(
            RepairKind.REDISPATCH,
            name,
            None,
            f"queue of {name}",
            f"{snapshot.queued} upload(s) queued since {snapshot.queued_since} and no round running: "
            "dispatched again (the trigger message that should have started the next was lost)",
        )
    ]


def failed_reason(repair: Repair) -> str:
    """The reason recorded on an iteration whose lock the reconciler released."""
    return f"the execution ended ({repair.execution_status}) without finishing the round; {repair.detail}"


def _ours(snapshot: Snapshot, iteration: int, fingerprint: str) -> IterationRecord | None:
    """The iteration a round resource's name points at, when it really is this lineage's upload's."""
    record = snapshot.iteration(iteration)
    if record is None or record.dataset_key is None or record.uploaded_at is None:
        return None
    dataset = record.dataset_ref()
    return record if naming.dataset_fingerprint(dataset.key, dataset.identity) == fingerprint else None


def _serving_arns(snapshot: Snapshot, context: Context) -> set[str]:
    state = snapshot.state
    served = {context.pointer or ""} | set(context.extra_protected)
    if state is not None:
        served |= {state.serving_model_id or "", str((state.serving_capacity or {}).get("arn") or "")}
    return served - {""}


def _capacity_repairs(snapshot: Snapshot, context: Context, inventory: Inventory) -> list[Repair]:
    running = running_iterations(snapshot, context.execution, context.now)
    serving = _serving_arns(snapshot, context)
    repairs = []
    for capacity in inventory.capacities:
        iteration = _capacity_iteration(snapshot, context.stack_name, capacity)
        if iteration is None or iteration in running or capacity.arn in serving:
            continue
        repairs.append(
            Repair(
                RepairKind.DELETE_CAPACITY,
                snapshot.lineage,
                iteration,
                capacity.arn,
                f"{capacity.kind} {capacity.name} (iteration {iteration}) serves nothing and no round "
                "uses it: deleted",
                capacity_kind=capacity.kind,
            )
        )
    return repairs


def _capacity_iteration(snapshot: Snapshot, stack_name: str, capacity: ListedCapacity) -> int | None:
    """The iteration of the stack's lineage that created `capacity`, or None when it is not ours."""
    serving = naming.parse_serving_capacity_name(capacity.name, snapshot.lineage, stack_name)
    if serving is not None:
        return serving if snapshot.iteration(serving) is not None else None
    parsed = naming.parse_round_resource(capacity.name, snapshot.lineage)
    if parsed is None or not parsed[2]:
        return None
    iteration, fingerprint, _ = parsed
    return iteration if _ours(snapshot, iteration, fingerprint) is not None else None


def _model_repairs(
    snapshot: Snapshot, context: Context, inventory: Inventory, deleted_capacity: Iterable[Repair]
) -> list[Repair]:
    running = running_iterations(snapshot, context.execution, context.now)
    recorded = {record.output_model_arn for record in snapshot.iterations if record.output_model_arn}
    orphans: list[tuple[IterationRecord, ListedModel]] = []
    for model in inventory.models:
        parsed = naming.parse_round_resource(model.name, snapshot.lineage)
        if parsed is None or parsed[2] or model.arn in recorded:
            continue
        record = _ours(snapshot, parsed[0], parsed[1])
        if record is None or record.iteration in running or record.output_model_arn:
            continue
        orphans.append((record, model))
    if not orphans:
        return []
    repairs = [
        Repair(
            RepairKind.RECORD_MODEL,
            snapshot.lineage,
            record.iteration,
            model.arn,
            f"custom model {model.name} of iteration {record.iteration}'s job was recorded nowhere: "
            "recorded on the iteration",
        )
        for record, model in orphans
    ]
    doomed = _retention_doomed(snapshot, context, inventory, deleted_capacity, orphans, running)
    repairs += [
        Repair(
            RepairKind.DELETE_MODEL,
            snapshot.lineage,
            record.iteration,
            model.arn,
            f"custom model {model.name} of iteration {record.iteration} ({_decision(snapshot, record)}) "
            "deleted by retention's rules",
        )
        for record, model in orphans
        if record.iteration in doomed
    ]
    return repairs


def _decision(snapshot: Snapshot, record: IterationRecord) -> str:
    state = snapshot.state
    if record.decision == Decision.RUNNING and state is not None and state.lock_owner == record.iteration:
        return Decision.FAILED.value  # the lock repair records it failed
    return record.decision


def _retention_doomed(
    snapshot: Snapshot,
    context: Context,
    inventory: Inventory,
    deleted_capacity: Iterable[Repair],
    orphans: Sequence[tuple[IterationRecord, ListedModel]],
    running: set[int],
) -> set[int]:
    """The orphans' iterations retention would delete the model of now, with everything protected it
    protects: the champion, what serves (pointer, serving capacity, every capacity not deleted here),
    and what a running round builds on or produced."""
    state = snapshot.state
    deleted = {repair.target for repair in deleted_capacity}
    protected = {
        context.pointer,
        *(capacity.model_arn for capacity in inventory.capacities if capacity.arn not in deleted),
        *context.extra_protected,
    }
    if state is not None:
        protected |= {
            state.champion_model,
            state.champion_model_arn,
            (state.serving_capacity or {}).get("model_arn"),
        }
    for record in snapshot.iterations:
        if record.iteration in running:
            protected |= {record.base_model, record.output_model_arn}
    orphan_arns = {record.iteration: model.arn for record, model in orphans}
    models = [
        LineageModel(
            record.iteration,
            orphan_arns.get(record.iteration) or str(record.output_model_arn),
            _decision(snapshot, record),
            _ended_at(record, context.now),
        )
        for record in snapshot.iterations
        if (record.output_model_arn and not record.model_deleted_at) or record.iteration in orphan_arns
    ]
    doomed = models_to_delete(
        models,
        context.retention.keep_models,
        protected,
        keep_rejected_days=context.retention.keep_rejected_days,
        now=context.now,
    )
    return {model.iteration for model in doomed if model.iteration in orphan_arns}


def _ended_at(record: IterationRecord, now: datetime) -> datetime | None:
    stamp = record.ended_at or record.started_at
    try:
        return parse_time(stamp) if stamp else now
    except CostInputError:
        return None


def expected_pointer(state: LineageState | None) -> str | None:
    """What the pointer must say after the last promotion or rollback: the serving capacity's ARN, or
    (serving mode none) the champion's model; None while the starting point serves (the stack's value)
    and for a retired lineage (`iterft retire` deleted its pointer)."""
    if state is None or state.retired_at:
        return None
    if state.serving_model_id:
        return state.serving_model_id
    return state.champion_model_arn if state.champion_iteration else None


def _pointer_repairs(snapshot: Snapshot, context: Context) -> list[Repair]:
    """A pointer that disagrees with the champion (not while a round runs: a promotion moves the registry
    a moment before the pointer). Notified once per disagreement."""
    state = snapshot.state
    if state is None or (
        state.lock_owner is not None and not _owner_ended(snapshot, context.execution, context.now)
    ):
        return []
    expected = expected_pointer(state)
    if expected is None or context.pointer == expected:
        return []
    detail = (
        f"serving pointer says {context.pointer or '(missing)'} but the registry's champion "
        f"(iteration {state.champion_iteration}) is served by {expected}: not changed, look before moving it"
    )
    earlier = [item for item in snapshot.repairs if item.get("kind") == RepairKind.POINTER_MISMATCH]
    if earlier and earlier[-1].get("detail") == detail:
        return []
    return [Repair(RepairKind.POINTER_MISMATCH, snapshot.lineage, state.champion_iteration, expected, detail)]


def repair_notification(
    lineage: str, outcomes: Sequence[tuple[Repair, str | None]], dry_run: bool
) -> Notification:
    """One message per lineage and run: each repair, and the error of any that could not be made."""
    lines = [f"Lineage: {lineage}", "The reconciler found what no round may leave behind:"]
    for repair, error in outcomes:
        lines.append(f"- {repair.detail}" + (f" (failed: {error})" if error else ""))
    if dry_run:
        lines.append("Dry run: nothing was changed.")
    lines.append(f"History: iterft status {lineage}; run again on demand: iterft repair {lineage}")
    kinds = sorted({str(repair.kind) for repair, _ in outcomes})
    return Notification(
        subject=subject_line(f"iterft {lineage} repaired: {', '.join(kinds)}"), body="\n".join(lines) + "\n"
    )
