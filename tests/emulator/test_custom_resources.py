"""The stack lifecycle adapters (iterft/local/custom_resources.py) against moto's CloudFormation, one
test per adapted point, with the stack's real custom resource handler (a serving pointer) run in-process
as its function's role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iterft.local.custom_resources import deletion_order
from iterft.local.server import EmbeddedAws

pytestmark = pytest.mark.xdist_group("emulator")

HANDLER = "iterft_runtime.handlers.stack_resources.handler"
NAME = "/t/serving/p"


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(time_scale=0.001) as embedded:
        yield embedded


def _template(pointer_id: str = "Pointer", initial: str = "v0", description: str = "first") -> dict[str, Any]:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ssm:PutParameter", "ssm:DeleteParameter"],
                "Resource": {"Fn::Sub": "arn:aws:ssm:${AWS::Region}:${AWS::AccountId}:parameter/t/serving/*"},
            },
            {
                "Effect": "Allow",
                "Action": "cloudformation:DescribeStacks",
                "Resource": {"Ref": "AWS::StackId"},
            },
        ],
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": trust,
                    "Policies": [{"PolicyName": "pointer", "PolicyDocument": policy}],
                },
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.11",
                    "Handler": HANDLER,
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"ZipFile": "# the handler runs in-process from the repository"},
                },
            },
            pointer_id: {
                "Type": "Custom::ServingPointer",
                "Properties": {
                    "ServiceToken": {"Fn::GetAtt": ["Function", "Arn"]},
                    "ParameterName": NAME,
                    "InitialValue": initial,
                    "Description": description,
                    "DestroyOnStackDelete": "true",
                },
            },
        }
    }


def _value(aws: EmbeddedAws) -> str | None:
    try:
        return str(aws.client("ssm").get_parameter(Name=NAME)["Parameter"]["Value"])
    except ClientError:
        return None


def _status(aws: EmbeddedAws, stack_id: str) -> str:
    return str(aws.client("cloudformation").describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"])


def test_deletion_order_puts_dependents_first() -> None:
    resources = _template()["Resources"]
    order = deletion_order(resources)
    assert order.index("Pointer") < order.index("Function") < order.index("Role")


def test_a_pointer_is_created_once_kept_through_updates_and_renames_and_deleted_with_its_stack(
    aws: EmbeddedAws,
) -> None:
    cfn = aws.client("cloudformation")
    stack_id = cfn.create_stack(StackName="pointer", TemplateBody=json.dumps(_template()))["StackId"]
    assert _status(aws, stack_id) == "CREATE_COMPLETE"
    assert _value(aws) == "v0"
    [pointer] = [
        r
        for r in cfn.describe_stack_resources(StackName=stack_id)["StackResources"]
        if r["LogicalResourceId"] == "Pointer"
    ]
    assert pointer["PhysicalResourceId"] == NAME  # named by the parameter, not the construct
    aws.client("ssm").put_parameter(Name=NAME, Value="promoted", Type="String", Overwrite=True)

    # An Update request (changed starting point and description) writes nothing.
    cfn.update_stack(
        StackName=stack_id, TemplateBody=json.dumps(_template(initial="v2", description="second"))
    )
    assert _status(aws, stack_id) == "UPDATE_COMPLETE"
    assert _value(aws) == "promoted"
    # A renamed resource: the old one's Delete (the stack is not being deleted) keeps the parameter, the
    # new one's Create finds it and keeps its value.
    cfn.update_stack(
        StackName=stack_id, TemplateBody=json.dumps(_template(pointer_id="Renamed", initial="v3"))
    )
    assert _status(aws, stack_id) == "UPDATE_COMPLETE"
    assert _value(aws) == "promoted"

    # Stack deletion: the pointer's Delete runs before its function and role are deleted, sees
    # DELETE_IN_PROGRESS and deletes the parameter (DestroyOnStackDelete).
    cfn.delete_stack(StackName=stack_id)
    assert _status(aws, stack_id) == "DELETE_COMPLETE"
    assert _value(aws) is None


def test_a_failed_answer_fails_the_stack_operation_with_the_handlers_reason(aws: EmbeddedAws) -> None:
    template = _template()
    del template["Resources"]["Pointer"]["Properties"]["InitialValue"]
    with pytest.raises(ClientError, match="InitialValue"):
        aws.client("cloudformation").create_stack(StackName="failing", TemplateBody=json.dumps(template))


def test_a_non_empty_bucket_fails_the_stack_deletion_as_on_aws(aws: EmbeddedAws) -> None:
    cfn, s3 = aws.client("cloudformation"), aws.client("s3")
    template = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "kept-data"}}}
    }
    stack_id = cfn.create_stack(StackName="bucket", TemplateBody=json.dumps(template))["StackId"]
    s3.put_object(Bucket="kept-data", Key="a", Body=b"x")
    with pytest.raises(ClientError):
        cfn.delete_stack(StackName=stack_id)
    assert _status(aws, stack_id) == "DELETE_FAILED"
    assert "kept-data" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.delete_object(Bucket="kept-data", Key="a")
    cfn.delete_stack(StackName=stack_id)
    assert "kept-data" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
