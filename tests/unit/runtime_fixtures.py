"""Fixtures for the Lambda runtime's tests, loaded with `pytest_plugins = ("runtime_fixtures",)`:
moto's in-process AWS holding the stack's resources (helpers and constants: runtime_support.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from aws_lambda_powertools.utilities import parameters
from iterft_runtime import naming
from iterft_runtime.dal.clients import reset_clients
from moto import mock_aws
from runtime_support import (
    ACCOUNT,
    BUCKET,
    LINEAGE_CONFIG,
    PARAMETER_PREFIX,
    REGION,
    SERVING_PREFIX,
    STACK_NAME,
    TABLE,
    Aws,
    aws_client,
)

from iterft.local.bedrock import install_bedrock_standin, uninstall_bedrock_standin


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """A fresh mocked account with the registry table, data bucket, topic, state machine and lineage."""
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": naming.POWERTOOLS_SERVICE,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    reset_clients()
    parameters.clear_caches()
    # These tests are written against moto's own Bedrock; an emulator test earlier in this process
    # may have installed the stand-in (process-wide), so it is set aside while they run.
    standin_was_installed = uninstall_bedrock_standin()
    try:
        yield from _mocked_account(monkeypatch)
    finally:
        if standin_was_installed:
            install_bedrock_standin()


def _mocked_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with mock_aws():
        aws_client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        s3 = aws_client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        sns, sqs = aws_client("sns"), aws_client("sqs")
        topic_arn = sns.create_topic(Name="iterft-test-notifications")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="notifications-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        state_machine_arn = aws_client("stepfunctions").create_state_machine(
            name="iterft-test-round",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/iterft-test-workflow",
        )["stateMachineArn"]
        for name, value in {
            naming.ENV_TABLE: TABLE,
            naming.ENV_BUCKET: BUCKET,
            naming.ENV_TOPIC_ARN: topic_arn,
            naming.ENV_STATE_MACHINE_ARN: state_machine_arn,
            naming.ENV_LINEAGE_PARAMETER_PREFIX: PARAMETER_PREFIX,
            naming.ENV_SERVING_PARAMETER_PREFIX: SERVING_PREFIX,
            naming.ENV_STACK_NAME: STACK_NAME,
        }.items():
            monkeypatch.setenv(name, value)
        env = Aws(TABLE, BUCKET, topic_arn, state_machine_arn, queue_url)
        env.put_lineage(LINEAGE_CONFIG)
        yield env
    parameters.clear_caches()
    reset_clients()
