"""`iterft doctor` against the embedded default: every check passes on a healthy deployment, and each
failure it can detect offline is provoked, named and given a fix (exit code 1).

The checks of lineages are limited to `doctor` (the shared deployment's other lineages belong to other
tests); account-wide conditions a test provokes (the bootstrap parameter, a quota, a subscription) are
put back as they were. The failed round comes last: it stays the lineage's last round.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from iterft_runtime import naming

from iterft.local.account_standin import account_backend, subscription_arns
from iterft.local.session import LocalSession
from iterft.smoke import subscribe_operator_queue

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("embedded-default")]

LINEAGE = "doctor"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
BOOTSTRAP = "/cdk-bootstrap/hnb659fds/version"
SCHEDULED_JOBS = "L-0406044C"


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    """The lineage's evaluation set in place and an operator's queue subscribed (confirmed at once)."""
    itest_session.put_evaluation_set(LINEAGE, EXAMPLES / "eval.jsonl")
    subscribe_operator_queue(itest_session, "iterft-doctor-operator")
    return itest_session


def _doctor(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, dict[str, Any]]]:
    code, out, err = run_cli(session, capsys, "doctor", LINEAGE, "--json")
    assert not err, err
    return code, {check["name"]: check for check in json.loads(out)}


def _failed(checks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: check for name, check in checks.items() if check["status"] == "failed"}


def _account(session: LocalSession) -> Any:
    return account_backend(session.aws.account_id, session.aws.region)


def test_a_healthy_deployment_passes_every_check(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, checks = _doctor(session, capsys)

    assert code == 0, _failed(checks)
    assert {check["status"] for check in checks.values()} <= {"passed", "skipped", "warning"}
    for name in (
        "credentials and region",
        "CDK bootstrap",
        f"stack {session.deployment.stack_name}",
        "doctor: base model",
        "doctor: model access",
        "doctor: evaluation set",
        f"quota (Model customization) Scheduled customization jobs ({SCHEDULED_JOBS})",
        "notifications",
        "doctor: last round",
        "Lambda errors (last 24 h)",
    ):
        assert checks[name]["status"] == "passed", checks[name]
    assert "22 records" in checks["doctor: evaluation set"]["detail"]
    # 22 records cannot see the default min_improvement 0.01: a warning, not a failure. No round has
    # scored the champion on this set yet: the widest spread, 1.96 x 0.7071 / sqrt(22) = 0.2955, and
    # (1.96 x 0.7071 / 0.01)^2 = 19,207.3 records.
    power = checks["doctor: yardstick power"]
    assert power["status"] == "warning"
    assert power["detail"].startswith(
        "the evaluation set's 22 records can detect an improvement of about 0.2955 at 95% confidence (from "
        "the widest spread a 0..1 score can have (0.5)), more than gate.min_improvement 0.01: about 19,208 "
        "records"
    )
    assert power["fix"] == (
        "grow the evaluation set towards 19,208 records, or raise gate.min_improvement to about 0.30"
    )
    # Evaluation runs on an on-demand deployment: no provisioned throughput quota applies.
    [units] = [check for name, check in checks.items() if "no-commitment" in name]
    assert units["status"] == "skipped"
    # The integration stack reads no live traffic: the region's logging is reported, nothing is checked
    # against it (tests/integration/test_flywheel.py checks a stack that does).
    logging = checks["invocation logging"]
    assert logging["status"] == "skipped"
    assert logging["detail"].startswith("the stack reads no live traffic (no invocation_logs); the region ")


def test_the_human_readable_report_names_each_check_and_counts_them(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(session, capsys, "doctor", LINEAGE)

    assert code == 0
    assert out.splitlines()[0].startswith("passed   credentials and region: ")
    # skipped: the no-commitment units check and the invocation logging check
    assert out.splitlines()[-1].endswith("0 failed, 2 skipped, 1 warning")
    assert "warning  doctor: yardstick power: the evaluation set's 22 records" in out


@pytest.fixture
def bootstrap_missing(session: LocalSession) -> Iterator[None]:
    ssm = session.client("ssm")
    value = ssm.get_parameter(Name=BOOTSTRAP)["Parameter"]["Value"]
    ssm.delete_parameter(Name=BOOTSTRAP)
    yield
    ssm.put_parameter(Name=BOOTSTRAP, Value=value, Type="String")


def test_a_missing_bootstrap_parameter_is_named(
    session: LocalSession, capsys: pytest.CaptureFixture[str], bootstrap_missing: None
) -> None:
    code, checks = _doctor(session, capsys)

    assert code == 1
    assert list(_failed(checks)) == ["CDK bootstrap"]
    assert BOOTSTRAP in checks["CDK bootstrap"]["detail"]
    assert checks["CDK bootstrap"]["fix"] == (
        f"npx cdk bootstrap aws://{session.aws.account_id}/{session.aws.region}"
    )


@pytest.fixture
def evaluation_set(session: LocalSession) -> Iterator[Any]:
    """Lets a test replace or delete the set; the valid one is put back after it."""
    yield session.client("s3")
    session.put_evaluation_set(LINEAGE, EXAMPLES / "eval.jsonl")


def test_a_missing_evaluation_set_is_named_with_where_it_belongs(
    session: LocalSession, capsys: pytest.CaptureFixture[str], evaluation_set: Any
) -> None:
    key = naming.evaluation_set_key(LINEAGE)
    evaluation_set.delete_object(Bucket=session.stack.data_bucket, Key=key)

    code, checks = _doctor(session, capsys)

    assert code == 1
    check = checks["doctor: evaluation set"]
    assert list(_failed(checks)) == ["doctor: evaluation set"]
    assert check["detail"] == f"none at s3://{session.stack.data_bucket}/{key}"
    assert check["fix"].startswith("aws s3 cp eval.jsonl s3://")


def test_an_invalid_evaluation_set_is_named_with_its_bad_lines(
    session: LocalSession, capsys: pytest.CaptureFixture[str], evaluation_set: Any
) -> None:
    body = b'{"prompt": "How do I pay?", "referenceResponse": "By card."}\nnot json\n{"prompt": "x"}\n'
    evaluation_set.put_object(
        Bucket=session.stack.data_bucket, Key=naming.evaluation_set_key(LINEAGE), Body=body
    )

    code, checks = _doctor(session, capsys)

    assert code == 1
    detail = checks["doctor: evaluation set"]["detail"]
    assert list(_failed(checks)) == ["doctor: evaluation set"]
    assert "2 bad line(s)" in detail and "line 2" in detail and "line 3" in detail


def test_an_unconfirmed_subscription_is_named_until_it_is_confirmed(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = session.stack.topic_arn
    session.client("sns").subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")

    code, checks = _doctor(session, capsys)

    assert code == 1
    assert list(_failed(checks)) == ["notifications"]
    assert checks["notifications"]["detail"] == "not confirmed: ops@example.com"
    assert "confirmation e-mail" in checks["notifications"]["fix"]
    # The owner follows the link AWS mailed: confirmed, the check passes.
    [arn] = subscription_arns(session.aws.account_id, session.aws.region, topic, "ops@example.com")
    _account(session).confirm_subscription(arn)
    code, checks = _doctor(session, capsys)
    assert code == 0 and "email ops@example.com" in checks["notifications"]["detail"]


@pytest.fixture
def quota(session: LocalSession) -> Iterator[Any]:
    yield _account(session)
    _account(session).set_service_quota(SCHEDULED_JOBS, None)


def test_a_customization_job_quota_below_one_round_is_named(
    session: LocalSession, capsys: pytest.CaptureFixture[str], quota: Any
) -> None:
    quota.set_service_quota(SCHEDULED_JOBS, 0)

    code, checks = _doctor(session, capsys)

    name = f"quota (Model customization) Scheduled customization jobs ({SCHEDULED_JOBS})"
    assert code == 1
    assert list(_failed(checks)) == [name]
    assert checks[name]["detail"].startswith("0, a round needs 1")
    assert f"--quota-code {SCHEDULED_JOBS} --desired-value 1" in checks[name]["fix"]


@pytest.fixture
def deployed_config(session: LocalSession) -> Iterator[dict[str, Any]]:
    """The lineage's deployed config (its SSM parameter), to rewrite; put back after the test."""
    ssm, name = session.client("ssm"), naming.lineage_parameter_name(session.stack.stack_name, LINEAGE)
    value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    config = json.loads(value)
    yield config
    ssm.put_parameter(Name=name, Value=value, Overwrite=True)


