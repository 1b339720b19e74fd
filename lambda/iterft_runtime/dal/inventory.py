"""What the reconciler reads besides the registry, and the one message it sends.

Bedrock's lists of custom models, deployments and provisioned throughput (the plan picks the stack's own
by name), the status of the execution holding a lock, the serving pointers, the deployed lineages; and
the dispatch request a finished round would have sent.
"""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from iterft_runtime.dal.clients import client, error_code
from iterft_runtime.logic.dispatch import timestamp
from iterft_runtime.logic.reconcile import NOT_FOUND, ExecutionStatus, Inventory, ListedCapacity, ListedModel
from iterft_runtime.models.capacity import CapacityKind
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.messages import DISPATCH_KIND


def bedrock_inventory() -> Inventory:
    """Every custom model, custom model deployment and provisioned throughput of the account and region."""
    bedrock = client("bedrock")
    models = [
        ListedModel(str(item["modelName"]), str(item["modelArn"]))
        for page in bedrock.get_paginator("list_custom_models").paginate()
        for item in page.get("modelSummaries", [])
    ]
    deployments = [
        ListedCapacity(
            CapacityKind.DEPLOYMENT,
            str(item["customModelDeploymentName"]),
            str(item["customModelDeploymentArn"]),
            item.get("modelArn"),
        )
        for page in bedrock.get_paginator("list_custom_model_deployments").paginate()
        for item in page.get("modelDeploymentSummaries", [])
    ]
    throughputs = [
        ListedCapacity(
            CapacityKind.PROVISIONED,
            str(item["provisionedModelName"]),
            str(item["provisionedModelArn"]),
            item.get("modelArn"),
        )
        for page in bedrock.get_paginator("list_provisioned_model_throughputs").paginate()
        for item in page.get("provisionedModelSummaries", [])
    ]
    return Inventory(models=models, capacities=deployments + throughputs)


def execution_status(execution_arn: str) -> ExecutionStatus:
    """RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED (with when it stopped), or NOT_FOUND."""
    try:
        response = client("stepfunctions").describe_execution(executionArn=execution_arn)
    except ClientError as error:
        if error_code(error) == "ExecutionDoesNotExist":
            return ExecutionStatus(NOT_FOUND)
        raise
    stopped = response.get("stopDate")
    return ExecutionStatus(str(response["status"]), timestamp(stopped) if stopped else None)


def serving_pointers(prefix: str) -> dict[str, str]:
    """Each lineage's serving pointer value, by lineage name (one GetParametersByPath, paged)."""
    paginator = client("ssm").get_paginator("get_parameters_by_path")
    return {
        str(parameter["Name"])[len(prefix) :]: str(parameter["Value"])
        for page in paginator.paginate(Path=prefix.rstrip("/"))
        for parameter in page.get("Parameters", [])
    }


def deployed_lineages(prefix: str) -> dict[str, LineageConfig]:
    """The stack's lineages, from their config parameters (one GetParametersByPath, paged)."""
    paginator = client("ssm").get_paginator("get_parameters_by_path")
    configs = [
        LineageConfig.model_validate_json(str(parameter["Value"]))
        for page in paginator.paginate(Path=prefix.rstrip("/"))
        for parameter in page.get("Parameters", [])
    ]
    return {config.name: config for config in configs}


def request_dispatch(queue_url: str, lineage: str) -> None:
    """What Finish's last step sends: the trigger starts the lineage's next queued upload if it is idle."""
    client("sqs").send_message(
        QueueUrl=queue_url, MessageBody=json.dumps({"kind": DISPATCH_KIND, "lineage": lineage})
    )
