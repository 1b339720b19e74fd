"""Which deployment the operator side talks to: a stack's outputs, read from CloudFormation.

The same lookup serves a real account and the embedded default (whose endpoint is given
with --endpoint-url or AWS_ENDPOINT_URL), so every command has one code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.exceptions import BotoCoreError, ClientError

# boto3 and botocore are imported where they are used: the CLI imports this module for TargetError,
# and its commands that read no deployment (validate, --help) should not pay for the AWS SDK.


class TargetError(RuntimeError):
    """The deployment cannot be found or read; the message says what to check."""


_CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "AuthFailure",
}


def describe_aws_error(error: BotoCoreError | ClientError) -> str:
    """One line an operator can act on, for the errors every command can meet (credentials, region,
    endpoint, permissions); anything else is AWS's own message."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        SSOError,
        TokenRetrievalError,
    )

    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return "no AWS credentials found: set AWS_PROFILE (or run `aws configure`) and retry"
    if isinstance(error, TokenRetrievalError | SSOError):
        return "AWS credentials expired (SSO session): run `aws sso login` and retry"
    if isinstance(error, NoRegionError):
        return "no AWS region configured: pass --region or set AWS_REGION"
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach {error.kwargs.get('endpoint_url', 'the AWS endpoint')}: check --endpoint-url"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in _CREDENTIAL_CODES:
            return (
                f"AWS credentials expired or invalid ({code}): refresh them (e.g. `aws sso login`) and retry"
            )
        if code in ("AccessDenied", "AccessDeniedException"):
            return f"access denied: {message}"
        return f"{error.operation_name} failed ({code}): {message}"
    return str(error)


@dataclass(frozen=True)
class Deployment:
    """The stack outputs every operator command needs."""

    stack_name: str
    region: str | None
    endpoint_url: str | None
    table_name: str
    bucket_name: str
    state_machine_arn: str
    topic_arn: str
    trigger_queue_url: str
    """Where `iterft resume` sends its dispatch request (the upload queue the trigger Lambda reads)."""
    reconciler_function: str | None = None
    """What `iterft repair` invokes (None: a stack deployed before the reconciler existed)."""

    def client(self, service: str) -> Any:
        import boto3

        # boto3-stubs type one overload per service name literal; any name boto3 knows is fine here.
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]  # any service name


def resolve(stack_name: str, region: str | None = None, endpoint_url: str | None = None) -> Deployment:
    """Read the stack's outputs; a missing stack or output is a TargetError naming it."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        cloudformation = boto3.client("cloudformation", region_name=region, endpoint_url=endpoint_url)
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in error.response.get("Error", {}).get("Message", ""):
            where = region or cloudformation.meta.region_name
            raise TargetError(
                f"no stack {stack_name!r} found in {where}: check --env/--stack and --region "
                f"(deploy it with `make deploy ENV=...`)"
            ) from None
        raise TargetError(f"cannot read stack {stack_name!r}: {describe_aws_error(error)}") from None
    except BotoCoreError as error:
        raise TargetError(f"cannot read stack {stack_name!r}: {describe_aws_error(error)}") from None
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    try:
        return Deployment(
            stack_name=stack_name,
            region=region,
            endpoint_url=endpoint_url,
            table_name=outputs["RegistryTableName"],
            bucket_name=outputs["DataBucketName"],
            state_machine_arn=outputs["StateMachineArn"],
            topic_arn=outputs["TopicArn"],
            trigger_queue_url=outputs["TriggerQueueUrl"],
            reconciler_function=outputs.get("ReconcilerFunctionName"),
        )
    except KeyError as missing:
        raise TargetError(f"stack {stack_name!r} has no output {missing}: is it an iterft stack?") from None
