"""Helpers shared by the tests that read the synthesized template."""

from __future__ import annotations

from typing import Any


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
