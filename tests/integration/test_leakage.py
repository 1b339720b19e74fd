"""The yardstick cannot leak (issue 17): an upload holding evaluation questions, on the embedded default.

Uploads go through the deployed trigger chain; the assertions read the registry, S3, the Bedrock
stand-in's jobs and the notifications, as an operator would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from iterft_runtime import naming

from iterft.history import lineage_history
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
TIMEOUT = 60


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    for lineage in ("leak-reject", "leak-drop"):
        itest_session.put_evaluation_set(lineage, EXAMPLES / "eval.jsonl")
    return itest_session


def evaluation_prompts() -> list[str]:
    return [json.loads(line)["prompt"] for line in (EXAMPLES / "eval.jsonl").read_text().splitlines()]


def leaky_upload() -> tuple[bytes, int]:
    """round-1-billing.jsonl with one more record, at line 5: evaluation line 3's question, re-cased and
    with a greeting (a near duplicate), answered with its reference. Returns the file and the line."""
    lines = (EXAMPLES / "round-1-billing.jsonl").read_bytes().splitlines(keepends=True)
    evaluation = json.loads((EXAMPLES / "eval.jsonl").read_text().splitlines()[2])
    record = json.loads(lines[0])
    record["messages"][0]["content"][0]["text"] = "Hi! " + evaluation["prompt"].lower()
    record["messages"][1]["content"][0]["text"] = evaluation["referenceResponse"]
    lines.insert(4, json.dumps(record).encode() + b"\n")
    return b"".join(lines), 5


def jobs_of(session: LocalSession, lineage: str) -> list[dict]:
    jobs = session.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"]
    return [job for job in jobs if job["jobName"].startswith(f"iterft-{lineage}-")]


def read(session: LocalSession, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return bytes(session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_the_shipped_example_data_is_clear_of_the_evaluation_set() -> None:
    # What `make demo` uploads must pass the default check (reject), or the demo would refuse it.
    from iterft_runtime.logic.leakage import LeakageCheck, LeakageIndex
    from iterft_runtime.logic.lines import split_lines
    from iterft_runtime.models.leakage import LeakageConfig

    index = LeakageIndex(enumerate(evaluation_prompts(), start=1), LeakageConfig())
    for path in sorted(EXAMPLES.parent.glob("*/round-*.jsonl")):
        assert LeakageCheck(index).check(split_lines([path.read_bytes()])) == [], path.name


def test_an_upload_with_an_evaluation_question_is_rejected_before_any_job(session: LocalSession) -> None:
    body, line = leaky_upload()
    session.upload("leak-reject", body, name="billing-and-more.jsonl")
    session.wait_until_idle("leak-reject", timeout=TIMEOUT)

    [row] = lineage_history(session.deployment, "leak-reject")
    assert row["decision"] == "invalid_data"
    assert jobs_of(session, "leak-reject") == []
    assert row["leakage"]["matched"] == 1 and row["leakage"]["action"] == "reject"
    # "hi is it possible to get my money back": 6 of its 7 trigrams are the evaluation prompt's 6.
    assert row["leakage"]["first"] == [
        {"line": line, "where": "user turn 1", "evaluation_line": 3, "exact": False, "similarity": 0.8571}
    ]
    report = json.loads(read(session, row["report_uri"]))
    [problem] = [p for p in report["problems"] if p["code"] == "evaluation_prompt"]
    assert problem["line"] == line and "evaluation line 3" in problem["message"]
    [message] = [n for n in session.notifications() if n["subject"].startswith("iterft leak-reject #1")]
    assert "invalid data" in message["subject"]
    assert f"line {line} [evaluation_prompt]" in message["message"]
    assert "Evaluation overlap: 1 training record(s)" in message["message"]


def test_drop_trains_on_the_upload_less_the_evaluation_question(session: LocalSession) -> None:
    body, line = leaky_upload()
    session.upload("leak-drop", body, name="billing-and-more.jsonl")
    session.wait_until_idle("leak-drop", timeout=TIMEOUT)

    [row] = lineage_history(session.deployment, "leak-drop")
    assert row["decision"] in ("promoted", "rejected"), row["reason"]  # decided by the gate on real scores
    assert row["records"] == 16  # 17 uploaded, 1 dropped
    assert row["leakage"]["dropped"] == 1 and row["leakage"]["first"][0]["line"] == line
    [job] = jobs_of(session, "leak-drop")
    described = session.client("bedrock").get_model_customization_job(jobIdentifier=job["jobArn"])
    trained = read(session, described["trainingDataConfig"]["s3Uri"])
    assert trained == (EXAMPLES / "round-1-billing.jsonl").read_bytes()
    assert described["trainingDataConfig"]["s3Uri"].endswith(naming.validated_key("leak-drop", 1))
    [message] = [n for n in session.notifications() if n["subject"].startswith("iterft leak-drop #1")]
    assert "those records were dropped; the round trains on the rest" in message["message"]
