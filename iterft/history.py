"""What operators read from the registry: a lineage's history and each lineage's status.

Reads go through the runtime's own data-access layer (iterft_runtime.dal.registry), so the
CLI, the demo and the workflow share one definition of the registry's keys and records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from iterft_runtime import naming
from iterft_runtime.dal.gaps import lineage_gaps as read_lineage_gaps
from iterft_runtime.dal.registry import Registry
from iterft_runtime.dal.repairs import RepairRegistry, repair_line
from iterft_runtime.dal.storage import ObjectNotFoundError, split_uri
from iterft_runtime.logic.cost import budget_check, month_of
from iterft_runtime.logic.dispatch import timestamp
from iterft_runtime.logic.gaps import DEFAULT_OPTIONS, GapAnalysisError, GapOptions
from iterft_runtime.logic.serving import rollback_refusal
from iterft_runtime.logic.training_metrics import LossPoint, loss_points
from iterft_runtime.logic.uploads import NOT_TRAINED
from iterft_runtime.models.gaps import GapAnalysis
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import Decision, IterationRecord, LineageState

from iterft.charts import LossCurves
from iterft.report import ReportData
from iterft.target import Deployment, TargetError


def lineage_history(
    deployment: Deployment, lineage: str, *, categories: bool = False
) -> list[dict[str, Any]]:
    """One public history object per iteration, in iteration order, each with `rollback`: whether
    `iterft rollback --to` that iteration can be done now (`possible`), it is the `champion`, its
    model was `deleted` by retention, or null (it never served: nothing to go back to).

    The registry holds each round's metrics summarized (a few categories each); with `categories`, a
    round's `metrics` and `champion_metrics` are its metrics document's instead, every category listed.
    """
    registry = Registry(deployment.table_name)
    state = registry.get_state(lineage)
    rows = [
        {**record.to_history(), "rollback": rollback_availability(record, state)}
        for record in registry.list_iterations(lineage)
    ]
    if categories:
        for row in rows:
            document = metrics_document(deployment, row)
            if document is not None:
                row["metrics"], row["champion_metrics"] = document["candidate"], document["champion"]
    return rows


def metrics_document(deployment: Deployment, row: dict[str, Any]) -> dict[str, Any] | None:
    """A round's every metric of both models, per category too (Aggregate evaluation's document at the
    history's `metrics_uri`); None for a round that was not evaluated."""
    if not row.get("metrics_uri"):
        return None
    bucket, key = split_uri(row["metrics_uri"])
    body = deployment.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return dict(json.loads(body))


def lineage_uploads(
    deployment: Deployment, lineage: str, *, not_trained: bool = False
) -> list[dict[str, Any]]:
    """The lineage's upload ledger, in upload order: every object version seen under
    incoming/<lineage>/ and what became of it (`not_trained`: only those that started no round)."""
    records = Registry(deployment.table_name).uploads(lineage)
    if not_trained:
        records = [record for record in records if record.status in NOT_TRAINED]
    records.sort(
        key=lambda record: (record.dataset.uploaded_at, record.received_at or "", record.dataset.key)
    )
    return [record.to_public() for record in records]


STATUS_NOT_TRAINED = 10
"""How many of the latest uploads that started no round `iterft status` lists per lineage."""


def rollback_availability(record: IterationRecord, state: LineageState | None) -> str | None:
    """`possible`, `champion`, `deleted` or None (never promoted), as `iterft rollback` would judge it."""
    if record.decision != Decision.PROMOTED or not record.output_model_arn:
        return None
    if record.model_deleted_at:
        return "deleted"
    if state is not None and state.champion_iteration == record.iteration:
        return "champion"
    return "possible" if rollback_refusal(record, state, record.iteration) is None else None


def retired_line(state: LineageState | None) -> str | None:
    """`retired on <when> by <who>: <why>`, or None for a lineage in service."""
    if state is None or not state.retired_at:
        return None
    return f"retired on {state.retired_at} by {state.retired_by}: {state.retired_reason}"


