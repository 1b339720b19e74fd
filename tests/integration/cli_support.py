"""`iterft` run in-process against an integration session's stack, as the CLI tests need it."""

from __future__ import annotations

import re

import pytest

from iterft import cli
from iterft.local.session import LocalSession

ANSI = re.compile(r"\x1b\[")
HANDLER_OUTPUT = ('{"level":', '{"_aws":')
"""Lines the in-process handlers log to stdout (Powertools' JSON logs and metrics), not the CLI's."""


def run_cli(session: LocalSession, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `iterft ARGS` against the session's stack: (exit code, stdout, stderr); never colour on a pipe,
    never a traceback."""
    capsys.readouterr()  # what the handlers printed before
    target = ["--endpoint-url", session.endpoint, "--stack", session.deployment.stack_name]
    try:
        code = cli.main([*args, *target])
    except SystemExit as usage_error:  # argparse's: a usage error exits 2 before any command runs
        code = int(usage_error.code or 0)
    out, err = capsys.readouterr()
    out = "".join(line for line in out.splitlines(keepends=True) if not line.startswith(HANDLER_OUTPUT))
    assert not ANSI.search(out + err), "colour codes on a pipe"
    assert "Traceback" not in out + err
    return code, out, err
