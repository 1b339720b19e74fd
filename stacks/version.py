"""The code version a stack records (output `CodeVersion`), so that `iterft doctor` can tell whether the
deployed stack runs the code checked out here.

It is the package version plus a digest of what a deploy ships: the CDK constructs (`stacks/`), the
Lambda runtime (`lambda/`, its pinned requirements included). The config is not part of it: a changed
config is a changed deployment, not other code. Deterministic, so synth stays deterministic.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata
from pathlib import Path

OUTPUT_NAME = "CodeVersion"
ROOT = Path(__file__).resolve().parent.parent
_SHIPPED = (("stacks", "*.py"), ("lambda", "*.py"), ("lambda", "requirements.txt"))
DIGEST_LENGTH = 12


@cache
def code_version(root: Path = ROOT) -> str:
    """`<package version>+<12 hex digits>` of the shipped sources (paths and bytes, in path order)."""
    digest = hashlib.sha256()
    files = sorted(
        {path for folder, pattern in _SHIPPED for path in (root / folder).rglob(pattern)}
        - {path for path in (root / "lambda").rglob("*") if "__pycache__" in path.parts}
    )
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return f"{_package_version()}+{digest.hexdigest()[:DIGEST_LENGTH]}"


def _package_version() -> str:
    try:
        return metadata.version("iterft")
    except metadata.PackageNotFoundError:  # a checkout used without `pip install -e .`
        return "0+unknown"
