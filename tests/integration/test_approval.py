"""Human approval on the embedded default: after a passing gate the round waits on a task token
that `iterft approve` / `iterft reject` answer; silence past the timeout is a rejection."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from iterft_runtime.dal.registry import Registry

from iterft import cli
from iterft.history import lineage_history, lineage_status
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
FOUNDATION = "amazon.nova-micro-v1:0:128k"
TIMEOUT = 60


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    for lineage in ("approve", "review", "silence"):
        itest_session.put_evaluation_set(lineage, EXAMPLES / "eval.jsonl")
    return itest_session


def _cli(session: LocalSession, *args: str) -> int:
    target = ["--endpoint-url", session.endpoint, "--stack", session.deployment.stack_name]
    return cli.main([*args, *target])


def _wait_for_review(session: LocalSession, lineage: str) -> None:
    """Until the round's approval request is recorded (its execution is then waiting on the token)."""
    registry = Registry(session.deployment.table_name)
    deadline = time.monotonic() + TIMEOUT
    while True:
        record = registry.get_iteration(lineage, 1)
        if record is not None and record.approval.get("status") == "pending" and record.approval_token:
            return
        if record is not None and record.decision != "running":
            raise AssertionError(f"{lineage} #1 ended without asking for approval: {record.reason}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{lineage} #1 never asked for approval")
        time.sleep(0.05)


def _deployments_of(session: LocalSession, lineage: str) -> set[str]:
    deployments = session.client("bedrock").list_custom_model_deployments()["modelDeploymentSummaries"]
    return {
        d["customModelDeploymentArn"] for d in deployments if f"{lineage}-" in d["customModelDeploymentName"]
    }


def test_an_approved_candidate_is_promoted(session: LocalSession) -> None:
    session.upload("approve", (EXAMPLES / "round-1-billing.jsonl").read_bytes(), name="r1.jsonl")
    _wait_for_review(session, "approve")
    [status] = lineage_status(session.deployment, "approve")
    assert status["champion_iteration"] == 0  # nothing promoted while the review is pending
    assert any(n["subject"] == "iterft approve #1 awaits approval" for n in session.notifications())

    assert _cli(session, "approve", "approve", "1", "--reason", "looks right") == cli.EXIT_OK
    session.wait_until_idle("approve", timeout=TIMEOUT)

    [row] = lineage_history(session.deployment, "approve")
    assert row["decision"] == "promoted"
    assert row["approval"]["status"] == "approved" and row["approval"]["reason"] == "looks right"
    [status] = lineage_status(session.deployment, "approve")
    assert status["champion_iteration"] == 1 and status["champion_model"] == row["output_model_arn"]
    # The review is over: answering again is refused.
    assert _cli(session, "reject", "approve", "1", "--reason", "late") == cli.EXIT_FAILED


def test_a_reviewer_can_reject_a_passing_candidate(session: LocalSession) -> None:
    session.upload("review", (EXAMPLES / "round-1-billing.jsonl").read_bytes(), name="r1.jsonl")
    _wait_for_review(session, "review")

    assert (
        _cli(session, "reject", "review", "1", "--reason", "answers leak internal ticket ids") == cli.EXIT_OK
    )
    session.wait_until_idle("review", timeout=TIMEOUT)

    [row] = lineage_history(session.deployment, "review")
    assert row["decision"] == "rejected"
    assert "answers leak internal ticket ids" in row["reason"] and row["reason"].startswith(
        "rejected by reviewer"
    )
    assert row["approval"]["status"] == "rejected"
    assert row["gate"][0]["passed"] is True  # the gate had passed it
    [status] = lineage_status(session.deployment, "review")
    assert status["champion_model"] == FOUNDATION and status["champion_iteration"] == 0
    assert _deployments_of(session, "review") == set()  # the evaluation deployment was discarded


def test_no_answer_within_the_timeout_is_a_rejection(session: LocalSession) -> None:
    """Half an hour's approval timeout, scaled like a Wait state: 1.8 s here."""
    session.upload("silence", (EXAMPLES / "round-1-billing.jsonl").read_bytes(), name="r1.jsonl")
    session.wait_until_idle("silence", timeout=TIMEOUT)

    [row] = lineage_history(session.deployment, "silence")
    assert row["decision"] == "rejected"
    assert row["reason"].startswith("rejected: no review within 1800 second(s)"), row["reason"]
    assert row["approval"]["status"] == "timed_out"
    [status] = lineage_status(session.deployment, "silence")
    assert status["champion_model"] == FOUNDATION
    assert _deployments_of(session, "silence") == set()
