"""Custom model deployments and provisioned throughput (`bedrock.capacity`)."""

from __future__ import annotations

import pytest
from bedrock_support import (
    MISSING_CUSTOM_MODEL,
    NOVA,
    REGION,
    ROUND_1,
    ROUND_2,
    Lineage,
    answer,
    ask,
    error_code,
)
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID

from iterft.local.bedrock import BedrockStandIn
from iterft.local.standin_model import FALLBACK_ANSWER

# Custom models and deployments ------------------------------------------------------------------


def test_deployment_lifecycle(lineage: Lineage) -> None:
    first = lineage.fine_tune("support-it0001", ROUND_1)["outputModelArn"]
    second = lineage.fine_tune("support-it0002", ROUND_2, base=first)["outputModelArn"]
    created = lineage.bedrock.create_custom_model_deployment(
        modelDeploymentName="support-serving", modelArn=first, description="serving"
    )
    arn = created["customModelDeploymentArn"]
    assert arn.startswith(f"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT_ID}:custom-model-deployment/")
    assert len(arn.rsplit("/", 1)[1]) == 12
    with pytest.raises(ClientError) as error:
        ask(lineage.runtime, arn, "How do I reset my password?")
    assert error_code(error) == "ValidationException"  # not Active yet

    assert [lineage.deployment(arn)["status"] for _ in range(2)] == ["Creating", "Active"]
    by_name = lineage.deployment("support-serving")
    assert (by_name["customModelDeploymentArn"], by_name["modelArn"]) == (arn, first)
    assert by_name["description"] == "serving"
    assert answer(lineage.runtime, arn, "How do I share a folder?") == FALLBACK_ANSWER

    with pytest.raises(ClientError) as error:
        lineage.bedrock.create_custom_model_deployment(modelDeploymentName="support-serving", modelArn=second)
    assert error_code(error) == "ConflictException"
    with pytest.raises(ClientError) as error:
        lineage.bedrock.create_custom_model_deployment(modelDeploymentName="x", modelArn=MISSING_CUSTOM_MODEL)
    assert error_code(error) == "ResourceNotFoundException"

    lineage.bedrock.update_custom_model_deployment(customModelDeploymentIdentifier=arn, modelArn=second)
    updating = lineage.deployment(arn)
    assert updating["updateDetails"] == {"modelArn": second, "updateStatus": "Updating"}
    assert updating["modelArn"] == first
    done = lineage.deployment(arn)
    assert (done["modelArn"], done["updateDetails"]["updateStatus"]) == (second, "UpdateCompleted")
    assert done["status"] == "Active"
    assert answer(lineage.runtime, arn, "How do I share a folder?") == ROUND_2[2][1]

    listed = lineage.bedrock.list_custom_model_deployments(modelArnEquals=second)["modelDeploymentSummaries"]
    assert [(item["customModelDeploymentName"], item["status"]) for item in listed] == [
        ("support-serving", "Active")
    ]

    with pytest.raises(ClientError) as error:
        lineage.bedrock.delete_custom_model(modelIdentifier=second)
    assert error_code(error) == "ConflictException"
    lineage.bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=arn)
    with pytest.raises(ClientError) as error:
        ask(lineage.runtime, arn, "How do I share a folder?")
    assert error_code(error) == "ResourceNotFoundException"
    lineage.bedrock.delete_custom_model(modelIdentifier=second)
    with pytest.raises(ClientError) as error:
        lineage.bedrock.get_custom_model(modelIdentifier=second)
    assert error_code(error) == "ResourceNotFoundException"


def test_provisioned_throughput_lifecycle(lineage: Lineage) -> None:
    first = lineage.fine_tune("support-it0001", ROUND_1)["outputModelArn"]
    second = lineage.fine_tune("support-it0002", ROUND_2, base=first)["outputModelArn"]
    created = lineage.bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="support-pt", modelId=first
    )
    arn = created["provisionedModelArn"]
    assert arn.startswith(f"arn:aws:bedrock:{REGION}:{DEFAULT_ACCOUNT_ID}:provisioned-model/")
    assert [lineage.throughput(arn)["status"] for _ in range(2)] == ["Creating", "InService"]
    assert (
        lineage.throughput("support-pt")["foundationModelArn"]
        == f"arn:aws:bedrock:{REGION}::foundation-model/{NOVA}"
    )
    assert answer(lineage.runtime, arn, "How do I reset my password?") == ROUND_1[0][1]

    lineage.bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=second)
    updating = lineage.throughput(arn)
    assert (updating["status"], updating["modelArn"], updating["desiredModelArn"]) == (
        "Updating",
        first,
        second,
    )
    assert lineage.throughput(arn)["modelArn"] == second
    assert answer(lineage.runtime, arn, "How do I share a folder?") == ROUND_2[2][1]
    listed = lineage.bedrock.list_provisioned_model_throughputs(statusEquals="InService")
    assert [item["provisionedModelArn"] for item in listed["provisionedModelSummaries"]] == [arn]

    committed = lineage.bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="committed", modelId=first, commitmentDuration="OneMonth"
    )
    with pytest.raises(ClientError) as error:
        lineage.bedrock.delete_provisioned_model_throughput(
            provisionedModelId=committed["provisionedModelArn"]
        )
    assert "commitment" in error.value.response["Error"]["Message"]
    lineage.bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    with pytest.raises(ClientError) as error:
        lineage.throughput(arn)
    assert error_code(error) == "ResourceNotFoundException"


def test_capacity_can_be_made_to_fail_or_stay_creating(lineage: Lineage, standin: BedrockStandIn) -> None:
    model = lineage.fine_tune("support-it0001", ROUND_1)["outputModelArn"]
    standin.fail_next_capacity("doomed", "Insufficient capacity")
    deployment = lineage.bedrock.create_custom_model_deployment(
        modelDeploymentName="doomed-dep", modelArn=model
    )
    arn = deployment["customModelDeploymentArn"]
    assert [lineage.deployment(arn)["status"] for _ in range(2)] == ["Creating", "Failed"]
    assert lineage.deployment(arn)["failureMessage"] == "Insufficient capacity"
    standin.fail_next_capacity("doomed", "No model units")
    throughput = lineage.bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="doomed-pt", modelId=model
    )["provisionedModelArn"]
    assert [lineage.throughput(throughput)["status"] for _ in range(2)] == ["Creating", "Failed"]
    assert lineage.throughput(throughput)["failureMessage"] == "No model units"
    # Each failure is used once: the next one with a matching name comes into service.
    healthy = lineage.bedrock.create_custom_model_deployment(modelDeploymentName="doomed-2", modelArn=model)
    assert [lineage.deployment(healthy["customModelDeploymentArn"])["status"] for _ in range(2)] == [
        "Creating",
        "Active",
    ]

    standin.set_deployment_polls_creating(3)
    slow = lineage.bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="slow-pt", modelId=model
    )["provisionedModelArn"]
    assert [lineage.throughput(slow)["status"] for _ in range(4)] == ["Creating"] * 3 + ["InService"]
