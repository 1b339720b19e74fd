"""What a deployment serves and what it leaves running: the demo's `summary.json`, and the check that
nothing billable exists beyond each lineage's serving capacity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from iterft.history import lineage_status


def serving_summary(
    statuses: Sequence[dict[str, Any]], inventory: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Per lineage: the champion, the serving mode and identifier; and every provisioned throughput and
    custom model deployment that exists (`bedrock_inventory`), as listed from Bedrock."""
    return {
        "lineages": {
            status["lineage"]: {
                "champion_iteration": status["champion_iteration"],
                "champion_model": status["champion_model"],
                "champion_score": status["champion_score"],
                "serving_mode": status["serving_mode"],
                "serving_model_id": status["serving_model_id"],
                "serving_pointer": status["serving_pointer"],
            }
            for status in statuses
        },
        "bedrock_inventory": list(inventory),
    }


def left_behind(statuses: Sequence[dict[str, Any]], inventory: Sequence[dict[str, Any]]) -> list[str]:
    """Capacity that exists but is no lineage's serving capacity (what would be billed for nothing)."""
    serving = {status["serving_model_id"] for status in statuses if status["serving_model_id"]}
    return [
        f"{item['kind']} {item['name']} ({item['arn']})" for item in inventory if item["arn"] not in serving
    ]


def bedrock_inventory(bedrock: Any) -> list[dict[str, Any]]:
    """Every provisioned throughput and custom model deployment that exists, as Bedrock lists them
    (what is billed by the hour or could be invoked): `{kind, name, arn, model_arn, status}`; and
    every evaluation job still running (InProgress or Stopping, billed for its inference):
    `{kind: "evaluation_job", name, arn, status}`. `bedrock` is a boto3 Bedrock client."""
    throughputs = [
        {
            "kind": "provisioned",
            "name": item["provisionedModelName"],
            "arn": item["provisionedModelArn"],
            "model_arn": item["modelArn"],
            "status": item["status"],
            "model_units": item["modelUnits"],
        }
        for page in bedrock.get_paginator("list_provisioned_model_throughputs").paginate()
        for item in page["provisionedModelSummaries"]
    ]
    deployments = [
        {
            "kind": "deployment",
            "name": item["customModelDeploymentName"],
            "arn": item["customModelDeploymentArn"],
            "model_arn": item["modelArn"],
            "status": item["status"],
        }
        for page in bedrock.get_paginator("list_custom_model_deployments").paginate()
        for item in page["modelDeploymentSummaries"]
    ]
    evaluations = [
        {
            "kind": "evaluation_job",
            "name": item["jobName"],
            "arn": item["jobArn"],
            "status": item["status"],
        }
        for page in bedrock.get_paginator("list_evaluation_jobs").paginate()
        for item in page["jobSummaries"]
        if item["status"] in ("InProgress", "Stopping")
    ]
    return sorted(throughputs + deployments + evaluations, key=lambda item: (item["kind"], item["name"]))


def deployment_summary(session: Any) -> tuple[dict[str, Any], list[str]]:
    """The summary and the leftovers of a LocalSession's deployment (all its lineages)."""
    statuses = lineage_status(session.deployment)
    inventory = session.bedrock_inventory()
    return serving_summary(statuses, inventory), left_behind(statuses, inventory)