def lineage_names(deployment: Deployment) -> list[str]:
    """The lineages the stack was deployed with (one SSM parameter each)."""
    prefix = naming.lineage_parameter_prefix(deployment.stack_name)
    paginator = deployment.client("ssm").get_paginator("get_parameters_by_path")
    names = [
        parameter["Name"][len(prefix) :]
        for page in paginator.paginate(Path=prefix)
        for parameter in page["Parameters"]
    ]
    return sorted(names)


def lineage_status(deployment: Deployment, only: str | None = None) -> list[dict[str, Any]]:
    """Per lineage: champion, serving pointer, the iteration holding the lock, queued uploads,
    whether it is converged (`paused`: converged uploads wait for `iterft resume`), and this
    month's estimated spend against its monthly budget (`budget_reached`: uploads wait)."""
    registry = Registry(deployment.table_name)
    now = datetime.now(UTC)
    month = month_of(now)
    statuses = []
    for lineage in [lineage_config(deployment, only).name] if only else lineage_names(deployment):
        state = registry.get_state(lineage)
        config = deployed_config(deployment, lineage)
        budget = (
            budget_check(config.cost, state.spend_month, state.spend_usd, now) if config and state else None
        )
        statuses.append(
            {
                "lineage": lineage,
                "champion_model": state.champion_model if state else None,
                "champion_iteration": state.champion_iteration if state else 0,
                "champion_score": state.champion_score if state else None,
                "champion_eval_set_version": state.champion_eval_set_version if state else None,
                "serving_model_id": state.serving_model_id if state else None,
                "serving_mode": config.serving.mode.value if config else None,
                "serving_capacity": state.serving_capacity if state else None,
                "serving_pointer": _serving_pointer(deployment, lineage),
                "retired": retired_line(state),
                "running_iteration": state.lock_owner if state else None,
                "running_since": state.lock_since if state else None,
                "running_step": _running_step(
                    deployment, registry, lineage, state.lock_owner if state else None
                ),
                **_lock_execution(deployment, registry, lineage, state.lock_owner if state else None),
                "repairs": [
                    repair_line(item)
                    for item in RepairRegistry(deployment.table_name).latest_repairs(lineage)
                ],
                "queued": [queued.dataset.s3_uri for queued in registry.queued_uploads(lineage)],
                "not_trained": lineage_uploads(deployment, lineage, not_trained=True)[-STATUS_NOT_TRAINED:],
                "converged": state.converged if state else False,
                "marginal_rounds": state.marginal_rounds if state else 0,
                "paused": bool(state and state.converged and config and config.gate.pause_when_converged),
                "month": month,
                "month_spend_usd": state.spend_usd if state and state.spend_month == month else 0.0,
                "monthly_budget_usd": config.cost.monthly_budget_usd if config else None,
                "budget_reached": bool(budget and budget.reached),
            }
        )
    return statuses


def _running_step(
    deployment: Deployment, registry: Registry, lineage: str, iteration: int | None
) -> str | None:
    """The step the lineage's running round is in (None when idle or not yet started)."""
    if iteration is None:
        return None
    record = registry.get_iteration(lineage, iteration)
    return current_step(deployment, record.execution_arn) if record else None


def _lock_execution(
    deployment: Deployment, registry: Registry, lineage: str, iteration: int | None
) -> dict[str, str | None]:
    """The status of the execution of the iteration holding the lock (RUNNING, or how it ended and when:
    an ended execution that still holds the lock is what `iterft repair` releases)."""
    record = registry.get_iteration(lineage, iteration) if iteration is not None else None
    if record is None or not record.execution_arn:
        return {"lock_execution_status": None, "lock_execution_stopped_at": None}
    described = deployment.client("stepfunctions").describe_execution(executionArn=record.execution_arn)
    stopped = described.get("stopDate")
    return {
        "lock_execution_status": str(described["status"]),
        "lock_execution_stopped_at": timestamp(stopped) if stopped else None,
    }


def deployed_config(deployment: Deployment, lineage: str) -> LineageConfig | None:
    """The lineage's config as deployed (its SSM parameter), or None for a lineage not deployed."""
    value = parameter_value(deployment, naming.lineage_parameter_prefix(deployment.stack_name) + lineage)
    return LineageConfig.model_validate_json(value) if value is not None else None


