"""The approval states in the synthesized definition (dev: approval off; prod: on for every lineage).

The state machine is shared by all lineages, so approval is a run-time branch on what Decide
returns; these assertions pin the wiring the integration tests exercise end to end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from template_support import synthesized

from stacks.app_builder import SynthResult


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synthesized("prod", tmp_path_factory)


def _definition(synth: SynthResult) -> dict[str, Any]:
    [machine] = [
        r["Properties"]
        for r in synth.template["Resources"].values()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    text = machine["DefinitionString"]
    if isinstance(text, dict):  # Fn::Join around references (ARNs): they sit inside JSON strings
        text = "".join(part if isinstance(part, str) else "<ref>" for part in text["Fn::Join"][1])
    return dict(json.loads(text))


def test_prod_requires_approval_for_every_lineage(synth: SynthResult) -> None:
    assert all(lineage.approval.required for lineage in synth.config.lineages)
    assert {lineage.approval.timeout_hours for lineage in synth.config.lineages} == {72}


def test_a_passing_candidate_waits_for_approval_only_when_decide_says_so(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    first, plain = states["Promote?"]["Choices"]
    assert first == {
        "And": [
            {"Variable": "$.decision.promote", "BooleanEquals": True},
            {"Variable": "$.decision.approval_required", "BooleanEquals": True},
        ],
        "Next": "Wait for approval",
    }
    assert plain == {"Variable": "$.decision.promote", "BooleanEquals": True, "Next": "Prepare promotion"}
    (approved,) = states["Approved?"]["Choices"]
    assert approved == {"Variable": "$.approval.approved", "BooleanEquals": True, "Next": "Prepare promotion"}
    assert states["Approved?"]["Default"] == "Reviewer rejected"


def test_the_wait_sends_the_token_to_the_trigger_and_times_out_into_a_rejection(synth: SynthResult) -> None:
    states = _definition(synth)["States"]
    wait = states["Wait for approval"]
    assert wait["Resource"].endswith(":states:::sqs:sendMessage.waitForTaskToken")
    assert wait["TimeoutSecondsPath"] == "$.decision.approval_timeout_seconds"
    assert wait["ResultPath"] == "$.approval" and wait["Next"] == "Approved?"
    body = wait["Parameters"]["MessageBody"]
    assert body == {
        "kind": "approval",
        "lineage.$": "$.lineage.name",
        "iteration.$": "$.iteration",
        "task_token.$": "$$.Task.Token",
        "reason.$": "$.decision.reason",
    }
    assert wait["Catch"] == [
        {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.approval", "Next": "Approval timed out"},
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Clean up failed round"},
    ]
    for name in ("Reviewer rejected", "Approval timed out"):
        rejected = states[name]
        assert rejected["ResultPath"] == "$.decision" and rejected["Next"] == "Discard candidate", name
        assert rejected["Parameters"]["promote"] is False and rejected["Parameters"]["decision"] == "rejected"
        assert rejected["Parameters"]["gate.$"] == "$.decision.gate"
    assert states["Discard candidate"]["Next"] == "Record outcome"
