"""`make smoke`: the smallest honest round, end to end on a fresh embedded default as a new user runs it,
and its confirmation: nothing is uploaded unless the operator says yes (or passed --yes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import run_cli

from iterft.history import lineage_uploads
from iterft.local.session import LocalSession
from iterft.smoke import subscribe_operator_queue

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "support-bot"


def _make_dry_run(*arguments: str) -> list[str]:
    """The last command `make -n` would run, as a user's shell runs make (not as a sub-make of
    `make test`, whose MAKELEVEL would add "Entering directory" lines)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()[-1].split()


def test_make_smoke_without_env_runs_on_the_embedded_default() -> None:
    assert _make_dry_run("smoke") == [".venv/bin/iterft", "smoke", "--local"]
    assert _make_dry_run("smoke", "ENV=smoke", "YES=1") == [
        ".venv/bin/iterft",
        "smoke",
        "--env",
        "smoke",
        "--yes",
    ]


def test_the_smoke_round_passes_the_preflight_is_decided_and_leaves_only_what_serves(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "iterft.cli", "smoke", "--local"],
        cwd=tmp_path,  # moto's log goes to out/smoke/ under the working directory
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = "\n".join(
        line for line in done.stdout.splitlines() if not line.startswith(('{"level":', '{"_aws":'))
    )
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    preflight = [line for line in out.splitlines() if line.startswith(("passed ", "failed ", "skipped "))]
    assert not any(line.startswith("failed") for line in preflight), preflight
    checked = [line.split(None, 1)[1] for line in preflight]
    for name in ("credentials and region", "CDK bootstrap", "smoke: serving pointer", "smoke: last round"):
        assert any(check.startswith(name + ":") for check in checked), (name, checked)
    assert any(check.startswith("invocation logging") for check in checked), checked
    assert len(preflight) == 13, preflight  # 6 account-wide (logging too), 5 the lineage, 2 quotas
    assert "smoke round: smoke (amazon.nova-micro-v1:0:128k), 8 records, 1 epoch" in out
    assert "estimate: training " in out and " tokens x 1 epoch" in out
    assert out.index("estimate: ") < out.index("uploaded s3://")
    decision = next(line for line in out.splitlines() if line.startswith("smoke #1: ") and ": " in line[10:])
    assert decision.split(": ")[1].split(":")[0] in ("promoted", "rejected")
    assert "inventory: nothing billable by the hour but what serves" in out
    assert (tmp_path / "out" / "smoke" / "moto.log").is_file()


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    itest_session.put_evaluation_set("confirm", EXAMPLES / "eval.jsonl")
    subscribe_operator_queue(itest_session, "iterft-smoke-operator")
    return itest_session


def test_without_a_terminal_to_ask_on_it_starts_nothing_unless_given_yes(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(session, capsys, "smoke", "--lineage", "confirm")

    assert code == 1
    assert "estimate: training " in out
    assert err.strip() == "iterft smoke: not a terminal: pass --yes to start the round without asking"
    assert lineage_uploads(session.deployment, "confirm") == []


def test_answering_no_starts_nothing(
    session: LocalSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda: "n")

    code, out, _ = run_cli(session, capsys, "smoke", "--lineage", "confirm")

    assert code == 1
    assert out.splitlines()[-1] == "start this round? [y/N] not started"
    assert lineage_uploads(session.deployment, "confirm") == []
