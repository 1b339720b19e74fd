"""Finish iteration: record the outcome, everything the round learned and its estimated cost, apply
the plateau rule, release the lock (counting the cost in the lineage's monthly spend), notify, and
publish the round's metrics (per lineage, for the dashboard).

Safe to retry: the record update is a plain overwrite of the same values, the plateau count is
stored once per iteration, the release and the spend it counts apply only while this iteration
holds the lock, and a repeated notification (and the round counted twice in its metrics) is the
worst case. The plateau state is written before the lock is released, so no dispatch can start a
round while a just-converged lineage looks idle and open.
Result at `$.finish` (empty).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from iterft_runtime import naming
from iterft_runtime.dal import notifier
from iterft_runtime.dal.registry import IterationNotFoundError, MonthSpend, Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.cost import (
    CostInputError,
    RoundCost,
    cost_per_point,
    costly_note,
    estimate_round_cost,
    month_of,
    parse_time,
)
from iterft_runtime.logic.notifications import Convergence, round_notification
from iterft_runtime.logic.plateau import PlateauState, after_round, is_regression, regression_note
from iterft_runtime.logic.round_metrics import round_metric_values
from iterft_runtime.logic.rounds import gate_improvement, gate_interval, record_fields
from iterft_runtime.models.lineage import DecideOn, GatePolicy, LineageConfig
from iterft_runtime.models.records import Decision
from iterft_runtime.models.steps import ExecutionInput, FinishResult, dump

logger = Logger()
# Named here, not read from the environment at import (the embedded default sets it after importing).
metrics = Metrics(namespace=naming.METRICS_NAMESPACE, service=naming.POWERTOOLS_SERVICE)


class StateMissingError(RuntimeError):
    """The lineage has no STATE item at Finish of a decided round: the registry is inconsistent."""


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Only the execution input is parsed: Finish releases the lock whatever the rest of the document
    # holds (the cost estimate, the record and the metrics read it leniently, each section on its own).
    given = ExecutionInput.model_validate(event)
    name, iteration = given.lineage.name, given.iteration
    ended_at = settings.now()
    fields = record_fields(event, ended_at=ended_at)
    if "decision" not in fields:
        fields.update(decision=Decision.FAILED.value, reason="the round reached Finish without an outcome")
    registry = Registry(settings.table_name())
    gate = given.lineage.gate
    cost = _estimate(event, given.lineage, parse_time(ended_at))
    if cost is not None:
        fields["cost"] = cost.to_dict()
    improvement = gate_improvement(event)
    if improvement is not None:
        per_point = cost_per_point(cost.total_usd if cost is not None else None, improvement)
        fields["cost_per_point_usd"] = per_point
        costly = (
            gate.max_cost_per_point_usd is not None
            and per_point is not None
            and per_point > gate.max_cost_per_point_usd
        )
        interval = gate_interval(event) if gate.decide_on is DecideOn.LOWER_BOUND else None
        upper = interval[1] if interval is not None else None
        fields["converged"] = _apply_plateau_rule(
            registry, name, iteration, after_round_of(gate, improvement, upper, costly)
        )
        if is_regression(improvement, gate.plateau_limit, upper):
            fields["regression"] = True
            fields["reason"] = (
                f"{fields.get('reason') or 'rejected'}; {regression_note(improvement, gate, upper)}"
            )
        elif costly and per_point is not None and gate.max_cost_per_point_usd is not None:
            note = costly_note(per_point, gate.max_cost_per_point_usd)
            fields["reason"] = f"{fields.get('reason') or 'decided'}; {note}"
    registry.update_iteration(name, iteration, fields)
    spend = None
    if cost is not None and cost.total_usd is not None:
        spend = MonthSpend(month=month_of(parse_time(ended_at)), usd=cost.total_usd)
    released = registry.release_lock(name, iteration, spend)
    record = registry.get_iteration(name, iteration)
    if record is None:
        raise IterationNotFoundError(f"{name}: no iteration {iteration}")

    validation = event.get("validation") or {}
    notification = round_notification(
        name,
        record,
        problem_counts=validation.get("problem_counts"),
        problems=validation.get("problems") or [],
        convergence=_convergence(registry, name, given.lineage.gate) if record.converged else None,
    )
    notifier.publish(settings.topic_arn(), notification)
    _publish_metrics(name, event, record.decision)
    logger.info(
        "iteration finished",
        extra={
            "lineage": name,
            "iteration": iteration,
            "decision": record.decision,
            "lock_released": released,
        },
    )
    return dump(FinishResult())


def _publish_metrics(lineage: str, event: dict[str, Any], decision: str) -> None:
    """The round's outcome, training duration and scores as CloudWatch metrics (embedded metric format,
    written with the function's logs when the handler returns), per lineage, for the dashboard."""
    # Powertools clears the set when it flushes, but not with POWERTOOLS_METRICS_DISABLED (the embedded
    # default's demo): the previous round's lineage dimension would still be there, and be overwritten
    # with a warning.
    metrics.clear_metrics()
    metrics.add_dimension(name=naming.METRIC_LINEAGE_DIMENSION, value=lineage)
    for value in round_metric_values(event, decision):
        metrics.add_metric(name=value.name, unit=MetricUnit(value.unit), value=value.value)


def _estimate(event: dict[str, Any], lineage: LineageConfig, finished_at: datetime) -> RoundCost | None:
    """The round's estimated cost; None (logged, nothing counted) when its state cannot be read:
    a cost estimate must never keep a round from finishing and releasing its lineage."""
    try:
        return estimate_round_cost(event, lineage.cost, lineage.model_family(), finished_at)
    except CostInputError:
        logger.exception("no cost estimate for this round", extra={"lineage": lineage.name})
        return None


def after_round_of(
    gate: GatePolicy, improvement: float, upper: float | None, costly: bool
) -> Callable[[int], PlateauState]:
    """The plateau rule for this round, given the lineage's marginal count before it."""
    return lambda before: after_round(
        before, improvement, gate.plateau_limit, gate.plateau_rounds, upper=upper, costly=costly
    )


def _apply_plateau_rule(
    registry: Registry, name: str, iteration: int, rule: Callable[[int], PlateauState]
) -> bool:
    """Count this decided round once; the lineage's converged state after it."""
    state = registry.get_state(name)
    if state is None:
        raise StateMissingError(f"{name}: no lineage state in the registry")
    if state.plateau_iteration is not None and state.plateau_iteration >= iteration:
        return state.converged  # a retried Finish: already counted
    plateau = rule(state.marginal_rounds)
    if not registry.record_plateau(
        name, iteration, marginal_rounds=plateau.marginal_rounds, converged=plateau.converged
    ):
        latest = registry.get_state(name)
        return bool(latest and latest.converged)
    return plateau.converged


def _convergence(registry: Registry, name: str, gate: GatePolicy) -> Convergence:
    history = [
        (record.iteration, record.eval_score)
        for record in registry.list_iterations(name)
        if record.eval_score is not None
    ]
    return Convergence(
        threshold=gate.plateau_limit,
        rounds=gate.plateau_rounds,
        paused=gate.pause_when_converged,
        score_history=history,
    )
