"""The gate tells noise from progress on the embedded default: the same gain of 0.2 in exact match
(a fifth of the questions learned) is inconclusive on a 10-record evaluation set, so rejected with how
many more records would resolve it, and shown on a 100-record set, so promoted. Every delta carries its
interval, recomputed here from the round's own per-record scores."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from iterft_runtime import naming
from iterft_runtime.logic.paired import compare, records_for, round_seed

from iterft.history import lineage_history
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

TIMEOUT = 120
SYSTEM = [{"text": "You are the badge desk. Answer in one sentence."}]


def _question(index: int) -> tuple[str, str]:
    """A question about one badge, with words no other question shares, and its answer."""
    return (
        f"Which colour is badge kv{index:03d}x of wing qz{index:03d}m?",
        f"Badge kv{index:03d}x of wing qz{index:03d}m is colour tone{index:03d}.",
    )


def _conversation(prompt: str, answer: str) -> dict[str, Any]:
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": SYSTEM,
        "messages": [
            {"role": "user", "content": [{"text": prompt}]},
            {"role": "assistant", "content": [{"text": answer}]},
        ],
    }


def _round(session: LocalSession, lineage: str, records: int, tmp_path: Path) -> dict[str, Any]:
    """An evaluation set of `records` badges; one round trained on a fifth of them (and, to reach the 8
    records Nova needs, on facts the set does not ask about). Its history row."""
    questions = [_question(index) for index in range(records)]
    eval_set = tmp_path / f"{lineage}.jsonl"
    eval_set.write_text(
        "".join(
            json.dumps({"prompt": q, "referenceResponse": a, "category": "badges"}) + "\n"
            for q, a in questions
        )
    )
    session.put_evaluation_set(lineage, eval_set)
    learned = questions[: records // 5]
    filler = [(f"Where is locker lk{i:03d}y?", f"Locker lk{i:03d}y is in hall hh{i:03d}.") for i in range(8)]
    body = "".join(json.dumps(_conversation(q, a)) + "\n" for q, a in [*learned, *filler]).encode()
    session.upload(lineage, body, name="badges.jsonl")
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    [row] = lineage_history(session.deployment, lineage)
    return row


def _paired(session: LocalSession, lineage: str, version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The round's record-scores documents: the candidate's (iteration 1) and the starting point's (0)."""
    s3, bucket = session.client("s3"), session.deployment.bucket_name
    return tuple(  # type: ignore[return-value]  # two documents
        json.loads(
            s3.get_object(Bucket=bucket, Key=naming.record_scores_key(lineage, n, version))["Body"].read()
        )
        for n in (1, 0)
    )


def test_a_small_gain_on_a_small_set_is_inconclusive_and_on_a_large_set_promoted(
    itest_session: LocalSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = _round(itest_session, "power-small", 10, tmp_path)
    large = _round(itest_session, "power-large", 100, tmp_path)

    for lineage, row, records in (("power-small", small, 10), ("power-large", large, 100)):
        # Trained on the set's own questions on purpose (a gain known exactly): the leakage check says so.
        assert row["leakage"]["action"] == "warn" and row["leakage"]["matched"] == records // 5
        candidate, champion = _paired(itest_session, lineage, row["eval_set_version"])
        scores = zip(candidate["scores"]["exact_match"], champion["scores"]["exact_match"], strict=True)
        differences = [a - b for a, b in scores]
        # The starting point knows none of the badges, the candidate a fifth: +1 on those, 0 elsewhere.
        assert sorted(differences) == [0.0] * (records * 4 // 5) + [1.0] * (records // 5)
        assert row["deltas"]["exact_match"]["delta"] == pytest.approx(0.2)
        # The recorded intervals are the round's own bootstrap, seeded by the round: recomputed alike.
        again = compare(
            candidate["scores"],
            champion["scores"],
            candidate["categories"],
            confidence=0.95,
            seed=round_seed(lineage, 1, row["eval_set_version"]),
        )
        for name, delta in row["deltas"].items():
            assert delta == again.overall[name].to_dict(), name

    interval = small["deltas"]["exact_match"]
    assert interval["ci_low"] < 0.05 <= interval["ci_high"]
    assert (small["decision"], small["inconclusive"]) == ("rejected", True)
    # Differences of sd 0.4216 (two 1s in ten): an interval reaching 0.15 (the gain less the 0.05 asked)
    # needs (1.96 x 0.4216 / 0.15)^2 = 30.3, so 31 records: 21 more than the 10.
    assert (
        small["records_to_resolve"] == records_for(statistics.stdev([1.0, 1.0] + [0.0] * 8), 0.15, 0.95) - 10
    )
    assert small["records_to_resolve"] == 21
    assert (
        "is inconclusive: its interval straddles the required 0.0500; about 21 more evaluation records"
        in (small["reason"])
    )
    assert small["power"]["too_small"] is True and small["power"]["records"] == 10

    assert large["deltas"]["exact_match"]["ci_low"] >= 0.05
    assert (large["decision"], large["inconclusive"]) == ("promoted", False), large["reason"]
    assert "is shown to meet the required 0.0500" in large["reason"]

    [notice] = [n for n in itest_session.notifications() if n["subject"].startswith("iterft power-small #1")]
    assert notice["subject"].startswith("iterft power-small #1 rejected (inconclusive): exact_match")
    assert "Candidate - champion (mean paired difference, 95% CI): exact_match +0.2000 [" in notice["message"]
    assert "Yardstick too small: the evaluation set's 10 records" in notice["message"]

    code, out, _ = run_cli(itest_session, capsys, "history", "power-small", "--json")
    assert code == 0
    [shown] = json.loads(out)
    assert shown["deltas"] and all(
        delta["ci_low"] is not None and delta["ci_high"] is not None for delta in shown["deltas"].values()
    )
    code, out, _ = run_cli(itest_session, capsys, "history", "power-small")
    assert code == 0 and "rejected (inconclusive)" in out and f"+0.2000 [{interval['ci_low']:+.4f}," in out
