"""Retiring a lineage (`iterft retire`), a serving pointer put back (`iterft doctor` names it missing,
`iterft repair` restores it), and a lineage removed from the config without retiring it (`iterft doctor`
says to retire it), on the embedded default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from iterft_runtime import naming

from iterft.history import lineage_status
from iterft.local.session import LocalSession

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("embedded-default")]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


def _pointer(session: LocalSession, lineage: str) -> str | None:
    ssm = session.client("ssm")
    try:
        name = naming.serving_parameter_name(session.deployment.stack_name, lineage)
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def _doctor(session: LocalSession, capsys: pytest.CaptureFixture[str], *lineages: str) -> dict[str, Any]:
    _, out, _ = run_cli(session, capsys, "doctor", *lineages, "--json")
    return {check["name"]: check for check in json.loads(out)}


def test_retiring_deletes_the_serving_capacity_and_pointer_and_refuses_uploads(
    itest_session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    session = itest_session
    session.put_evaluation_set("retire", EXAMPLES / "eval.jsonl")
    session.upload("retire", EXAMPLES / "round-1-billing.jsonl")
    session.wait_until_idle("retire", timeout=120)
    [before] = lineage_status(session.deployment, "retire")
    capacity = before["serving_capacity"]["arn"]
    assert _pointer(session, "retire") == before["serving_model_id"]

    code, out, err = run_cli(session, capsys, "retire", "retire", "--reason", "replaced by promote", "--yes")

    assert code == 0, err
    assert capacity in out and "still in the config: remove it" in out
    assert capacity not in {item["arn"] for item in session.bedrock_inventory()}
    assert _pointer(session, "retire") is None
    [after] = lineage_status(session.deployment, "retire")
    assert after["retired"].startswith("retired on ") and "replaced by promote" in after["retired"]
    assert after["serving_capacity"] is None
    code, out, _ = run_cli(session, capsys, "history", "retire")
    assert code == 0 and "retire: retired on " in out

    session.upload("retire", EXAMPLES / "round-2-storage-and-account.jsonl")
    session.wait_until_idle("retire", timeout=60)
    code, out, _ = run_cli(session, capsys, "history", "retire", "--uploads", "--json")
    refused = [upload for upload in json.loads(out) if upload["status"] == "refused"]
    assert len(refused) == 1 and "remove it from the config" in refused[0]["reason"]
    assert any("upload refused" in n["subject"] for n in session.notifications())

    check = _doctor(session, capsys, "retire")["retire: serving pointer"]
    assert check["status"] == "failed" and "remove retire from the config" in check["fix"]
    code, _, _ = run_cli(session, capsys, "repair", "retire")
    assert code == 0 and _pointer(session, "retire") is None  # a retired lineage's pointer stays deleted


def test_a_missing_pointer_is_named_by_doctor_and_put_back_by_repair(
    itest_session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    session = itest_session
    starting = _pointer(session, "restore")
    assert starting is not None
    session.client("ssm").delete_parameter(
        Name=naming.serving_parameter_name(session.deployment.stack_name, "restore")
    )

    check = _doctor(session, capsys, "restore")["restore: serving pointer"]
    assert check["status"] == "failed" and "iterft repair restore" in check["fix"]
    code, out, _ = run_cli(session, capsys, "repair", "restore", "--dry-run")
    assert code == 0 and "would put back" in out and _pointer(session, "restore") is None
    code, out, _ = run_cli(session, capsys, "repair", "restore")

    assert code == 0 and "put back" in out
    assert _pointer(session, "restore") == starting
    assert _doctor(session, capsys, "restore")["restore: serving pointer"]["status"] == "passed"


def test_a_lineage_removed_from_the_config_without_retiring_is_named_by_doctor(
    itest_session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    session = itest_session
    stack = session.deployment.stack_name
    # What a deploy without the lineage leaves: its config gone, its pointer kept.
    session.client("ssm").delete_parameter(Name=naming.lineage_parameter_prefix(stack) + "orphan")

    check = _doctor(session, capsys)["orphan: removed lineage"]
    assert check["status"] == "failed" and "iterft retire orphan" in check["fix"]

    code, _, err = run_cli(session, capsys, "retire", "orphan", "--reason", "gone", "--yes")
    assert code == 0, err
    assert _pointer(session, "orphan") is None
    assert "orphan: removed lineage" not in _doctor(session, capsys)
