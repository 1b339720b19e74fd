"""What operators read from the registry: a lineage's history and each lineage's status.

Reads go through the runtime's own data-access layer (iterft_runtime.dal.registry), so the
CLI, the demo and the workflow share one definition of the registry's keys and records.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from iterft_runtime import naming
from iterft_runtime.dal.registry import Registry
from iterft_runtime.logic.cost import budget_check, month_of
from iterft_runtime.models.lineage import LineageConfig

from iterft.target import Deployment


def lineage_history(deployment: Deployment, lineage: str) -> list[dict[str, Any]]:
    """One public history object per iteration, in iteration order."""
    return [record.to_history() for record in Registry(deployment.table_name).list_iterations(lineage)]


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
    for lineage in [only] if only else lineage_names(deployment):
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
                "running_iteration": state.lock_owner if state else None,
                "queued": [queued.dataset.s3_uri for queued in registry.queued_uploads(lineage)],
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


def deployed_config(deployment: Deployment, lineage: str) -> LineageConfig | None:
    """The lineage's config as deployed (its SSM parameter), or None for a lineage not deployed."""
    value = _parameter(deployment, naming.lineage_parameter_prefix(deployment.stack_name) + lineage)
    return LineageConfig.model_validate_json(value) if value is not None else None


def _serving_pointer(deployment: Deployment, lineage: str) -> str | None:
    """What applications invoke for the lineage now (the serving pointer's value)."""
    return _parameter(deployment, naming.serving_parameter_name(deployment.stack_name, lineage))


def _parameter(deployment: Deployment, name: str) -> str | None:
    ssm = deployment.client("ssm")
    try:
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None
