"""The embedded default's IAM check: request mapping, the simulator, and each hook over moto/botocore.

The decisions themselves are @cloud-copilot/iam-simulate's; these tests pin what we feed it (actions,
resource ARNs, condition keys) and that every identity a request can be made as is carried to it.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker,
)

from iterft.local.api_calls import call_wrappers, wrapped_api_call
from iterft.local.bedrock import install_bedrock_standin
from iterft.local.iam import Principal, acting_as, current
from iterft.local.iam.hooks import IAM_WRAPPER
from iterft.local.iam.requests import Call, IamRequest, UnmappedOperation, requests_for
from iterft.local.iam.simulator import NodeSimulator, simulator_available
from iterft.local.server import EmbeddedAws

ACCOUNT = "123456789012"
REGION = "us-east-1"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234"
pytestmark = pytest.mark.skipif(not simulator_available(), reason="make setup installs the IAM simulator")


class FakeResolver:
    """What the mapping asks the account: one KMS-encrypted bucket, one served provisioned model."""

    def bucket_key(self, bucket: str) -> str | None:
        return KEY if bucket == "data" else None

    def topic_key(self, topic_arn: str) -> str | None:
        return KEY

    def queue_key(self, queue_arn: str) -> str | None:
        return None

    def bedrock_arn(self, region: str, identifier: str) -> str | None:
        return (
            f"arn:aws:bedrock:{region}:{ACCOUNT}:custom-model/x/{identifier}"
            if identifier == "mine"
            else None
        )

    def served_model(self, region: str, capacity_arn: str) -> str | None:
        return f"arn:aws:bedrock:{region}:{ACCOUNT}:custom-model/amazon.titan/abc"


def _requests(service: str, operation: str, **params: Any) -> list[IamRequest]:
    return requests_for(Call(service, operation, params, REGION, ACCOUNT, FakeResolver()))


def test_an_object_read_by_version_needs_get_object_version_and_the_bucket_key() -> None:
    assert _requests("s3", "GetObject", Bucket="data", Key="a/b.jsonl", VersionId="v1") == [
        IamRequest("s3:GetObjectVersion", "arn:aws:s3:::data/a/b.jsonl"),
        IamRequest(
            "kms:Decrypt", KEY, {"kms:ViaService": "s3.us-east-1.amazonaws.com", "kms:CallerAccount": ACCOUNT}
        ),
    ]
    # HeadObject reads metadata only; an unencrypted bucket needs no key.
    assert _requests("s3", "HeadObject", Bucket="data", Key="k") == [
        IamRequest("s3:GetObject", "arn:aws:s3:::data/k")
    ]
    assert [r.action for r in _requests("s3", "PutObject", Bucket="plain", Key="k")] == ["s3:PutObject"]


def test_a_copy_reads_the_source_version_and_writes_the_target() -> None:
    actions = [
        (r.action, r.resource)
        for r in _requests(
            "s3", "CopyObject", Bucket="data", Key="q/x", CopySource="data/in%20x?versionId=v2"
        )
    ]
    assert actions == [
        ("s3:GetObjectVersion", "arn:aws:s3:::data/in x"),
        ("kms:Decrypt", KEY),
        ("s3:PutObject", "arn:aws:s3:::data/q/x"),
        ("kms:GenerateDataKey", KEY),
    ]


def test_a_transaction_is_authorized_item_by_item() -> None:
    items = [
        {"Put": {"TableName": "t"}},
        {"Update": {"TableName": "t"}},
        {"ConditionCheck": {"TableName": "u"}},
    ]
    assert [
        (r.action, r.resource.rsplit("/", 1)[1])
        for r in _requests("dynamodb", "TransactWriteItems", TransactItems=items)
    ] == [
        ("dynamodb:PutItem", "t"),
        ("dynamodb:UpdateItem", "t"),
        ("dynamodb:ConditionCheckItem", "u"),
    ]


def test_a_customization_job_passes_its_role_to_bedrock_only() -> None:
    found = _requests(
        "bedrock",
        "CreateModelCustomizationJob",
        jobName="j",
        customModelName="m",
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
        baseModelIdentifier="mine",
        customModelTags=[{"key": "iterft:lineage", "value": "bot"}],
    )
    assert (
        IamRequest(
            "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/r", {"iam:PassedToService": "bedrock.amazonaws.com"}
        )
        in found
    )
    assert found[0].resource == f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/x/mine"
    assert found[0].context == {"aws:RequestTag/iterft:lineage": "bot", "aws:TagKeys": ["iterft:lineage"]}


def test_an_evaluation_job_is_authorized_against_the_models_it_evaluates() -> None:
    found = _requests(
        "bedrock",
        "CreateEvaluationJob",
        jobName="e",
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
        evaluationConfig={"automated": {}},
        inferenceConfig={
            "models": [
                {
                    "bedrockModel": {
                        "modelIdentifier": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/p"
                    }
                }
            ]
        },
    )
    assert [(r.action, r.resource) for r in found] == [
        ("bedrock:CreateEvaluationJob", f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/amazon.titan/abc"),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/r"),
    ]


def test_an_unknown_operation_is_refused_not_let_through() -> None:
    with pytest.raises(UnmappedOperation, match="s3:PutBucketPolicy"):
        _requests("s3", "PutBucketPolicy", Bucket="data")
    with pytest.raises(UnmappedOperation, match="glue:GetJob"):
        _requests("glue", "GetJob")


@pytest.fixture(scope="module")
def simulator() -> Iterator[NodeSimulator]:
    running = NodeSimulator()
    yield running
    running.close()


def _simulation(
    action: str, resource: str, statement: dict[str, Any], context: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "request": {
            "principal": f"arn:aws:iam::{ACCOUNT}:role/r",
            "action": action,
            "resource": {"resource": resource, "accountId": ACCOUNT},
            "contextVariables": context or {},
        },
        "identityPolicies": [{"name": "p", "policy": {"Version": "2012-10-17", "Statement": [statement]}}],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }


def test_the_simulator_knows_create_evaluation_job_is_not_authorized_on_evaluation_jobs(
    simulator: NodeSimulator,
) -> None:
    """The grant the stack once had: CreateEvaluationJob on evaluation-job/* allows nothing."""
    grant = {
        "Effect": "Allow",
        "Action": "bedrock:CreateEvaluationJob",
        "Resource": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:evaluation-job/*",
    }
    job = simulator.evaluate(
        _simulation(
            "bedrock:CreateEvaluationJob", f"arn:aws:bedrock:{REGION}:{ACCOUNT}:evaluation-job/x", grant
        )
    )
    assert job["result"] == "Error"  # evaluation-job is not one of the action's resource types
    model = simulator.evaluate(
        _simulation(
            "bedrock:CreateEvaluationJob", f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/a/b", grant
        )
    )
    assert model["result"] == "ImplicitlyDenied"


def test_the_simulator_applies_pass_role_conditions(simulator: NodeSimulator) -> None:
    statement = {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": "*",
        "Condition": {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
    }
    role = f"arn:aws:iam::{ACCOUNT}:role/x"
    to_bedrock = _simulation(
        "iam:PassRole", role, statement, {"iam:PassedToService": "bedrock.amazonaws.com"}
    )
    to_lambda = _simulation("iam:PassRole", role, statement, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert simulator.evaluate(to_bedrock)["result"] == "Allowed"
    assert simulator.evaluate(to_lambda)["result"] == "ImplicitlyDenied"


# --- The hooks, on a running embedded default --------------------------------------------------------


@pytest.fixture(scope="module")
def aws(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[EmbeddedAws]:
    monkeypatch_module.setenv("ITERFT_IAM_CHECKS", "1")
    install_bedrock_standin()
    with EmbeddedAws() as running:
        yield running


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _role(aws: EmbeddedAws, name: str, statements: list[dict[str, Any]]) -> Principal:
    iam = aws.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="p",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    return Principal(arn, f"function {name}")


def test_a_call_made_as_a_role_is_checked_against_its_policies(aws: EmbeddedAws) -> None:
    """Relies on botocore.client.BaseClient._make_api_call being where every client call passes."""
    assert BaseClient._make_api_call is wrapped_api_call
    assert IAM_WRAPPER in call_wrappers()
    aws.client("s3").create_bucket(Bucket="iam-hooks")
    reader = _role(
        aws, "reader", [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::iam-hooks"}]
    )
    s3 = aws.client("s3")
    assert aws.iam is not None
    aws.iam.take_denials()
    with acting_as(reader):
        s3.list_objects_v2(Bucket="iam-hooks")
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket="iam-hooks", Key="x", Body=b"1")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::iam-hooks/x" in str(
        refused.value
    )
    [denial] = aws.iam.take_denials()
    assert denial.principal == reader and denial.request.action == "s3:PutObject"
    assert '"Action": "s3:PutObject", "Resource": "arn:aws:s3:::iam-hooks/x"' in denial.describe()
    s3.put_object(Bucket="iam-hooks", Key="x", Body=b"1")  # nobody in particular: the harness is not checked


def test_work_handed_to_a_thread_pool_keeps_its_identity(aws: EmbeddedAws) -> None:
    """Relies on concurrent.futures.ThreadPoolExecutor.submit (s3transfer's copies use a pool)."""
    someone = Principal(f"arn:aws:iam::{ACCOUNT}:role/someone", "function someone")
    with ThreadPoolExecutor(max_workers=1) as pool, acting_as(someone):
        assert pool.submit(current).result() == someone
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(current).result() is None


def test_the_interpreter_acts_as_the_execution_role(aws: EmbeddedAws, run_to_end: Any) -> None:
    """Relies on EvalComponent.eval running every state with the execution's Environment (and on
    DistributedItemProcessorWorker._eval_job starting each Distributed Map child)."""
    assert EvalComponent.eval.__name__ == "eval_as_execution_role"
    assert (
        distributed_item_processor_worker.DistributedItemProcessorWorker._eval_job.__name__
        == "eval_child_execution"
    )
    aws.client("s3").create_bucket(Bucket="iam-machine")
    machine = _role(
        aws,
        "machine",
        [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::iam-machine/*"}],
    )
    definition = {
        "StartAt": "Write",
        "States": {
            "Write": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
                "Parameters": {"Bucket": "iam-machine", "Key": "k", "Body": "x"},
                "End": True,
            }
        },
    }
    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="iam-machine", definition=json.dumps(definition), roleArn=machine.role_arn
    )["stateMachineArn"]
    assert aws.iam is not None
    aws.iam.take_denials()
    execution = run_to_end(sfn, arn, {})
    assert execution["status"] == "FAILED"
    [denial] = aws.iam.take_denials()
    assert (denial.principal.role_arn, denial.request.action) == (machine.role_arn, "s3:PutObject")


RECORD = {
    "schemaVersion": "bedrock-conversation-2024",
    "messages": [
        {"role": "user", "content": [{"text": "How do I reset my password?"}]},
        {"role": "assistant", "content": [{"text": "Open settings and choose reset password."}]},
    ],
}


def _customization_role(aws: EmbeddedAws, name: str, trusted: str, statements: list[dict[str, Any]]) -> str:
    iam = aws.client("iam")
    trust = {"Effect": "Allow", "Principal": {"Service": trusted}, "Action": "sts:AssumeRole"}
    policy = {"Version": "2012-10-17", "Statement": [trust]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"]
    document = {"Version": "2012-10-17", "Statement": statements}
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(document))
    return str(arn)


def _create_job(aws: EmbeddedAws, role_arn: str, name: str) -> dict[str, Any]:
    return dict(
        aws.client("bedrock").create_model_customization_job(
            jobName=name,
            customModelName=f"{name}-model",
            roleArn=role_arn,
            baseModelIdentifier="amazon.nova-micro-v1:0:128k",
            trainingDataConfig={"s3Uri": "s3://iam-jobs/train.jsonl"},
            outputDataConfig={"s3Uri": "s3://iam-jobs/out/"},
        )
    )


def test_bedrock_acts_for_a_job_only_through_a_role_that_trusts_it_and_may_read_the_data(
    aws: EmbeddedAws,
) -> None:
    """The stand-in assumes the job's role (trust policy) and reads the training data as that role."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="iam-jobs")
    s3.put_object(Bucket="iam-jobs", Key="train.jsonl", Body="\n".join(json.dumps(RECORD) for _ in range(8)))
    read_write = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::iam-jobs/train.jsonl"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::iam-jobs/out/*"},
    ]
    assert aws.iam is not None
    aws.iam.take_denials()

    untrusting = _customization_role(aws, "trusts-lambda", "lambda.amazonaws.com", read_write)
    with pytest.raises(ClientError, match="could not assume the service role"):
        _create_job(aws, untrusting, "iam-untrusted")
    blind = _customization_role(aws, "cannot-read", "bedrock.amazonaws.com", read_write[1:])
    with pytest.raises(
        ClientError, match=re.escape("s3:GetObject on resource: arn:aws:s3:::iam-jobs/train.jsonl")
    ):
        _create_job(aws, blind, "iam-blind")
    assert [(d.request.action, d.request.resource, d.principal.role_arn) for d in aws.iam.take_denials()] == [
        ("sts:AssumeRole", untrusting, "bedrock.amazonaws.com"),
        ("s3:GetObject", "arn:aws:s3:::iam-jobs/train.jsonl", blind),
    ]

    allowed = _customization_role(aws, "can-read", "bedrock.amazonaws.com", read_write)
    job = _create_job(aws, allowed, "iam-allowed")
    status = aws.client("bedrock").get_model_customization_job(jobIdentifier=job["jobArn"])["status"]
    assert status == "Completed" and aws.iam.take_denials() == []


def _prompts(count: int) -> str:
    records = [
        {
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [{"role": "user", "content": [{"text": f"How do I reset my password, case {n}?"}]}],
        }
        for n in range(count)
    ]
    return "\n".join(json.dumps(record) for record in records)


def _grader_function(aws: EmbeddedAws) -> str:
    iam = aws.client("iam")
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    role = iam.create_role(
        RoleName="grader-function",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
    )["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("placeholder.py", "")
    return str(
        aws.client("lambda").create_function(
            FunctionName="iam-grader",
            Runtime="python3.11",
            Role=role,
            Handler="bedrock_graders.reward_reference_f1",
            Code={"ZipFile": archive.getvalue()},
        )["FunctionArn"]
    )


def test_a_job_role_must_be_allowed_to_invoke_the_teacher_and_the_grader(aws: EmbeddedAws) -> None:
    """Distillation invokes the teacher, reinforcement fine-tuning the grader Lambda function, as the job's
    service role: bedrock:InvokeModel on the teacher, lambda:InvokeFunction on the grader."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="iam-strategies")
    s3.put_object(Bucket="iam-strategies", Key="prompts.jsonl", Body=_prompts(100))
    rft = "\n".join(
        json.dumps({"messages": [{"role": "user", "content": f"Question {n}?"}], "reference_answer": "Yes."})
        for n in range(100)
    )
    s3.put_object(Bucket="iam-strategies", Key="rft.jsonl", Body=rft)
    read_write = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::iam-strategies/*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::iam-strategies/out/*"},
    ]
    teacher = "amazon.nova-pro-v1:0"
    invoke_teacher = {
        "Effect": "Allow",
        "Action": "bedrock:InvokeModel",
        "Resource": f"arn:aws:bedrock:{REGION}::foundation-model/{teacher}",
    }
    grader = _grader_function(aws)
    invoke_grader = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": grader}
    bedrock = aws.client("bedrock")

    def create(role: str, name: str, **strategy: Any) -> dict[str, Any]:
        return dict(
            bedrock.create_model_customization_job(
                jobName=name,
                customModelName=f"{name}-model",
                roleArn=role,
                outputDataConfig={"s3Uri": "s3://iam-strategies/out/"},
                **strategy,
            )
        )

    distil = {
        "baseModelIdentifier": "amazon.nova-micro-v1:0:128k",
        "trainingDataConfig": {"s3Uri": "s3://iam-strategies/prompts.jsonl"},
        "customizationType": "DISTILLATION",
        "customizationConfig": {
            "distillationConfig": {"teacherModelConfig": {"teacherModelIdentifier": teacher}}
        },
    }
    reinforce = {
        "baseModelIdentifier": "amazon.nova-2-lite-v1:0:256k",
        "trainingDataConfig": {"s3Uri": "s3://iam-strategies/rft.jsonl"},
        "customizationType": "REINFORCEMENT_FINE_TUNING",
        "customizationConfig": {"rftConfig": {"graderConfig": {"lambdaGrader": {"lambdaArn": grader}}}},
    }
    assert aws.iam is not None
    aws.iam.take_denials()
    data_only = _customization_role(aws, "data-only", "bedrock.amazonaws.com", read_write)
    with pytest.raises(
        ClientError, match=re.escape(f"bedrock:InvokeModel on resource: {invoke_teacher['Resource']}")
    ):
        create(data_only, "iam-no-teacher", **distil)
    with pytest.raises(ClientError, match=re.escape(f"lambda:InvokeFunction on resource: {grader}")):
        create(data_only, "iam-no-grader", **reinforce)
    assert [(d.request.action, d.principal.role_arn) for d in aws.iam.take_denials()] == [
        ("bedrock:InvokeModel", data_only),
        ("lambda:InvokeFunction", data_only),
    ]

    allowed = _customization_role(
        aws, "strategies", "bedrock.amazonaws.com", [*read_write, invoke_teacher, invoke_grader]
    )
    for name, strategy in (("iam-distil", distil), ("iam-rft", reinforce)):
        job = create(allowed, name, **strategy)
        status = bedrock.get_model_customization_job(jobIdentifier=job["jobArn"])
        assert status["status"] == "Completed", status.get("failureMessage")
    assert aws.iam.take_denials() == []
