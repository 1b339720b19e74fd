"""The monthly budget guard on the embedded default: a round's estimated cost is recorded, and once
the month's spend reaches the lineage's budget the next upload waits in the queue, notified once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from iterft.history import lineage_history, lineage_status
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
LINEAGE = "budget"
TIMEOUT = 60


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    itest_session.put_evaluation_set(LINEAGE, EXAMPLES / "eval.jsonl")
    return itest_session


def _settled(session: LocalSession, lineage: str) -> dict:
    """The lineage's status once no trigger work, no round and no lock remain (uploads may stay queued)."""
    session.wait_until_idle(lineage, timeout=TIMEOUT, queued_allowed=True)
    [status] = lineage_status(session.deployment, lineage)
    return status


def test_a_lineage_over_its_monthly_budget_queues_the_next_upload_and_says_so(session: LocalSession) -> None:
    session.upload(LINEAGE, (EXAMPLES / "round-1-billing.jsonl").read_bytes(), name="round-1.jsonl")
    session.wait_until_idle(LINEAGE, timeout=TIMEOUT)
    [row] = lineage_history(session.deployment, LINEAGE)
    cost = row["cost"]
    assert cost["training_tokens"] > 0 and cost["epochs"] == 2, cost  # nova's default epochCount
    assert cost["training_usd"] == pytest.approx(cost["training_tokens"] * 2 / 1000 * 0.01, abs=1e-6)
    assert cost["capacity_usd"] == pytest.approx(cost["capacity_hours"] * 1.0, abs=1e-6)
    assert cost["total_usd"] == pytest.approx(cost["training_usd"] + cost["capacity_usd"], abs=1e-6)
    assert cost["total_usd"] >= 0.01
    [finished] = [n for n in session.notifications() if n["subject"].startswith(f"iterft {LINEAGE} #1")]
    assert "Estimated cost: $" in finished["message"]

    session.upload(LINEAGE, (EXAMPLES / "round-2-storage-and-account.jsonl").read_bytes(), name="r2.jsonl")
    status = _settled(session, LINEAGE)

    assert status["budget_reached"] is True
    assert status["month_spend_usd"] == pytest.approx(cost["total_usd"], abs=1e-6)
    assert [uri.split("/")[-1].split("?")[0] for uri in status["queued"]] == ["r2.jsonl"]
    executions = [e["name"] for e in session.executions() if e["name"].startswith(f"{LINEAGE}-it")]
    assert len(executions) == 1 and executions[0].startswith(f"{LINEAGE}-it0001-")  # none for r2
    assert len(lineage_history(session.deployment, LINEAGE)) == 1
    [notice] = [n for n in session.notifications() if "monthly budget reached" in n["subject"]]
    spend = f"${cost['total_usd']:.4f}"
    assert (
        notice["subject"]
        == f"iterft {LINEAGE} monthly budget reached: {spend} of $0.0100 in {status['month']}"
    )
    assert f"is {spend} of the $0.0100 monthly budget" in notice["message"]
