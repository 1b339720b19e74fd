"""IAM on the embedded default: a grant missing from the template fails the round that needs it, and the
test that ran it, naming the caller, the action and the resource (tests/integration/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

from iterft.history import lineage_history
from iterft.local.iam import active_checker
from iterft.local.session import LocalSession

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


def test_a_grant_removed_from_the_template_fails_the_round_naming_the_action(
    itest_session: LocalSession,
) -> None:
    session, lineage = itest_session, "missing-grant"
    checker = active_checker()
    assert checker is not None, "make test runs the integration tests with ITERFT_IAM_CHECKS=1"
    iam = session.client("iam")
    [promote] = [f for f in session.stack.functions.values() if ".handlers.promote." in f.handler]
    promote_role = session.client("lambda").get_function(FunctionName=promote.name)["Configuration"]["Role"]
    promote_role = promote_role.rsplit("/", 1)[1]
    [policy_name] = iam.list_role_policies(RoleName=promote_role)["PolicyNames"]
    original = iam.get_role_policy(RoleName=promote_role, PolicyName=policy_name)["PolicyDocument"]
    without = dict(
        original, Statement=[s for s in original["Statement"] if "ssm:PutParameter" not in json.dumps(s)]
    )
    assert without["Statement"] != original["Statement"]
    session.put_evaluation_set(lineage, EXAMPLES / "eval.jsonl")
    iam.put_role_policy(RoleName=promote_role, PolicyName=policy_name, PolicyDocument=json.dumps(without))
    try:
        session.upload(lineage, EXAMPLES / "round-1-billing.jsonl")
        session.wait_until_idle(lineage, timeout=120)
    finally:
        iam.put_role_policy(
            RoleName=promote_role, PolicyName=policy_name, PolicyDocument=json.dumps(original)
        )
    denials = checker.take_denials()

    assert {(d.request.action, d.request.resource.rsplit(":", 1)[1]) for d in denials} == {
        ("ssm:PutParameter", f"parameter/iterft/{session.stack.stack_name}/serving/{lineage}")
    }
    assert "Missing statement" in denials[0].describe() and "Promote" in denials[0].principal.caller
    # Promote had committed the promotion before it failed: Clean up (which holds the grant) publishes
    # the pointer, so the champion and the pointer still agree.
    [row] = lineage_history(session.deployment, lineage)
    assert row["decision"] == "promoted"
    parameter = session.client("ssm").get_parameter(
        Name=f"/iterft/{session.stack.stack_name}/serving/{lineage}"
    )
    assert (
        row["output_model_arn"] in json.dumps(session.bedrock_inventory()) and parameter["Parameter"]["Value"]
    )
