"""Helpers shared by the tests that read the synthesized template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stacks.config import CONFIG_DIR

FIXTURE_CONFIG_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "config"
SYNTHESIZED = ["dev", "prod", "oregon"]
"""The environments the template and cdk-nag tests synthesize: the shipped ones, and `oregon`
(tests/fixtures/config), the one with a managed evaluation job, since no shipped config has one."""


def config_dir(environment: str) -> Path:
    """Where `environment`'s config is: config/, else tests/fixtures/config/."""
    return CONFIG_DIR if (CONFIG_DIR / f"{environment}.yaml").is_file() else FIXTURE_CONFIG_DIR


def readable(value: Any) -> Any:
    """Intrinsics rendered readable: Ref -> <Id>, GetAtt -> <Id.Attr>, joins joined."""
    if isinstance(value, list):
        return [readable(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(readable(part)) for part in parts)
    return {key: readable(item) for key, item in value.items()}
