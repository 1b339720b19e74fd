"""`iterft --help` and `iterft validate` start at once: importing the CLI imports no heavy library.

A structural check, not a timing (`make bench` times the commands): each command imports what it
uses when it runs, so the module itself must not pull in matplotlib, the AWS SDK, rich or pydantic.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("matplotlib", "numpy", "boto3", "botocore", "rich", "pydantic")


def _imported_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}


def test_importing_the_cli_imports_no_heavy_library() -> None:
    assert _imported_after("import iterft.cli").isdisjoint(HEAVY)


def test_help_imports_no_heavy_library() -> None:
    code = "from iterft import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass"
    assert _imported_after(code).isdisjoint(HEAVY)


def test_validate_imports_neither_matplotlib_nor_the_aws_sdk() -> None:
    code = "from iterft import cli\ncli.main(['validate', '-', '--family', 'nova', '--json'])"
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    record = json.dumps({"schemaVersion": "bedrock-conversation-2024", "messages": []})
    result = subprocess.run(
        [sys.executable, "-c", script], input=record + "\n", capture_output=True, text=True, check=False
    )
    imported = {name.split(".")[0] for name in json.loads(result.stderr.splitlines()[-1])}
    assert imported.isdisjoint({"matplotlib", "numpy", "boto3", "botocore"})
