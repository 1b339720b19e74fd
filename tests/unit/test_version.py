"""The code version a stack records: the same for the same shipped sources, different when one changes."""

from __future__ import annotations

from pathlib import Path

from stacks.version import code_version


def _tree(root: Path, handler: str) -> Path:
    (root / "stacks").mkdir(parents=True)
    (root / "stacks" / "stack.py").write_text("STACK = 1\n")
    (root / "lambda" / "iterft_runtime" / "__pycache__").mkdir(parents=True)
    (root / "lambda" / "iterft_runtime" / "handler.py").write_text(handler)
    (root / "lambda" / "requirements.txt").write_text("boto3==1.44.5\n")
    return root


def test_the_version_follows_the_shipped_sources_and_nothing_else(tmp_path: Path) -> None:
    one = code_version(_tree(tmp_path / "one", "X = 1\n"))
    assert one == code_version(_tree(tmp_path / "same", "X = 1\n"))
    assert one != code_version(_tree(tmp_path / "changed", "X = 2\n"))
    assert one.split("+")[0] == code_version().split("+")[0]
    # Compiled files, other folders and the config are not shipped code.
    (tmp_path / "one" / "lambda" / "iterft_runtime" / "__pycache__" / "handler.cpython-311.py").write_text("")
    (tmp_path / "one" / "config").mkdir()
    (tmp_path / "one" / "config" / "dev.yaml").write_text("environment: dev\n")
    code_version.cache_clear()
    assert code_version(tmp_path / "one") == one
    (tmp_path / "one" / "lambda" / "requirements.txt").write_text("boto3==1.44.6\n")
    code_version.cache_clear()
    assert code_version(tmp_path / "one") != one
