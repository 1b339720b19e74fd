"""Hyperparameters: lineage defaults, then per-upload overrides, each checked against its range."""

from __future__ import annotations

from collections.abc import Mapping

from iterft_runtime.models.families import ModelFamily, check_hyperparameters

OVERRIDE_METADATA_PREFIX = "hp-"
"""S3 user metadata `x-amz-meta-hp-<name>` overrides hyperparameter <name> for one upload."""


def overrides_from_metadata(family: ModelFamily, metadata: Mapping[str, str]) -> dict[str, str]:
    """Overrides named in S3 user metadata. S3 lowercases metadata keys, so names match case-insensitively."""
    by_lower = {name.lower(): name for name in family.hyperparameters}
    overrides = {}
    for key, value in metadata.items():
        if key.lower().startswith(OVERRIDE_METADATA_PREFIX):
            given = key[len(OVERRIDE_METADATA_PREFIX) :]
            overrides[by_lower.get(given.lower(), given)] = value
    return overrides


def merge_hyperparameters(
    family: ModelFamily, defaults: Mapping[str, object], overrides: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Defaults then overrides, as the strings Bedrock takes, and the problems found (empty when valid)."""
    merged = {name: _as_text(value) for name, value in {**defaults, **overrides}.items()}
    return merged, check_hyperparameters(family, merged)


def _as_text(value: object) -> str:
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    return str(value)
