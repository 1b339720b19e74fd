"""The stack's CloudFormation custom resources, served by one function (stacks/stack_resources.py).

`Custom::ServingPointer`: a lineage's serving pointer (an SSM parameter) that CloudFormation creates
once and never writes again. Create puts the starting point with `Overwrite: false` (a parameter that
already exists, from an earlier deployment or construct, keeps its value: it is the lineage's state);
Update writes nothing; Delete deletes the parameter only when the stack itself is being deleted and the
stack sets `retention.destroy_data_on_delete`. A pointer resource removed by an update (a renamed
construct, a lineage taken out of the config) leaves the parameter: `iterft retire` deletes it.

`Custom::DataTeardown` (throwaway stacks only): when the stack is deleted, before its buckets are,
deletes every lineage's serving capacity (as the registry records it) and every object version of the
buckets, so that CloudFormation can delete them (it refuses a bucket that is not empty).

`Custom::InvocationLogging` (a config with `invocation_logs.enable_if_absent`): Create and Update read the
region's model invocation logging configuration and put one delivering to the data bucket only when there
is none; an existing configuration is never overwritten (`iterft doctor` says where it delivers). Delete
leaves logging as it is.

Both tell a stack deletion from an update by asking CloudFormation for the stack's status: the Delete
of a resource that an update removed or replaced must not destroy what the stack still uses.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from iterft_runtime import naming
from iterft_runtime.dal import bedrock, invocation_logging
from iterft_runtime.dal.clients import client, error_code
from iterft_runtime.dal.registry import Registry
from iterft_runtime.models.capacity import Capacity

logger = Logger()

STACK_DELETING = frozenset({"DELETE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"})
"""The stack is going away (deleted, or its first creation rolled back): nothing of it stays in use."""


def handler(event: dict[str, Any], context: Any) -> None:
    """Do the request and always answer CloudFormation (an unanswered request hangs the stack for an hour)."""
    physical_id = str(event.get("PhysicalResourceId") or event["LogicalResourceId"])
    try:
        physical_id = _handle(event)
    except Exception as error:  # answered as FAILED, with the reason CloudFormation shows
        logger.exception("custom resource request failed")
        _respond(event, "FAILED", physical_id, f"{type(error).__name__}: {error}")
        return
    _respond(event, "SUCCESS", physical_id, "")


def _handle(event: Mapping[str, Any]) -> str:
    kind, request = str(event["ResourceType"]), str(event["RequestType"])
    properties = event.get("ResourceProperties", {})
    if kind == naming.SERVING_POINTER_RESOURCE:
        return _serving_pointer(event, request, properties)
    if kind == naming.DATA_TEARDOWN_RESOURCE:
        if request == "Delete" and _stack_deleting(event) and _flag(properties, "DestroyOnStackDelete"):
            _tear_down(properties)
        return str(event.get("PhysicalResourceId") or f"{event['LogicalResourceId']}-teardown")
    if kind == naming.INVOCATION_LOGGING_RESOURCE:
        if request in ("Create", "Update"):
            outcome = invocation_logging.enable_if_absent(
                str(properties["BucketName"]), str(properties["KeyPrefix"])
            )
            logger.info("invocation logging", extra={"outcome": outcome})
        # Delete leaves logging as it is: other applications of the account may rely on it by then.
        return str(event.get("PhysicalResourceId") or f"{event['LogicalResourceId']}-invocation-logging")
    raise ValueError(f"unknown custom resource type {kind}")


def _serving_pointer(event: Mapping[str, Any], request: str, properties: Mapping[str, Any]) -> str:
    name = str(properties["ParameterName"])
    if request in ("Create", "Update"):
        if request == "Update" and event.get("PhysicalResourceId") == name:
            return name  # the pointer exists: only a promotion or a rollback moves it
        created = create_pointer(
            name, str(properties["InitialValue"]), str(properties.get("Description", ""))
        )
        logger.info("serving pointer", extra={"parameter": name, "newly_created": created})
        return name
    physical_id = str(event["PhysicalResourceId"])
    if _flag(properties, "DestroyOnStackDelete") and _stack_deleting(event):
        _delete_parameter(physical_id)
    return physical_id


def create_pointer(name: str, value: str, description: str) -> bool:
    """Put the pointer unless it exists; False when it did (its value is kept)."""
    try:
        client("ssm").put_parameter(
            Name=name, Value=value, Type="String", Overwrite=False, Description=description[:1024]
        )
    except ClientError as error:
        if error_code(error) == "ParameterAlreadyExists":
            return False
        raise
    return True


def _delete_parameter(name: str) -> None:
    try:
        client("ssm").delete_parameter(Name=name)
    except ClientError as error:
        if error_code(error) != "ParameterNotFound":
            raise


def _flag(properties: Mapping[str, Any], name: str) -> bool:
    """CloudFormation passes every property value as a string."""
    return str(properties.get(name, "false")).lower() == "true"


def _stack_deleting(event: Mapping[str, Any]) -> bool:
    stacks = client("cloudformation").describe_stacks(StackName=str(event["StackId"]))["Stacks"]
    return bool(stacks) and str(stacks[0]["StackStatus"]) in STACK_DELETING


def _tear_down(properties: Mapping[str, Any]) -> None:
    """Serving capacity first (it is billed by the hour), then the buckets' object versions."""
    registry = Registry(str(properties["RegistryTable"]))
    for lineage in properties.get("Lineages", []):
        state = registry.get_state(str(lineage))
        if state is not None and state.serving_capacity:
            capacity = Capacity.from_dict(state.serving_capacity)
            deleted = bedrock.delete_capacity(capacity.kind, capacity.arn)
            logger.info("serving capacity deleted", extra={"lineage": lineage, "deleted": deleted})
    for bucket in properties.get("Buckets", []):
        _empty_bucket(str(bucket))


def _empty_bucket(bucket: str) -> None:
    s3 = client("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        if versions:
            s3.delete_objects(
                Bucket=bucket,
                Delete={
                    "Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions],
                    "Quiet": True,
                },
            )
    logger.info("bucket emptied", extra={"bucket": bucket})


def _respond(event: Mapping[str, Any], status: str, physical_id: str, reason: str) -> None:
    """PUT the outcome to the pre-signed ResponseURL, as cfn-response does."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or f"see the function's log stream for request {event.get('RequestId')}",
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": {},
        }
    ).encode()
    request = urllib.request.Request(
        str(event["ResponseURL"]), data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
