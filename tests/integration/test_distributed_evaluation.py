"""A round whose evaluation set is past `evaluation.distributed_above_shards` shards (2 in itest.yaml)
is scored by the Distributed Map, its items read from the plan's shard list in S3, and aggregated
like the inline Map's: one result per record, in the set's order, every metric over all of them."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean

import pytest
from iterft_runtime import naming
from iterft_runtime.dal.registry import Registry
from iterft_runtime.dal.storage import split_uri
from iterft_runtime.logic.evaluation import shard_records

from iterft.history import lineage_history
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
COPIES = 3


def test_a_set_of_several_shards_is_scored_through_the_distributed_map(
    itest_session: LocalSession, tmp_path: Path
) -> None:
    session = itest_session
    example = (EXAMPLES / "eval.jsonl").read_bytes()
    records = len(example.splitlines())
    larger = tmp_path / "eval.jsonl"
    larger.write_bytes(example * COPIES)  # the example set three times over: 66 records, 6 shards
    session.put_evaluation_set("dmap", larger)
    session.upload("dmap", (EXAMPLES / "round-1-billing.jsonl").read_bytes(), name="round-1.jsonl")
    session.wait_until_idle("dmap", timeout=90)
    [row] = lineage_history(session.deployment, "dmap")
    assert row["decision"] == "promoted", row["reason"]

    # The plan's shard list in S3, the Distributed Map's items: every record once, as many a shard as
    # the worst case of two 512-token answers a record lets finish within the shard's time budget.
    s3 = session.client("s3")
    bucket = session.stack.data_bucket
    listed = s3.get_object(Bucket=bucket, Key=naming.evaluation_shard_list_key("dmap", 1))["Body"].read()
    shards = json.loads(listed)
    [config] = [lineage for lineage in session.config.lineages if lineage.name == "dmap"]
    size = shard_records(config.evaluation, champion_answers=True)
    assert size == 13
    assert [(shard["start"], shard["end"]) for shard in shards] == [
        (start, min(start + size, records * COPIES)) for start in range(0, records * COPIES, size)
    ]
    assert len(shards) > session.config.evaluation.distributed_above_shards

    # The round went through the Distributed Map, not the inline one.
    record = Registry(session.deployment.table_name).get_iteration("dmap", 1)
    assert record is not None and record.execution_arn
    events = session.client("stepfunctions").get_execution_history(executionArn=record.execution_arn)
    entered = {
        event["stateEnteredEventDetails"]["name"]
        for event in events["events"]
        if "stateEnteredEventDetails" in event
    }
    assert "Score shards (distributed)" in entered and "Score shards" not in entered

    # Aggregated as the inline Map's would be: all records in the set's order, the score their mean,
    # and each copy of a prompt answered and scored alike whichever shard it fell in.
    bucket_name, key = split_uri(row["results_uri"])
    results = [
        json.loads(line) for line in s3.get_object(Bucket=bucket_name, Key=key)["Body"].read().splitlines()
    ]
    assert [result["line"] for result in results] == list(range(1, records * COPIES + 1))
    assert row["eval_score"] == pytest.approx(fmean(result["candidate_score"] for result in results))
    assert row["champion_score"] == pytest.approx(fmean(result["champion_score"] for result in results))
    for index in range(records):
        copies = [results[index + records * copy] for copy in range(COPIES)]
        assert len({(r["candidate_answer"], r["candidate_score"], r["champion_answer"]) for r in copies}) == 1
