"""`make demo KEEP=1`: the instructions it prints let another terminal use iterft on the embedded default."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from iterft.demo import keep_instructions
from iterft.local.session import LocalSession

pytestmark = [pytest.mark.integration]


def test_the_printed_commands_work_from_a_fresh_process(itest_session: LocalSession) -> None:
    export, *commands = keep_instructions(
        itest_session.endpoint, itest_session.aws.region, itest_session.deployment.stack_name
    )
    assert export.startswith("export ")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_")  # what a new terminal would not have
    }
    env.update(dict(item.split("=", 1) for item in shlex.split(export)[1:]))
    status = shlex.split(commands[0])
    assert status[0] == ".venv/bin/iterft"
    done = subprocess.run(
        [sys.executable, "-m", "iterft.cli", *status[1:], "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert {lineage.name for lineage in itest_session.config.lineages} <= set(done.stdout.split('"'))
