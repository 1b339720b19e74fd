"""A passing fault never throws away paid training (issue 19): Bedrock's 5xx on Fine-tune's create or on
one of its status polls is retried, the retry finds the job the first attempt started (its name is its
client request token) and waits for it, and the round is decided; a job that completes while the round
fails has its model recorded, so retention deletes it. Exactly one job is created each time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from iterft.history import lineage_history
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
TIMEOUT = 60
DECIDED = ("promoted", "rejected")


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    for lineage in ("fault-create", "fault-poll", "fault-lost"):
        itest_session.put_evaluation_set(lineage, EXAMPLES / "eval.jsonl")
    return itest_session


def _round(session: LocalSession, lineage: str) -> dict:
    session.upload(lineage, (EXAMPLES / "round-1-billing.jsonl").read_bytes(), name="round-1-billing.jsonl")
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    [row] = lineage_history(session.deployment, lineage)
    return row


def _jobs_of(session: LocalSession, lineage: str) -> list[dict]:
    jobs = session.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"]
    return [job for job in jobs if job["jobName"].startswith(f"iterft-{lineage}-")]


def _fine_tune_errors(session: LocalSession, lineage: str) -> list[str]:
    """The errors of the Fine-tune attempts of the lineage's (one) execution, from its history."""
    sfn = session.client("stepfunctions")
    arn = session.stack.state_machine_arn
    [execution] = [
        e for e in sfn.list_executions(stateMachineArn=arn)["executions"] if f"{lineage}-" in e["name"]
    ]
    events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    return [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]


def _assert_one_job_with_its_model_recorded(session: LocalSession, lineage: str, row: dict) -> dict:
    [job] = _jobs_of(session, lineage)
    described = session.client("bedrock").get_model_customization_job(jobIdentifier=job["jobArn"])
    assert row["job_arn"] == job["jobArn"]
    assert row["output_model_arn"] == described["outputModelArn"]
    return described


def test_a_5xx_after_the_create_took_effect_is_retried_onto_the_same_job(session: LocalSession) -> None:
    """The create started the job but answered 500: the retried create (same name, same token) gets the
    job back instead of a name conflict or a second job, and the round goes on to its decision."""
    session.standin.lose_next_response("CreateModelCustomizationJob", 1, "InternalServerException")

    row = _round(session, "fault-create")

    assert row["decision"] in DECIDED, row["reason"]
    _assert_one_job_with_its_model_recorded(session, "fault-create", row)
    assert _fine_tune_errors(session, "fault-create") == ["Bedrock.InternalServerException"]


def test_a_5xx_on_a_status_poll_is_retried_and_the_job_waited_for(session: LocalSession) -> None:
    session.standin.throttle_next("GetModelCustomizationJob", 1, "InternalServerException")

    row = _round(session, "fault-poll")

    assert row["decision"] in DECIDED, row["reason"]
    _assert_one_job_with_its_model_recorded(session, "fault-poll", row)
    assert _fine_tune_errors(session, "fault-poll") == ["Bedrock.InternalServerException"]


def test_a_job_that_completes_while_the_round_fails_has_its_model_recorded_and_deleted(
    session: LocalSession,
) -> None:
    """Every poll of every Fine-tune attempt fails (1 + 6 retries); the job trains meanwhile (the stand-in
    trains it on the next Get: Clean up's). The round fails, but its model is on the iteration, and
    retention deletes it: nothing paid for is orphaned."""
    session.standin.throttle_next("GetModelCustomizationJob", 7, "ServiceUnavailableException")

    row = _round(session, "fault-lost")

    assert row["decision"] == "failed"
    assert "ServiceUnavailableException" in row["reason"]
    described = _assert_one_job_with_its_model_recorded(session, "fault-lost", row)
    assert described["status"] == "Completed"
    assert row["model_deleted_at"], row
    models = session.client("bedrock").list_custom_models()["modelSummaries"]
    assert described["outputModelArn"] not in [model["modelArn"] for model in models]
    assert _fine_tune_errors(session, "fault-lost") == ["Bedrock.ServiceUnavailableException"] * 7