def test_a_base_model_the_capability_table_does_not_offer_in_the_region_is_named(
    session: LocalSession, capsys: pytest.CaptureFixture[str], deployed_config: dict[str, Any]
) -> None:
    # A config deployed when the table said otherwise (the table changes with the code; synth refuses
    # this config today): Claude 3 Haiku is fine-tuned in us-west-2 only.
    deployed_config["base_model"] = "anthropic.claude-3-haiku-20240307-v1:0:200k"
    deployed_config["family"] = None
    session.client("ssm").put_parameter(
        Name=naming.lineage_parameter_name(session.stack.stack_name, LINEAGE),
        Value=json.dumps(deployed_config),
        Overwrite=True,
    )

    code, checks = _doctor(session, capsys)

    assert code == 1
    detail = checks["doctor: base model"]["detail"]
    assert "doctor: base model" in _failed(checks)
    assert "cannot be customized by FINE_TUNING in us-east-1; it can in us-west-2" in detail


@pytest.fixture
def access_revoked(session: LocalSession) -> Iterator[None]:
    _account(session).revoke_model_access("amazon.nova-micro-v1:0")
    yield
    _account(session).grant_model_access("amazon.nova-micro-v1:0")


def test_model_access_not_granted_is_named(
    session: LocalSession, capsys: pytest.CaptureFixture[str], access_revoked: None
) -> None:
    code, checks = _doctor(session, capsys)

    assert code == 1
    assert list(_failed(checks)) == ["doctor: model access"]
    assert (
        checks["doctor: model access"]["detail"]
        == "amazon.nova-micro-v1:0: authorizationStatus NOT_AUTHORIZED"
    )
    assert "Model access" in checks["doctor: model access"]["fix"]


