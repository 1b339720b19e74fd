"""The whole flywheel on the embedded default (tests/integration/flywheel_loop.py, in its own process with
its own deployment of config/dev.yaml): logging enabled by the stack, live Converse calls logged by the
stand-in, feedback, a dry run that writes nothing, a curation whose dataset starts a round through the
trigger chain, decided by real scores; every request allowed by the template's IAM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    script = Path(__file__).with_name("flywheel_loop.py")
    out = tmp_path_factory.mktemp("flywheel") / "loop.json"
    done = subprocess.run(
        [sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads(out.read_text()))


def test_the_stack_enabled_invocation_logging_into_its_data_bucket(loop: dict[str, Any]) -> None:
    assert loop["logging"]["s3Config"]["keyPrefix"] == "invocation-logs"
    assert loop["logging"]["textDataDeliveryEnabled"] is True
    assert loop["log_objects"] > 36  # every live call (and the rounds' evaluation calls) logged


def test_only_the_lineages_tagged_calls_are_its_traffic(loop: dict[str, Any]) -> None:
    dry = loop["dry_run"]
    assert dry["lineage_calls"] == 37  # 36 traffic rows and the evaluation prompt; not the other lineage's
    dropped = [c for c in dry["choices"] if c["outcome"] == "dropped"]
    assert [c["question"] for c in dropped] == ["Which payment methods can I use?"]
    assert "evaluation set" in dropped[0]["reason"]


def test_problems_are_reported_with_their_place_and_the_rest_is_used(loop: dict[str, Any]) -> None:
    problems = loop["dry_run"]["problems"]
    assert any(p.endswith("malformed.json.gz line 1: not JSON") for p in problems)
    assert any("zz-bad.jsonl line 2: rating" in p for p in problems)
    assert [f["valid"] for f in loop["dry_run"]["feedback_files"]] == [True, False]


def test_a_dry_run_selects_with_reasons_and_writes_nothing(loop: dict[str, Any]) -> None:
    dry = loop["dry_run"]
    assert dry["written"] == [] and loop["curated_before_real_run"] == 0
    assert dry["counts"] == {"fine_tuning": 22, "distillation": 14, "dropped": 1}
    assert dry["prefer"][-1] == "billing"  # the champion knows billing: the other categories come first
    tuned = [c for c in dry["choices"] if c["outcome"] == "fine_tuning"]
    assert all(c["category"] != "billing" for c in tuned[:14])
    assert any("no strategies.distillation" in note for note in dry["notes"])


def test_the_curated_round_runs_through_the_trigger_chain_and_is_decided_by_scores(
    loop: dict[str, Any],
) -> None:
    [written] = loop["curation"]["written"]
    assert written["strategy"] == "fine_tuning" and written["records"] == 22
    last = loop["history"][-1]
    assert "/incoming/support-bot/curated-" in last["dataset"]
    assert last["decision"] == "promoted"
    assert last["eval_score"] > last["champion_score"] + 0.02
    assert loop["iam_denials"] == []
