"""Rounds that meet the limits AWS enforces, on the embedded default, which enforces them too
(iterft/local/limits.py): a state's payload is at most 256 KiB, and `States.ALL` does not catch
`States.DataLimitExceeded` (the round would fail without Clean up, capacity billing, the lineage locked);
Lambda throttles invocations beyond the account's concurrency.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from iterft_runtime.dal.registry import Registry
from iterft_runtime.logic.evaluation import SUMMARY_CATEGORIES

from iterft.history import lineage_history, metrics_document
from iterft.local import limits
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
ROUND_1 = (EXAMPLES / "round-1-billing.jsonl").read_bytes()
CATEGORIES = 3000


def _history_payloads(session: LocalSession, execution_arn: str) -> list[tuple[str, int]]:
    """(state, bytes) of every state input and output the round's execution history holds."""
    paginator = session.client("stepfunctions").get_paginator("get_execution_history")
    sizes = []
    for page in paginator.paginate(executionArn=execution_arn):
        for event in page["events"]:
            for details, field in (
                ("stateEnteredEventDetails", "input"),
                ("stateExitedEventDetails", "output"),
            ):
                if details in event:
                    sizes.append((event[details]["name"], limits.payload_bytes(event[details][field])))
    return sizes


def _cli(session: LocalSession, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`iterft ARGS` against the session's stack: (exit code, what it printed)."""
    code, out, _ = run_cli(session, capsys, *args)
    return code, out


def test_a_round_on_thousands_of_categories_is_decided_with_every_state_small(
    itest_session: LocalSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = itest_session
    examples = [
        json.loads(line) for line in (EXAMPLES / "eval.jsonl").read_text().splitlines() if line.strip()
    ]
    records = [
        {**examples[index % len(examples)], "category": f"category-{index:04d}"}
        for index in range(CATEGORIES)
    ]
    evaluation_set = tmp_path / "eval.jsonl"
    evaluation_set.write_text("".join(json.dumps(record) + "\n" for record in records))
    session.put_evaluation_set("categories", evaluation_set)

    session.upload("categories", ROUND_1, name="round-1.jsonl")
    session.wait_until_idle("categories", timeout=600)

    [row] = lineage_history(session.deployment, "categories")
    assert row["decision"] in ("promoted", "rejected"), row["reason"]
    record = Registry(session.deployment.table_name).get_iteration("categories", 1)
    assert record is not None and record.execution_arn
    execution = session.client("stepfunctions").describe_execution(executionArn=record.execution_arn)
    assert execution["status"] == "SUCCEEDED"
    # Every state of the round stayed far below 256 KiB: the per-category detail never reached it.
    largest = max(_history_payloads(session, record.execution_arn), key=lambda item: item[1])
    assert largest[1] < 64 * 1024, largest

    # The registry (and so the history) holds each metric's summary: a few categories, and how many.
    for metrics in (row["metrics"], row["champion_metrics"]):
        assert {"exact_match", "rouge_l", "token_f1"} <= set(metrics)
        for summary in metrics.values():
            assert summary["categories"] == CATEGORIES
            assert len(summary["by_category"]) == SUMMARY_CATEGORIES
    state = Registry(session.deployment.table_name).get_state("categories")
    assert state is not None and state.champion_metrics is not None
    assert all(
        len(summary["by_category"]) == SUMMARY_CATEGORIES for summary in state.champion_metrics.values()
    )

    # Every category is in the round's metrics document, where `iterft history --categories` reads it.
    document = metrics_document(session.deployment, row)
    assert document is not None and len(document["candidate"]["token_f1"]["by_category"]) == CATEGORIES
    [detailed] = lineage_history(session.deployment, "categories", categories=True)
    assert len(detailed["metrics"]["token_f1"]["by_category"]) == CATEGORIES
    assert len(detailed["champion_metrics"]["token_f1"]["by_category"]) == CATEGORIES
    code, out = _cli(session, capsys, "history", "categories", "--categories", "--json")
    assert code == 0
    [listed] = json.loads(out)
    assert listed["metrics"]["token_f1"]["by_category"] == document["candidate"]["token_f1"]["by_category"]
    code, out = _cli(session, capsys, "history", "categories", "--categories")
    assert code == 0 and "token_f1 by category" in out and "category-2999" in out
    code, _ = _cli(session, capsys, "report", "categories", "--out", str(tmp_path / "report"))
    assert code == 0 and (tmp_path / "report" / "index.html").stat().st_size > 0


def test_a_throttled_score_shard_is_retried_and_the_round_decided(itest_session: LocalSession) -> None:
    """Lambda refuses the first Score shard invocations (the account's concurrency is used up): Step
    Functions reports `Lambda.TooManyRequestsException`, the step retries it with backoff."""
    session = itest_session
    session.put_evaluation_set("throttled", EXAMPLES / "eval.jsonl")
    limits.throttle_next_invocations("handlers.score_shard.", times=3)

    session.upload("throttled", ROUND_1, name="round-1.jsonl")
    session.wait_until_idle("throttled", timeout=120)

    [row] = lineage_history(session.deployment, "throttled")
    assert row["decision"] == "promoted", row["reason"]
    record = Registry(session.deployment.table_name).get_iteration("throttled", 1)
    assert record is not None and record.execution_arn
    events = _events(session, record.execution_arn)
    throttled = [
        event
        for event in events
        if event["type"] == "LambdaFunctionFailed"
        and event["lambdaFunctionFailedEventDetails"]["error"] == "Lambda.TooManyRequestsException"
    ]
    assert len(throttled) == 3
    assert "Clean up failed round" not in {
        event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event
    }


def _events(session: LocalSession, execution_arn: str) -> list[dict[str, Any]]:
    paginator = session.client("stepfunctions").get_paginator("get_execution_history")
    return [event for page in paginator.paginate(executionArn=execution_arn) for event in page["events"]]