def test_a_stack_deployed_from_other_code_is_named(
    session: LocalSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # This checkout changed since the deploy (its digest differs from the one the stack recorded).
    monkeypatch.setattr("iterft.doctor.code_version", lambda: "0.1.0+000000000000")

    code, checks = _doctor(session, capsys)

    name = f"stack {session.deployment.stack_name}"
    assert code == 1
    assert list(_failed(checks)) == [name]
    assert "this checkout is 0.1.0+000000000000" in checks[name]["detail"]
    assert checks[name]["fix"] == f"make deploy ENV={session.deployment.stack_name.removeprefix('iterft-')}"


def test_a_failed_round_is_named_with_its_cause(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    session.standin.fail_next_job(f"iterft-{LINEAGE}-", "Internal error: the training instance was lost")
    session.upload(LINEAGE, EXAMPLES / "round-1-billing.jsonl")
    session.wait_until_idle(LINEAGE)

    code, checks = _doctor(session, capsys)

    assert code == 1
    check = checks["doctor: last round"]
    assert list(_failed(checks)) == ["doctor: last round"]
    assert check["detail"].startswith(f"{LINEAGE}-it0001-")
    assert "FAILED: RoundFailed: " in check["detail"] and "training instance was lost" in check["detail"]
    assert check["fix"].startswith(f"iterft history {LINEAGE}")
