"""A passing fault never throws away paid training (issue 19): Bedrock's 5xx on Fine-tune's create or on
one of its status polls is retried, the retry finds the job the first attempt started (its name is its
client request token) and waits for it, and the round is decided; a job that completes while the round
fails has its model recorded, so retention deletes it. Exactly one job is created each time. A create
whose token is no longer recognised (ConflictException) finds the job by its name and waits for it. A
handler's transient AWS error that outlasts botocore's own retries (a DynamoDB 500 in Promote and in Plan
evaluation, S3's SlowDown: a bare ClientError the data-access layer names TransientServiceError) is retried
by its step, and the round decided. So is one in Clean up's registry reads: the failed round still reaches
Finish, which records its own cause and releases the lineage.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iterft.history import lineage_history
from iterft.local.chaos import ScriptedFaults
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
TIMEOUT = 60
DECIDED = ("promoted", "rejected")


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    lineages = ("fault-create", "fault-poll", "fault-lost", "fault-conflict")
    for lineage in (*lineages, "fault-storage", "fault-promote", "fault-plan", "fault-clean-up"):
        itest_session.put_evaluation_set(lineage, EXAMPLES / "eval.jsonl")
    return itest_session


@pytest.fixture
def faults() -> Iterator[ScriptedFaults]:
    with ScriptedFaults() as scripted:
        yield scripted


def _round(session: LocalSession, lineage: str) -> dict:
    session.upload(lineage, (EXAMPLES / "round-1-billing.jsonl").read_bytes(), name="round-1-billing.jsonl")
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    [row] = lineage_history(session.deployment, lineage)
    return row


def _jobs_of(session: LocalSession, lineage: str) -> list[dict]:
    jobs = session.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"]
    return [job for job in jobs if job["jobName"].startswith(f"iterft-{lineage}-")]


def _events(session: LocalSession, lineage: str) -> list[dict[str, Any]]:
    """The history events of the lineage's (one) execution."""
    sfn = session.client("stepfunctions")
    arn = session.stack.state_machine_arn
    [execution] = [
        e for e in sfn.list_executions(stateMachineArn=arn)["executions"] if f"{lineage}-" in e["name"]
    ]
    return list(sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"])


def _fine_tune_errors(session: LocalSession, lineage: str) -> list[str]:
    """The errors of the Fine-tune attempts (the Bedrock tasks) of the lineage's execution."""
    events = _events(session, lineage)
    return [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]


def _lambda_step_errors(session: LocalSession, lineage: str) -> list[str]:
    """The errors of the failed Lambda step attempts of the lineage's execution."""
    events = _events(session, lineage)
    return [
        e["lambdaFunctionFailedEventDetails"]["error"] for e in events if e["type"] == "LambdaFunctionFailed"
    ]


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


def test_a_create_whose_token_is_no_longer_recognised_finds_the_job_and_waits_for_it(
    session: LocalSession,
) -> None:
    """The create started the job but answered 500, and the retry's token is not recognised any more: the
    retried create meets ConflictException on the job name. Fine-tune finds the job by its name, polls it
    while it trains, and the round is decided on it; no second job is started."""
    standin = session.standin
    standin.lose_next_response("CreateModelCustomizationJob", 1, "InternalServerException")
    standin.forget_job_tokens()
    standin.set_job_polls_in_progress(2)  # the job is still training when found: the wait loop runs
    try:
        row = _round(session, "fault-conflict")
    finally:
        standin.forget_job_tokens(False)
        standin.set_job_polls_in_progress(0)

    assert row["decision"] in DECIDED, row["reason"]
    _assert_one_job_with_its_model_recorded(session, "fault-conflict", row)
    assert _fine_tune_errors(session, "fault-conflict") == [
        "Bedrock.InternalServerException",
        "Bedrock.ConflictException",
    ]
    assert _states_entered(session, "fault-conflict").count("Find existing job") >= 2


def _states_entered(session: LocalSession, lineage: str) -> list[str]:
    """The names of the states the lineage's execution entered, in order."""
    events = _events(session, lineage)
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]


def _function(session: LocalSession, step: str) -> str:
    [function] = [f for f in session.stack.functions.values() if f".handlers.{step}." in f.handler]
    return function.name


def test_an_s3_slowdown_in_a_handler_is_retried_as_a_transient_error(
    session: LocalSession, faults: ScriptedFaults
) -> None:
    """Plan evaluation's write of the shard list meets S3's 503 SlowDown twice (after botocore's retries):
    named TransientServiceError, the step retries it and the round is decided."""
    plan = _function(session, "plan_evaluation")
    faults.fail_next(plan, "s3", "PutObject", "SlowDown", status=503, times=2)

    row = _round(session, "fault-storage")

    assert faults.raised == [(plan, "PutObject", "SlowDown")] * 2
    assert row["decision"] in DECIDED, row["reason"]
    assert _lambda_step_errors(session, "fault-storage") == ["TransientServiceError"] * 2


@pytest.mark.parametrize(
    ("lineage", "step", "decided"),
    [("fault-promote", "promote", ("promoted",)), ("fault-plan", "plan_evaluation", DECIDED)],
)
def test_a_dynamodb_500_in_a_step_is_retried_and_the_round_decided(
    session: LocalSession, faults: ScriptedFaults, lineage: str, step: str, decided: tuple[str, ...]
) -> None:
    """The step's first registry call fails with DynamoDB's InternalServerError (its own class, so its
    name): retried, the round is decided (Promote's round promotes its candidate)."""
    function = _function(session, step)
    faults.fail_next(function, "dynamodb", None, "InternalServerError")

    row = _round(session, lineage)

    assert [raised[0] for raised in faults.raised] == [function]
    assert row["decision"] in decided, row["reason"]
    assert _lambda_step_errors(session, lineage) == ["InternalServerError"]


def test_a_dynamodb_fault_in_clean_up_is_retried_and_the_failed_round_finishes(
    session: LocalSession, faults: ScriptedFaults
) -> None:
    """The round's job fails; Clean up's first registry read (the lineage's state) meets DynamoDB's
    throttling past botocore's retries. The step retries it, so the round reaches Finish: recorded failed
    with its own cause and the lock released, not left for the reconciler (chaos found this one)."""
    lineage = "fault-clean-up"
    function = _function(session, "clean_up")
    session.standin.fail_next_job(f"iterft-{lineage}-", "Internal error: the training instance was lost")
    faults.fail_next(function, "dynamodb", "GetItem", "ThrottlingException", status=400)

    row = _round(session, lineage)

    assert faults.raised == [(function, "GetItem", "ThrottlingException")]
    assert row["decision"] == "failed"
    assert "the training instance was lost" in row["reason"], row["reason"]
    assert _lambda_step_errors(session, lineage) == ["ThrottlingException"]
    assert "Finish iteration" in _states_entered(session, lineage)