def _serving_pointer(deployment: Deployment, lineage: str) -> str | None:
    """What applications invoke for the lineage now (the serving pointer's value)."""
    return parameter_value(deployment, naming.serving_parameter_name(deployment.stack_name, lineage))


def parameter_value(deployment: Deployment, name: str) -> str | None:
    """An SSM parameter's value, or None when it does not exist."""
    ssm = deployment.client("ssm")
    try:
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def known_lineage(deployment: Deployment, lineage: str) -> LineageState | None:
    """A lineage of the config or of the registry (retired and removed from the config: its history
    stays); its registry state. An unknown lineage is a TargetError naming the ones the stack has."""
    state = Registry(deployment.table_name).get_state(lineage)
    if state is None:
        lineage_config(deployment, lineage)
    return state


def lineage_config(deployment: Deployment, lineage: str) -> LineageConfig:
    """The lineage's deployed config (its SSM parameter); an unknown lineage is a TargetError naming
    the ones the stack has."""
    config = deployed_config(deployment, lineage)
    if config is None:
        known = ", ".join(lineage_names(deployment)) or "none"
        raise TargetError(f"unknown lineage {lineage!r} in stack {deployment.stack_name} (lineages: {known})")
    return config


def loss_curves(deployment: Deployment, lineage: str, history: list[dict[str, Any]]) -> list[LossCurves]:
    """Each trained iteration's per-step losses, from the metrics CSVs its job wrote under
    `jobs/<lineage>/<iteration>/model-customization-job-<job id>/` (where Bedrock writes them)."""
    curves = []
    for row in history:
        if not row.get("job_arn"):
            continue
        prefix = naming.job_output_prefix(lineage, row["iteration"])
        job_id = row["job_arn"].rsplit("/", 1)[-1]
        training = _csv_points(deployment, naming.job_training_metrics_key(prefix, job_id), "training_loss")
        validation = _csv_points(
            deployment, naming.job_validation_metrics_key(prefix, job_id), "validation_loss"
        )
        if training or validation:
            curves.append(LossCurves(row["iteration"], training, validation))
    return curves


def _csv_points(deployment: Deployment, key: str, loss_column: str) -> list[LossPoint]:
    """The CSV's losses; none when the job wrote no such file (e.g. no validation data)."""
    s3 = deployment.client("s3")
    try:
        body = s3.get_object(Bucket=deployment.bucket_name, Key=key)["Body"].read().decode("utf-8")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return []
        raise
    return loss_points(body.splitlines(), loss_column, f"s3://{deployment.bucket_name}/{key}")


def lineage_gaps(
    deployment: Deployment, lineage: str, options: GapOptions = DEFAULT_OPTIONS, *, traffic: bool = True
) -> GapAnalysis | None:
    """Where the lineage's champion falls short (`iterft gaps`), on the lineage's primary metric (as
    deployed; for a retired lineage no longer deployed, the metric its champion was scored with); None
    before its first evaluated round. `options.traffic_share`: each category's share of recent traffic;
    when not given, `traffic` and the lineage captures traffic (issue 17 point 3), it is read by a dry run
    of the curate function over the curation's lookback (`traffic_from` says what was read, or why
    nothing). Stored evaluation that cannot give the analysis (the primary metric changed since the
    round, its results deleted) is a TargetError saying so."""
    state = known_lineage(deployment, lineage)
    config = deployed_config(deployment, lineage)
    metric = config.evaluation.metric if config is not None else state.champion_metric if state else None
    if metric is None:
        return None
    traffic_from = None
    if traffic and options.traffic_share is None and config is not None and config.traffic is not None:
        options, traffic_from = _with_traffic(deployment, lineage, options)
    try:
        analysis = read_lineage_gaps(deployment.table_name, lineage, metric, options)
    except (GapAnalysisError, ObjectNotFoundError) as error:
        raise TargetError(f"{lineage}: no gap analysis: {error}") from None
    if analysis is None or traffic_from is None:
        return analysis
    return analysis.model_copy(update={"traffic_from": traffic_from})


