"""Knowing when to stop, and one yardstick per round, on the embedded default.

A lineage converges exactly after K marginal rounds, its next upload waits (recorded, queued,
visible) until `iterft resume`; a changed evaluation set makes the champion be scored again
before any comparison.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from iterft_runtime import naming

from iterft import cli
from iterft.history import lineage_history, lineage_status
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
ROUND_1 = (EXAMPLES / "round-1-billing.jsonl").read_bytes()
TIMEOUT = 60


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    for lineage in ("converge", "rescore"):
        itest_session.put_evaluation_set(lineage, EXAMPLES / "eval.jsonl")
    return itest_session


def _run(session: LocalSession, lineage: str, body: bytes, name: str) -> list[dict]:
    session.upload(lineage, body, name=name)
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    return lineage_history(session.deployment, lineage)


def _settled(session: LocalSession, lineage: str) -> dict:
    """The lineage's status once no trigger work, no round and no lock remain (uploads may stay queued)."""
    session.wait_until_idle(lineage, timeout=TIMEOUT, queued_allowed=True)
    [status] = lineage_status(session.deployment, lineage)
    return status


def test_a_lineage_converges_after_k_marginal_rounds_and_waits_for_resume(session: LocalSession) -> None:
    # Round 1 learns the billing facts: a real gain. Rounds 2 and 3 train on the same content again:
    # the stand-in learns nothing new, so their gains are marginal (K = 2 in itest.yaml).
    first = _run(session, "converge", ROUND_1, "round-1.jsonl")
    assert first[0]["decision"] == "promoted" and first[0]["converged"] is False
    second = _run(session, "converge", ROUND_1, "round-1-again.jsonl")
    assert second[1]["converged"] is False, second[1]
    rows = _run(session, "converge", ROUND_1, "round-1-once-more.jsonl")

    assert [row["converged"] for row in rows] == [False, False, True]
    for row in rows[1:]:
        # Marginal means shown small (the interval's upper bound under the 0.02 threshold), not bad: a
        # regression would not have counted towards the plateau.
        interval = row["deltas"]["token_f1"]
        assert abs(interval["delta"]) < 0.02 and interval["ci_high"] < 0.02, row["reason"]
        assert row["regression"] is False, row["reason"]
        assert row["gate"][0]["rule"].startswith("primary token_f1 ")
    assert set(rows[0]["metrics"]) == {"exact_match", "rouge_l", "token_f1"}
    assert rows[0]["metrics"]["token_f1"]["by_category"], "per-category scores of the example set"
    [notice] = [n for n in session.notifications() if n["subject"].startswith("iterft converge #3")]
    assert "converged" in notice["subject"]
    history = ", ".join(f"#{row['iteration']} {row['eval_score']:.4f}" for row in rows)
    assert f"Score history (token_f1): {history}" in notice["message"]

    # While converged, a new upload is recorded and queued, visible in status, and starts nothing.
    session.upload("converge", (EXAMPLES / "round-2-storage-and-account.jsonl").read_bytes(), name="r2.jsonl")
    status = _settled(session, "converge")
    assert status["converged"] is True and status["paused"] is True
    assert [uri.split("/")[-1].split("?")[0] for uri in status["queued"]] == ["r2.jsonl"]
    assert len(lineage_history(session.deployment, "converge")) == 3

    assert (
        cli.main(
            [
                "resume",
                "converge",
                "--endpoint-url",
                session.endpoint,
                "--stack",
                session.deployment.stack_name,
            ]
        )
        == cli.EXIT_OK
    )
    session.wait_until_idle("converge", timeout=TIMEOUT)
    rows = lineage_history(session.deployment, "converge")
    assert len(rows) == 4 and rows[3]["dataset"].split("/")[-1].split("?")[0] == "r2.jsonl"
    assert rows[3]["decision"] == "promoted" and rows[3]["converged"] is False, rows[3]["reason"]
    [status] = lineage_status(session.deployment, "converge")
    assert status["converged"] is False and status["queued"] == []


def test_a_changed_evaluation_set_rescores_the_champion_before_comparing(
    session: LocalSession, tmp_path: Path
) -> None:
    [first] = _run(session, "rescore", ROUND_1, "round-1.jsonl")
    assert first["decision"] == "promoted"
    [status] = lineage_status(session.deployment, "rescore")
    assert status["champion_eval_set_version"] == first["eval_set_version"]

    # A new yardstick: half of the example set.
    lines = (EXAMPLES / "eval.jsonl").read_bytes().splitlines(keepends=True)
    smaller = tmp_path / "eval.jsonl"
    smaller.write_bytes(b"".join(lines[::2]))
    session.put_evaluation_set("rescore", smaller)
    rows = _run(session, "rescore", (EXAMPLES / "round-2-storage-and-account.jsonl").read_bytes(), "r2.jsonl")

    second = rows[1]
    assert second["eval_set_version"] != first["eval_set_version"]
    [status] = lineage_status(session.deployment, "rescore")
    # The champion (iteration 1's model) answered again on the new set before the gate compared.
    results_key = naming.evaluation_results_key("rescore", 2)
    body = session.client("s3").get_object(Bucket=session.deployment.bucket_name, Key=results_key)["Body"]
    results = [json.loads(line) for line in body.read().splitlines()]
    assert len(results) == len(lines[::2]) and all("champion_answer" in row for row in results)
    champion_on_new_set = sum(row["champion_score"] for row in results) / len(results)
    assert second["champion_score"] == pytest.approx(champion_on_new_set)
    assert second["champion_metrics"]["token_f1"]["overall"] == pytest.approx(champion_on_new_set)
    # Whatever the gate decided, the stored champion score now names the new yardstick.
    assert status["champion_eval_set_version"] == second["eval_set_version"]
