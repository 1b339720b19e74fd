"""Fine-tune (DESIGN.md step 3): `createModelCustomizationJob.sync`, and the way back to a job that exists.

The create passes the job's deterministic name (naming.job_name: lineage, iteration, upload fingerprint)
as its ClientRequestToken, so a retried create normally gets back the job the first attempt started
(botocore's model: "If this token matches a previous request, Amazon Bedrock ignores the request, but does
not return an error"). When the create still meets `ConflictException` (the job exists but the token is not
recognised: a resumed round whose earlier attempt created the job, a token Bedrock no longer remembers),
the job is this round's own by its name: Fine-tune finds it with GetModelCustomizationJob and polls it
until it ends, instead of failing a round whose training is already paid for. A conflict on the custom
model's name with no such job is not found and goes to the failure path, like any other error.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.retries import add_retries

EXISTING_JOB_POLL_INTERVAL = cdk.Duration.minutes(1)
"""How often a found job is checked: a customization job trains for tens of minutes to hours."""
CONFLICT = "Bedrock.ConflictException"
_RUNNING = ("InProgress", "Stopping")


@dataclass(frozen=True)
class FineTune:
    """The Fine-tune task and the states that find and wait for an existing job of the same name."""

    task: sfn.CustomState
    find_job: sfn.CustomState
    job_done: sfn.Choice
    job_failed: sfn.Pass

    def connect(self, *, then: sfn.IChainable, on_failure: sfn.IChainable) -> None:
        """A found job that completes rejoins the flow at `then`; one that fails or stops, or a find that
        fails past its retries, goes to `on_failure` with `$.error` set (as the `.sync` task's own)."""
        self.job_done.when(sfn.Condition.string_equals("$.job.Status", "Completed"), then)
        self.job_failed.next(on_failure)
        self.find_job.add_catch(on_failure, errors=[sfn.Errors.ALL], result_path="$.error")


def fine_tune(scope: Construct, *, role_arn: str, key_arn: str) -> FineTune:
    """The Fine-tune states; `FineTune.connect` wires where the recovery path rejoins and fails."""
    partition = cdk.Aws.PARTITION
    task = sfn.CustomState(
        scope,
        "Fine-tune candidate",
        state_json={
            "Type": "Task",
            "Resource": f"arn:{partition}:states:::bedrock:createModelCustomizationJob.sync",
            "Parameters": {
                "BaseModelIdentifier.$": "$.round.base_model",
                "CustomModelName.$": "$.round.custom_model_name",
                "JobName.$": "$.round.job_name",
                # The job's deterministic name is its idempotency token too: a retried Fine-tune
                # (after a 5xx on the create or on a status poll) gets back the job it started
                # and waits for it, instead of failing on the name or starting a second job.
                "ClientRequestToken.$": "$.round.job_name",
                "RoleArn": role_arn,
                "HyperParameters.$": "$.round.hyperparameters",
                "TrainingDataConfig": {"S3Uri.$": "$.validation.training_data_uri"},
                "OutputDataConfig": {"S3Uri.$": "$.round.output_uri"},
                "CustomModelKmsKeyId": key_arn,
            },
            "ResultPath": "$.job",
        },
    )
    add_retries(task, "fine_tune")
    find_job = sfn.CustomState(
        scope,
        "Find existing job",
        state_json={
            "Type": "Task",
            "Resource": f"arn:{partition}:states:::aws-sdk:bedrock:getModelCustomizationJob",
            "Parameters": {"JobIdentifier.$": "$.round.job_name"},
            "ResultPath": "$.job",
        },
    )
    add_retries(find_job, "find_fine_tune_job")
    # Caught before the step's catch-all (added later by the workflow): catchers match in order.
    task.add_catch(find_job, errors=[CONFLICT], result_path="$.fine_tune_conflict")
    job_done = sfn.Choice(scope, "Existing job done?")
    wait = sfn.Wait(scope, "Wait for existing job", time=sfn.WaitTime.duration(EXISTING_JOB_POLL_INTERVAL))
    job_failed = sfn.Pass(
        scope,
        "Existing job failed",
        parameters={
            "Error": "States.TaskFailed",  # what the .sync task reports for a Failed or Stopped job
            "Cause": sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.job")),
        },
        result_path="$.error",
    )
    find_job.next(job_done)
    job_done.when(
        sfn.Condition.or_(*(sfn.Condition.string_equals("$.job.Status", status) for status in _RUNNING)), wait
    )
    job_done.otherwise(job_failed)
    wait.next(find_job)
    return FineTune(task=task, find_job=find_job, job_done=job_done, job_failed=job_failed)
