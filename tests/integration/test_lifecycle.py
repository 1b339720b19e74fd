"""Day two on the embedded default: a redeploy through CloudFormation's update path keeps every piece of
run-time state, and a throwaway stack's deletion leaves nothing behind.

The redeploy updates the shared `itest` stack with a config that only adds to it (a new lineage) and
changes the `lifecycle` lineage (its description, its starting model, its gate), so later tests of the
worker find every lineage as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_lambda_powertools.utilities import parameters
from iterft_runtime import naming

from iterft.history import lineage_history, lineage_status
from iterft.local.session import LocalSession

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("embedded-default")]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
ROUND_1, ROUND_2 = "round-1-billing.jsonl", "round-2-storage-and-account.jsonl"
TIMEOUT = 90
CONFIG_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "config"
REPO = Path(__file__).resolve().parents[2]
LINEAGE, NEW_LINEAGE = "lifecycle", "lifecycle-new"


def _run(session: LocalSession, lineage: str, file: str) -> dict[str, Any]:
    count = len(lineage_history(session.deployment, lineage))
    session.upload(lineage, (EXAMPLES / file).read_bytes(), name=f"upload-{count + 1}.jsonl")
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    rows = lineage_history(session.deployment, lineage)
    assert len(rows) == count + 1
    return rows[-1]


def _changed_config(tmp_path: Path) -> Path:
    """itest.yaml with `lifecycle` changed (description, starting model, gate) and a lineage added."""
    config = yaml.safe_load((CONFIG_DIR / "itest.yaml").read_text())
    for lineage in config["lineages"]:
        if lineage["name"] == LINEAGE:
            lineage["description"] = "support answers, now with billing"
            lineage["base_model"] = "amazon.nova-lite-v1:0:300k"
            lineage["gate"] = {"min_improvement": 0.5}
    config["lineages"].append(
        {"name": NEW_LINEAGE, "base_model": "amazon.nova-micro-v1:0:128k", "gate": {"min_improvement": 0.02}}
    )
    (tmp_path / "itest.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def _registry_items(session: LocalSession, lineage: str) -> list[dict[str, Any]]:
    table = session.client("dynamodb")
    return table.query(
        TableName=session.stack.registry_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": naming.lineage_pk(lineage)}},
    )["Items"]


def test_a_redeploy_with_a_changed_config_keeps_pointer_champion_registry_and_capacity(
    itest_session: LocalSession, tmp_path: Path
) -> None:
    session = itest_session
    ssm = session.client("ssm")
    pointer = naming.serving_parameter_name(session.stack.stack_name, LINEAGE)
    session.put_evaluation_set(LINEAGE, EXAMPLES / "eval.jsonl")
    assert ssm.get_parameter(Name=pointer)["Parameter"]["Value"] == "amazon.nova-micro-v1:0"
    promoted = _run(session, LINEAGE, ROUND_1)
    assert promoted["decision"] == "promoted", promoted["reason"]
    [before] = lineage_status(session.deployment, LINEAGE)
    registry_before = _registry_items(session, LINEAGE)
    capacity_before = [item for item in session.bedrock_inventory() if item["name"].startswith(f"{LINEAGE}-")]
    assert before["serving_pointer"] == before["serving_model_id"] == capacity_before[0]["arn"]
    resources_before = dict(session.stack.physical_ids)

    session.redeploy("itest", _changed_config(tmp_path))

    [after] = lineage_status(session.deployment, LINEAGE)
    assert ssm.get_parameter(Name=pointer)["Parameter"]["Value"] == before["serving_pointer"]
    assert after["champion_model"] == before["champion_model"]
    assert after["serving_capacity"] == before["serving_capacity"]
    assert _registry_items(session, LINEAGE) == registry_before
    assert [i for i in session.bedrock_inventory() if i["name"].startswith(f"{LINEAGE}-")] == capacity_before
    for logical_id in (
        "StorageDataBucket",
        "RegistryTable",
        "StorageKey",
    ):  # the same resources, not new ones
        kept = [name for name in resources_before if name.startswith(logical_id)]
        assert kept and all(session.stack.physical_ids[name] == resources_before[name] for name in kept)
    # The changed gate is in the lineage's config parameter at once, and decides the next round once the
    # trigger's cached copy expires (dal.lineages.MAX_AGE_SECONDS, as on AWS for a warm function):
    # that wait is skipped by clearing the cache.
    config = ssm.get_parameter(Name=naming.lineage_parameter_name(session.stack.stack_name, LINEAGE))
    assert json.loads(config["Parameter"]["Value"])["gate"]["min_improvement"] == 0.5
    parameters.clear_caches()
    gated = _run(session, LINEAGE, ROUND_2)
    assert gated["min_improvement"] == 0.5
    # The new lineage has its own pointer, at its starting point, and runs rounds.
    new_pointer = naming.serving_parameter_name(session.stack.stack_name, NEW_LINEAGE)
    assert ssm.get_parameter(Name=new_pointer)["Parameter"]["Value"] == "amazon.nova-micro-v1:0"
    session.put_evaluation_set(NEW_LINEAGE, EXAMPLES / "eval.jsonl")
    first = _run(session, NEW_LINEAGE, ROUND_1)
    assert first["decision"] == "promoted", first["reason"]
    [new_status] = lineage_status(session.deployment, NEW_LINEAGE)
    assert ssm.get_parameter(Name=new_pointer)["Parameter"]["Value"] == new_status["serving_model_id"]


def test_a_throwaway_stack_deletes_cleanly() -> None:
    """In a process of its own (a second embedded AWS would reset this worker's): deploy a throwaway
    stack, promote once (serving capacity), delete the stack, and list what is left."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("throwaway_stack.py"))],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'lambda'}"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["promoted"] and facts["serving_capacity_before"], facts
    assert facts["objects_before"] > 0, facts
    assert facts["iam_denials"] == [], facts
    assert facts["left"] == {
        "buckets": [],
        "tables": [],
        "parameters": [],
        "capacity": [],
        "state_machines": [],
    }, facts
