"""The lineages' configs as the stack stores them: one SSM parameter each under the stack's prefix,
read through Powertools' cached parameters (a redeploy's change is seen within `MAX_AGE_SECONDS`)."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from iterft_runtime.models.lineage import LineageConfig

MAX_AGE_SECONDS = 30
"""Lineage configs are cached this long: a redeploy's change is seen within half a minute."""


def lineage_config(prefix: str, name: str) -> LineageConfig | None:
    """The lineage's config, or None when no such lineage is configured under `prefix`."""
    try:
        value = parameters.get_parameter(prefix + name, max_age=MAX_AGE_SECONDS)
    except GetParameterError:
        if name in known_lineages(prefix):
            raise  # configured but unreadable: let the caller's retry take it
        return None
    return LineageConfig.model_validate_json(str(value))


def known_lineages(prefix: str) -> list[str]:
    """The names of the lineages configured under `prefix`."""
    found = parameters.get_parameters(prefix.rstrip("/"), recursive=False, max_age=MAX_AGE_SECONDS)
    return sorted(found)
