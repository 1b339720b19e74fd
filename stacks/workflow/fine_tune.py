"""Fine-tune (DESIGN.md step 3): `createModelCustomizationJob.sync`, and the way back to a job that exists.

The create passes the job's deterministic name (naming.job_name: lineage, iteration, upload fingerprint)
as its ClientRequestToken, so a retried create normally gets back the job the first attempt started
(botocore's model: "If this token matches a previous request, Amazon Bedrock ignores the request, but does
not return an error"). When the create still meets `ConflictException` (the job exists but the token is not
recognised: a resumed round whose earlier attempt created the job, a token Bedrock no longer remembers),
the job is this round's own by its name: Fine-tune finds it with GetModelCustomizationJob and polls it
(one `Poll`, bounded like every wait of the round) until it ends, instead of failing a round whose
training is already paid for. A conflict on the custom model's name with no such job is not found and
goes to the failure path, like any other error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from iterft_runtime.models.capabilities import CustomizationType
from iterft_runtime.models.strategy import Strategy

from stacks.retries import add_retries
from stacks.workflow.poll import Poll

EXISTING_JOB_POLL_INTERVAL = cdk.Duration.minutes(10)
EXISTING_JOB_MAX_POLLS = 1008
"""A found job is checked every 10 minutes for up to 7 days: a customization job trains for tens of
minutes to hours, and each check costs about 11 history events, so a week of them stays well inside the
execution's 25,000-event limit. A job still training then fails the round, whose clean-up stops it."""
CONFLICT = "Bedrock.ConflictException"
_RUNNING = ("InProgress", "Stopping")
_OWN_TASKS = ((Strategy.DISTILLATION, "Distill candidate"), (Strategy.REINFORCEMENT, "Reinforce candidate"))
"""The strategies with a job task of their own: their customizationConfig and training data vary."""


@dataclass(frozen=True)
class Training:
    """The round's customization job: `start` (the job task, or the `Training strategy?` Choice between
    one task per strategy the stack's lineages use), and every task, for the flow's catch-all."""

    start: sfn.State
    tasks: tuple[sfn.CustomState, ...]


def _job_task(
    scope: Construct, name: str, strategy_parameters: dict[str, Any], *, role_arn: str, key_arn: str
) -> sfn.CustomState:
    """`createModelCustomizationJob.sync` with the round's names, role, output and key, plus what the
    strategy sends (customizationType and its configuration, hyperparameters, training data)."""
    task = sfn.CustomState(
        scope,
        name,
        state_json={
            "Type": "Task",
            "Resource": f"arn:{cdk.Aws.PARTITION}:states:::bedrock:createModelCustomizationJob.sync",
            "Parameters": {
                "BaseModelIdentifier.$": "$.round.base_model",
                "CustomModelName.$": "$.round.custom_model_name",
                "JobName.$": "$.round.job_name",
                # The job's deterministic name is its idempotency token too: a retried Fine-tune
                # (after a 5xx on the create or on a status poll) gets back the job it started
                # and waits for it, instead of failing on the name or starting a second job.
                "ClientRequestToken.$": "$.round.job_name",
                "RoleArn": role_arn,
                **strategy_parameters,
                "OutputDataConfig": {"S3Uri.$": "$.round.output_uri"},
                "CustomModelKmsKeyId": key_arn,
            },
            "ResultPath": "$.job",
        },
    )
    add_retries(task, "fine_tune")
    return task


def fine_tune(
    scope: Construct,
    *,
    role_arn: str,
    key_arn: str,
    strategies: frozenset[Strategy],
    then: sfn.IChainable,
    on_failure: sfn.IChainable,
) -> Training:
    """The customization job of the round's strategy. A job found after a conflict that completes rejoins
    the flow at `then`; one that fails or stops, or a find that fails past its retries, goes to
    `on_failure` with `$.error` set (as the `.sync` task's own).

    Fine-tuning and continued pre-training share `Fine-tune candidate` (customizationType from Begin);
    `Distill candidate` and `Reinforce candidate` exist only when some lineage configures them.
    """
    task = _job_task(
        scope,
        "Fine-tune candidate",
        {
            "CustomizationType.$": "$.round.customization_type",
            "HyperParameters.$": "$.round.hyperparameters",
            "TrainingDataConfig": {"S3Uri.$": "$.validation.training_data_uri"},
        },
        role_arn=role_arn,
        key_arn=key_arn,
    )
    by_type: dict[CustomizationType, sfn.CustomState] = {}
    for strategy, name in _OWN_TASKS:
        if strategy in strategies:
            by_type[strategy.customization_type] = _job_task(
                scope,
                name,
                {
                    "CustomizationType": strategy.customization_type.value,
                    "CustomizationConfig.$": "$.round.customization_config",
                    "TrainingDataConfig.$": "$.round.training_data_config",
                },
                role_arn=role_arn,
                key_arn=key_arn,
            )
    find_job = sfn.CustomState(
        scope,
        "Find existing job",
        state_json={
            "Type": "Task",
            "Resource": f"arn:{cdk.Aws.PARTITION}:states:::aws-sdk:bedrock:getModelCustomizationJob",
            "Parameters": {"JobIdentifier.$": "$.round.job_name"},
            "ResultPath": "$.job",
        },
    )
    add_retries(find_job, "find_fine_tune_job")
    existing_job = Poll(
        scope,
        "existing job",
        find_job,
        ready=sfn.Condition.string_equals("$.job.Status", "Completed"),
        failed=sfn.Condition.not_(
            sfn.Condition.or_(*(sfn.Condition.string_equals("$.job.Status", status) for status in _RUNNING))
        ),
        status="$.job.Status",
        # What the .sync task reports for a Failed or Stopped job.
        failed_cause=sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.job")),
        errors=("States.TaskFailed", "FineTuneTimeout"),
        interval=EXISTING_JOB_POLL_INTERVAL,
        max_polls=EXISTING_JOB_MAX_POLLS,
        waiting_for="done",
        then=then,
        on_failure=on_failure,
    )
    tasks = (task, *by_type.values())
    for job_task in tasks:
        # Caught before the step's catch-all (added later by the workflow): catchers match in order.
        job_task.add_catch(existing_job, errors=[CONFLICT], result_path="$.fine_tune_conflict")
        job_task.next(then)
    if not by_type:
        return Training(start=task, tasks=tasks)
    choose = sfn.Choice(scope, "Training strategy?")
    for kind, job_task in by_type.items():
        choose.when(sfn.Condition.string_equals("$.round.customization_type", kind.value), job_task)
    choose.otherwise(task)
    return Training(start=choose, tasks=tasks)
