"""docs/capabilities.md is generated from the capability table and cannot drift from it."""

from __future__ import annotations

from iterft.capabilities_doc import DOC, render


def test_docs_capabilities_is_the_table() -> None:
    assert DOC.read_text() == render(), (
        "docs/capabilities.md is stale: run .venv/bin/python -m iterft.capabilities_doc"
    )