def _with_traffic(deployment: Deployment, lineage: str, options: GapOptions) -> tuple[GapOptions, str]:
    """`options` with the categories' shares of the lineage's recent calls, and what was read (a dry run
    of the curate function: it reads the invocation logs with its own least-privilege role, writes
    nothing); `options` unchanged and why when there is no share to give."""
    from iterft.flywheel import curate

    try:
        read = curate(deployment, lineage, dry_run=True, requested_by="iterft gaps")
    except TargetError as error:
        return options, f"traffic not read: {error}"
    calls, since, until = int(read["lineage_calls"]), read["since"], read["until"]
    where = f"the lineage's calls {since} to {until} in {read['log_location']}"
    if not calls:
        return options, f"no traffic share: none of {where}"
    return replace(options, traffic_share=dict(read["traffic_share"])), f"traffic share of {calls} of {where}"


def report_data(deployment: Deployment, lineage: str) -> ReportData:
    """What `iterft report` draws: the lineage's config, history, every job's loss curves and the
    champion's gaps by category."""
    config = lineage_config(deployment, lineage)
    history = lineage_history(deployment, lineage)
    state = Registry(deployment.table_name).get_state(lineage)
    try:
        gaps, gaps_problem = lineage_gaps(deployment, lineage), None
    except TargetError as error:
        gaps, gaps_problem = None, str(error)
    return ReportData(
        lineage=lineage,
        stack_name=deployment.stack_name,
        starting_model=config.base_model,
        metric=config.evaluation.metric,
        min_improvement=config.gate.min_improvement,
        plateau_threshold=config.gate.plateau_limit,
        history=history,
        curves=loss_curves(deployment, lineage, history),
        champion=(state.champion_model, state.champion_iteration) if state else None,
        gaps=gaps,
        gaps_problem=gaps_problem,
    )


def current_step(deployment: Deployment, execution_arn: str | None) -> str | None:
    """The state a round's execution is in: the latest state it entered (inside the evaluation Map,
    the shard step), from the execution's history, newest first; None once it has ended."""
    if not execution_arn:
        return None
    states = deployment.client("stepfunctions")
    events = states.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=100)
    # Newest first by event id: the embedded default ignores reverseOrder and returns the whole history.
    for event in sorted(events["events"], key=lambda event: int(event["id"]), reverse=True):
        if event["type"] in _EXECUTION_ENDED:
            return None
        if "stateEnteredEventDetails" in event:
            return str(event["stateEnteredEventDetails"]["name"])
    return None


_EXECUTION_ENDED = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}


@dataclass(frozen=True)
class RoundProgress:
    """Where one dataset's round is: queued (no iteration yet), running (with its step) or ended."""

    iteration: int | None
    decision: str
    step: str | None
    started_at: str | None
    reason: str | None


def round_progress(deployment: Deployment, lineage: str, dataset_uri: str) -> RoundProgress:
    """The round of the object version `dataset_uri` (as `DatasetRef.s3_uri`), from the registry and,
    while it runs, its execution's history.

    A round has ended when Finish recorded it (`ended_at`; a promotion is visible a little earlier,
    before its reason is), or when its execution stopped without getting there (then: failed).
    """
    for record in Registry(deployment.table_name).list_iterations(lineage):
        if record.dataset != dataset_uri:
            continue
        progress = RoundProgress(record.iteration, record.decision, None, record.started_at, record.reason)
        if record.ended_at is not None:
            return progress
        step = current_step(deployment, record.execution_arn)
        if step is None and record.execution_arn:
            status = deployment.client("stepfunctions").describe_execution(executionArn=record.execution_arn)
            if status["status"] != "RUNNING":
                reason = f"its execution ended {status['status']} before recording an outcome"
                return replace(progress, decision=Decision.FAILED.value, reason=reason)
        return replace(progress, decision=Decision.RUNNING.value, step=step)
    return RoundProgress(None, "queued", None, None, None)
