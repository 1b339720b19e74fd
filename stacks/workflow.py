"""The round workflow: the step Lambdas and the Standard state machine that runs one iteration.

`_definition` reads top to bottom like the flow in README.md ("The flow"); docs/architecture.md lists each
state's input and result path. Every task from Validate through Promote/Discard catches
`States.ALL` into `$.error` and takes the failure path: clean up, then finish. Every Lambda step retries
Lambda's service errors and throttling with jittered backoff (stacks/retries.py).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from iterft_runtime import naming
from iterft_runtime.logic.dispatch import ROLLBACK_KIND
from iterft_runtime.models.families import invocable_foundation_model_id, is_custom_model_arn

from stacks.bedrock_role import BedrockCustomizationRole
from stacks.config import DeploymentConfig
from stacks.evaluation_role import MANAGED_EVALUATION_OBJECTS, BedrockEvaluationRole
from stacks.fine_tune import FineTune, fine_tune
from stacks.functions import RuntimePackage, log_group
from stacks.notifications import Notifications
from stacks.registry import Registry
from stacks.retries import lambda_step
from stacks.serving import ServingPointers
from stacks.storage import Storage, grant_key_use
from stacks.trigger import UploadQueue

SHORT_TIMEOUT = cdk.Duration.minutes(1)
LONG_TIMEOUT = cdk.Duration.minutes(15)
"""Validate reads a whole dataset; the evaluation steps read the set and call Bedrock per record."""
LONG_RUNNING_STEPS = (
    "validate",
    "plan_evaluation",
    "score_shard",
    "start_managed_evaluation",
    "aggregate_evaluation",
)
CAPACITY_POLL_INTERVAL = cdk.Duration.seconds(30)
CAPACITY_MAX_POLLS = 120
"""An hour of polling: capacity still not serving then is treated as failed (and deleted), so a stuck
deployment or throughput can neither loop until the execution's history limit nor keep the lineage
locked. (Bedrock sends no events for deployments or provisioned throughput: they must be polled.)"""
EVALUATION_JOB_POLL_INTERVAL = cdk.Duration.minutes(1)
EVALUATION_JOB_MAX_POLLS = 360
"""Six hours for a Bedrock evaluation job (at most 1,000 prompts per model): a job still running then
is stopped by Clean up, and the round fails rather than waiting on it forever. (No events: polled.)"""

CAPACITY_DELETE = ("bedrock:DeleteCustomModelDeployment", "bedrock:DeleteProvisionedModelThroughput")


@jsii.implements(sfn.IItemReader)
class ShardListReader:
    """The Distributed Map's items: the JSON array at the key `key_path` names in the data bucket.

    sfn.S3JsonItemReader would do, but grants s3:GetObject on the whole bucket; this one grants only
    the shard lists, evaluations/<lineage>/<iteration>/shard-list.json (and decrypts through S3).
    """

    def __init__(self, bucket: s3.IBucket, key_path: str) -> None:
        self._bucket, self._key_path = bucket, key_path

    @property
    def bucket(self) -> s3.IBucket:
        return self._bucket

    @property
    def bucket_name_path(self) -> str | None:
        return None

    @property
    def resource(self) -> str:
        return f"arn:{cdk.Aws.PARTITION}:states:::s3:getObject"

    @property
    def max_items(self) -> int | None:
        return None

    def render(self, query_language: sfn.QueryLanguage | None = None) -> Any:
        return {
            "Resource": self.resource,
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": self._bucket.bucket_name, "Key.$": self._key_path},
        }

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self._bucket.arn_for_objects(shard_lists_pattern())],
            )
        ]

    def validate_item_reader(self) -> list[str]:
        return []


def shard_lists_pattern() -> str:
    """Every round's shard list key, as an S3 object ARN pattern."""
    return f"{naming.EVALUATION_RESULTS_PREFIX}*/{naming.SHARD_LIST_NAME}"


class Workflow(Construct):
    """Step functions, their permissions, and the state machine that chains them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        runtime: RuntimePackage,
        storage: Storage,
        registry: Registry,
        notifications: Notifications,
        bedrock_role: BedrockCustomizationRole,
        upload_queue: UploadQueue,
        serving_pointers: ServingPointers,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._serving_pointers = serving_pointers
        self._storage = storage
        self._bedrock_role = bedrock_role
        self._upload_queue = upload_queue
        stack = cdk.Stack.of(self)
        self.job_arns = stack.format_arn(
            service="bedrock", resource="model-customization-job", resource_name="*"
        )
        self.custom_model_arns = stack.format_arn(
            service="bedrock", resource="custom-model", resource_name="*"
        )
        self.deployment_arns = stack.format_arn(
            service="bedrock", resource="custom-model-deployment", resource_name="*"
        )
        self.throughput_arns = stack.format_arn(
            service="bedrock", resource="provisioned-model", resource_name="*"
        )
        # Bedrock's evaluation jobs: only in a stack where some lineage has `evaluation.managed_job`.
        self.evaluation_role = (
            BedrockEvaluationRole(
                self, "BedrockEvaluation", storage=storage, models=self._managed_job_models()
            )
            if self._has_managed_jobs
            else None
        )

        functions_scope = Construct(self, "Functions")
        self.functions: dict[str, lambda_.Function] = {
            step: runtime.function(
                functions_scope,
                step,
                timeout=LONG_TIMEOUT if step in LONG_RUNNING_STEPS else SHORT_TIMEOUT,
                extra_environment=self._extra_environment(step),
            )
            for step in naming.STEPS
            if step not in naming.OUTSIDE_WORKFLOW_STEPS
            and (self._has_managed_jobs or step not in naming.MANAGED_EVALUATION_STEPS)
        }
        self._grant_functions(registry, notifications)
        if self.evaluation_role is not None:
            self._grant_managed_evaluation(self.evaluation_role)

        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(self._definition()),
            logs=sfn.LogOptions(
                destination=log_group(self, "StateMachineLogs", config.retention),
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
            tracing_enabled=True,
            comment="One iterft round: validate, fine-tune, evaluate, decide, promote or discard, finish",
        )
        self._grant_state_machine()

    # The flow -------------------------------------------------------------------------------

    def _definition(self) -> sfn.IChainable:
        """The states in the order of README.md's flow (numbered as there), then how they connect."""
        # Any failure: clean up what the round created, then finish like any other round.
        clean_up = self._invoke("Clean up failed round", "clean_up", "$.outcome")
        # 0. A rollback (`iterft rollback`) skips training and evaluation: it swaps an earlier promoted
        #    iteration's model back in through the promotion's own steps (8).
        is_rollback = sfn.Choice(self, "Rollback?")
        begin_rollback = self._invoke("Begin rollback", "begin_rollback", "$")
        # 1. Validate the dataset and the upload's hyperparameter overrides; a bad upload goes straight
        #    to Finish: invalid_data for the file, rejected for out-of-range overrides.
        validate = self._invoke("Validate dataset", "validate", "$.validation")
        dataset_valid = sfn.Choice(self, "Dataset valid?")
        mark_invalid = sfn.Pass(
            self,
            "Mark invalid",
            parameters={
                "decision": sfn.JsonPath.string_at("$.validation.decision"),
                "reason": sfn.JsonPath.string_at("$.validation.reason"),
            },
            result_path="$.outcome",
        )
        # 2. Begin: parent, names and hyperparameters of this iteration.
        begin = self._invoke("Begin iteration", "begin", "$.round")
        # 3. Fine-tune (.sync: no transitions spent while the job trains).
        fine_tune_states = self._fine_tune()
        fine_tune = fine_tune_states.task
        # 4. Collect training metrics.
        collect_metrics = self._invoke("Collect training metrics", "collect_metrics", "$.training")
        # 5. Evaluate on the lineage's fixed evaluation set: plan it (which set version; must the
        #    champion answer too?), make the candidate (and a champion with nothing serving it)
        #    invocable the cheapest way its model allows, wait until that capacity serves, score the
        #    shards in parallel (bounded, throttling retried with backoff), aggregate the metrics.
        plan_evaluation = self._invoke("Plan evaluation", "plan_evaluation", "$.evaluation_plan")
        provision = self._invoke("Provision evaluation capacity", "provision_capacity", "$.capacity")
        score_shards = self._score_shards()
        score_shards_distributed = self._score_shards_distributed()
        choose_map = sfn.Choice(self, "Distributed evaluation?")
        aggregate_evaluation = self._invoke("Aggregate evaluation", "aggregate_evaluation", "$.evaluation")
        # 6 (continued). Lineages with `evaluation.managed_job`: Bedrock's evaluation jobs score the same
        #    set while the shards are scored; Aggregate evaluation waits for them and adds their metrics.
        score, scored = choose_map, aggregate_evaluation
        if self._has_managed_jobs:
            score, scored = self._managed_evaluation(choose_map, aggregate_evaluation, clean_up)
        wait_for_evaluation_capacity = self._wait_until_serving(
            "evaluation capacity", "$.capacity.evaluation", then=score, otherwise=clean_up
        )
        # 7. Decide.
        decide = self._invoke("Decide", "decide", "$.decision")
        # 7b. Human approval (lineages with approval.required): the trigger records the task token on the
        #     iteration and notifies; `iterft approve/reject` answer it; silence is a rejection.
        wait_for_approval = self._wait_for_approval()
        approved = sfn.Choice(self, "Approved?")
        reviewer_rejected = self._rejected_after_review(
            "Reviewer rejected",
            sfn.JsonPath.format(
                "rejected by reviewer {}: {}",
                sfn.JsonPath.string_at("$.approval.reviewer"),
                sfn.JsonPath.string_at("$.approval.reason"),
            ),
        )
        approval_timed_out = self._rejected_after_review(
            "Approval timed out",
            sfn.JsonPath.format(
                "rejected: no review within {} second(s); {}",
                sfn.JsonPath.string_at("$.decision.approval_timeout_seconds"),
                sfn.JsonPath.string_at("$.decision.reason"),
            ),
        )
        # 8. Promote: swap the candidate into the serving capacity in place, wait until it serves,
        #    then move the registry and the pointer. Or discard: delete the evaluation capacity.
        promote_or_discard = sfn.Choice(self, "Promote?")
        prepare_promotion = sfn.Pass(
            self,
            "Prepare promotion",
            parameters={
                "model_arn": sfn.JsonPath.string_at("$.training.output_model_arn"),
                "score": sfn.JsonPath.number_at("$.evaluation.candidate_score"),
                "metrics": sfn.JsonPath.object_at("$.evaluation.candidate_metrics"),
                "eval_set_version": sfn.JsonPath.string_at("$.evaluation.eval_set_version"),
                "metric": sfn.JsonPath.string_at("$.evaluation.metric"),
                "decision": "promoted",
            },
            result_path="$.promotion",
        )
        swap_serving = self._invoke("Swap serving model", "swap_serving", "$.swap")
        promote = self._invoke("Promote candidate", "promote", "$.promoted")
        wait_for_serving = self._wait_until_serving(
            "serving capacity", "$.swap.targets", then=promote, otherwise=clean_up
        )
        discard = self._invoke("Discard candidate", "release_capacity", sfn.JsonPath.DISCARD)
        record_outcome = sfn.Pass(
            self,
            "Record outcome",
            parameters={
                "decision": sfn.JsonPath.string_at("$.decision.decision"),
                "reason": sfn.JsonPath.string_at("$.decision.reason"),
            },
            result_path="$.outcome",
        )
        # Every round ends here: delete custom models beyond the lineage's retention (best effort).
        retain = self._invoke("Apply retention", "retain_models", "$.retention")
        # 9. Finish: record, unlock, notify; then ask the trigger to start the next queued upload.
        # Finish holds the lineage's lock until it succeeds, and it is safe to repeat: any error is
        # retried (stacks/retries.py), so a passing fault cannot leave the lineage locked.
        finish = self._invoke("Finish iteration", "finish", "$.finish")
        start_next = tasks.SqsSendMessage(
            self,
            "Start next queued upload",
            queue=self._upload_queue.queue,
            message_body=sfn.TaskInput.from_object(
                {"kind": "dispatch", "lineage": sfn.JsonPath.string_at("$.lineage.name")}
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        start_next.add_retry(
            errors=[sfn.Errors.TASKS_FAILED], interval=cdk.Duration.seconds(2), max_attempts=3
        )
        round_failed = sfn.Choice(self, "Round failed?")
        failed = sfn.Fail(self, "Round failed", error="RoundFailed", cause_path="$.outcome.reason")
        succeeded = sfn.Succeed(self, "Round complete")

        is_rollback.when(sfn.Condition.string_equals("$.kind", ROLLBACK_KIND), begin_rollback)
        is_rollback.otherwise(validate)
        begin_rollback.next(swap_serving)
        validate.next(dataset_valid)
        dataset_valid.when(sfn.Condition.boolean_equals("$.validation.valid", False), mark_invalid)
        dataset_valid.otherwise(begin)
        mark_invalid.next(retain)
        begin.next(fine_tune).next(collect_metrics).next(plan_evaluation).next(provision)
        fine_tune_states.connect(then=collect_metrics, on_failure=clean_up)
        provision.next(wait_for_evaluation_capacity)
        choose_map.when(
            sfn.Condition.number_greater_than(
                "$.evaluation_plan.shard_count", self._config.evaluation.distributed_above_shards
            ),
            score_shards_distributed,
        )
        choose_map.otherwise(score_shards)
        score_shards_distributed.next(scored)
        score_shards.next(scored)
        aggregate_evaluation.next(decide).next(promote_or_discard)
        promote_or_discard.when(
            sfn.Condition.and_(
                sfn.Condition.boolean_equals("$.decision.promote", True),
                sfn.Condition.boolean_equals("$.decision.approval_required", True),
            ),
            wait_for_approval,
        )
        promote_or_discard.when(sfn.Condition.boolean_equals("$.decision.promote", True), prepare_promotion)
        promote_or_discard.otherwise(discard)
        wait_for_approval.next(approved)
        approved.when(sfn.Condition.boolean_equals("$.approval.approved", True), prepare_promotion)
        approved.otherwise(reviewer_rejected)
        reviewer_rejected.next(discard)
        approval_timed_out.next(discard)
        wait_for_approval.add_catch(approval_timed_out, errors=[sfn.Errors.TIMEOUT], result_path="$.approval")
        prepare_promotion.next(swap_serving).next(wait_for_serving)
        promote.next(record_outcome)
        discard.next(record_outcome)
        record_outcome.next(retain)
        clean_up.next(retain)
        retain.next(finish)
        retain.add_catch(finish, errors=[sfn.Errors.ALL], result_path="$.retention")
        finish.next(start_next).next(round_failed)
        round_failed.when(sfn.Condition.string_equals("$.outcome.decision", "failed"), failed)
        round_failed.otherwise(succeeded)

        failure_path_from: list[tasks.LambdaInvoke | sfn.CustomState | sfn.MapBase | tasks.SqsSendMessage] = [
            begin_rollback, validate, begin, fine_tune, collect_metrics, plan_evaluation, provision,
            score_shards, score_shards_distributed, aggregate_evaluation, decide, wait_for_approval,
            swap_serving, promote, discard,
        ]  # fmt: skip
        for step in failure_path_from:
            step.add_catch(clean_up, errors=[sfn.Errors.ALL], result_path="$.error")
        return is_rollback

    def _score_shards(self) -> sfn.Map:
        """An inline Map over the plan's inline shard list, `evaluation.concurrency` at a time; each
        Score shard writes its answers to S3 (the Map's own result is discarded: 256 KiB would not hold
        them). For plans up to `evaluation.distributed_above_shards` shards."""
        score_shards = sfn.Map(
            self,
            "Score shards",
            items_path="$.evaluation_plan.shards",
            item_selector=self._shard_selector(),
            max_concurrency=self._config.evaluation.concurrency,
            result_path=sfn.JsonPath.DISCARD,
        )
        score_shards.item_processor(self._score_shard("Score shard"))
        return score_shards

    def _score_shards_distributed(self) -> sfn.DistributedMap:
        """A Distributed Map over the plan's shard list in S3 (`shard_list_key`): each shard runs in a
        child execution with its own history, so a set of any size fits. Same selector, same step and
        retry, same concurrency as the inline Map; the result is discarded here too."""
        score_shards = sfn.DistributedMap(
            self,
            "Score shards (distributed)",
            item_reader=ShardListReader(self._storage.data_bucket, "$.evaluation_plan.shard_list_key"),
            item_selector=self._shard_selector(),
            max_concurrency=self._config.evaluation.concurrency,
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_path=sfn.JsonPath.DISCARD,
        )
        score_shards.item_processor(self._score_shard("Score shard (distributed)"))
        return score_shards

    @staticmethod
    def _shard_selector() -> dict[str, object]:
        """What one Score shard gets: the round's identity, both models, the pinned set, its shard."""
        return {
            "lineage": sfn.JsonPath.object_at("$.lineage"),
            "iteration": sfn.JsonPath.number_at("$.iteration"),
            "candidate_model": sfn.JsonPath.string_at("$.capacity.candidate_model"),
            "champion_model": sfn.JsonPath.string_at("$.capacity.champion_model"),
            "eval_set_object": sfn.JsonPath.object_at("$.evaluation_plan.eval_set_object"),
            "shard": sfn.JsonPath.object_at("$$.Map.Item.Value"),
        }

    def _score_shard(self, name: str) -> tasks.LambdaInvoke:
        """Score shard; throttling (`BedrockThrottled`) is retried with exponential backoff and jitter,
        so a burst against a per-model quota slows the evaluation down instead of failing the round.

        Each iteration outputs only its shard's index: the Map gathers every iteration's output before
        discarding it, and that array must stay within 256 KiB (the input, with the lineage's config,
        would not for thousands of shards)."""
        score_shard = lambda_step(
            self,
            name,
            self.functions["score_shard"],
            "score_shard",
            result_path=sfn.JsonPath.DISCARD,
            output_path="$.shard.index",
        )
        return score_shard

    def _wait_until_serving(
        self, label: str, capacities: str, *, then: sfn.IChainable, otherwise: sfn.IChainable
    ) -> sfn.Pass:
        """Check the capacities at `capacities` until each serves its model: then `then`. Failed, or
        not serving after CAPACITY_MAX_POLLS checks, puts `$.error` and goes to `otherwise`."""
        return self._poll(
            label,
            "capacity_status",
            {"capacities": sfn.JsonPath.list_at(capacities)},
            then=then,
            otherwise=otherwise,
            result="$.capacity_check",
            errors=("CapacityFailed", "CapacityTimeout"),
            interval=CAPACITY_POLL_INTERVAL,
            max_polls=CAPACITY_MAX_POLLS,
            waiting_for="serving",
        )

    def _managed_evaluation(
        self, score: sfn.IChainable, aggregate: sfn.IChainable, clean_up: sfn.IChainable
    ) -> tuple[sfn.Choice, sfn.Choice]:
        """Start a lineage's Bedrock evaluation jobs (the candidate's; the champion's when it is scored
        again) before the shards are scored, and wait for them after: (the state to enter before
        scoring, the state to enter after it)."""
        managed_job = "$.lineage.evaluation.managed_job"
        has_managed_job = sfn.Choice(self, "Managed evaluation?")
        start = self._invoke("Start managed evaluation", "start_managed_evaluation", "$.managed_evaluation")
        start.add_catch(clean_up, errors=[sfn.Errors.ALL], result_path="$.error")
        has_managed_job.when(
            sfn.Condition.and_(sfn.Condition.is_present(managed_job), sfn.Condition.is_not_null(managed_job)),
            start,
        )
        has_managed_job.otherwise(score)
        start.next(score)

        wait = self._poll(
            "managed evaluation",
            "managed_evaluation_status",
            {"job_arns": sfn.JsonPath.list_at("$.managed_evaluation.job_arns")},
            then=aggregate,
            otherwise=clean_up,
            result="$.evaluation_job_check",
            errors=("EvaluationJobFailed", "EvaluationJobTimeout"),
            interval=EVALUATION_JOB_POLL_INTERVAL,
            max_polls=EVALUATION_JOB_MAX_POLLS,
            waiting_for="complete",
        )
        started = sfn.Choice(self, "Managed evaluation started?")
        started.when(sfn.Condition.is_present("$.managed_evaluation"), wait)
        started.otherwise(aggregate)
        return has_managed_job, started

    def _poll(
        self,
        label: str,
        step: str,
        payload: dict[str, Any],
        *,
        then: sfn.IChainable,
        otherwise: sfn.IChainable,
        result: str,
        errors: tuple[str, str],
        interval: cdk.Duration,
        max_polls: int,
        waiting_for: str,
    ) -> sfn.Pass:
        """Run `Check <label>` (Lambda `step` with `payload`, answering `{ready, failed, reason}` at
        `result`) until ready: then `then`. Failed, or not ready after `max_polls` checks, puts
        `$.error` (`errors`: the failed and the timed-out error names) and goes to `otherwise`.

        Checks first, waits after: what is already done (an adopted capacity) costs no wait.
        """
        title = label[0].upper() + label[1:]
        failed_error, timeout_error = errors
        check = lambda_step(
            self,
            f"Check {label}",
            self.functions[step],
            step,
            payload=sfn.TaskInput.from_object(payload),
            result_path=result,
        )
        start = sfn.Pass(
            self,
            f"Start {label} polls",
            result=sfn.Result.from_object({"polls": 0}),
            result_path="$.polls",
        )
        check.add_catch(otherwise, errors=[sfn.Errors.ALL], result_path="$.error")
        ready = sfn.Choice(self, f"{title} ready?")
        failed = sfn.Pass(
            self,
            f"{title} failed",
            parameters={"Error": failed_error, "Cause": sfn.JsonPath.string_at(f"{result}.reason")},
            result_path="$.error",
        )
        timed_out = sfn.Pass(
            self,
            f"{title} timed out",
            parameters={
                "Error": timeout_error,
                "Cause": sfn.JsonPath.format(
                    f"not {waiting_for} after {max_polls} checks {interval.to_seconds()} s apart: {{}}",
                    sfn.JsonPath.string_at(f"{result}.reason"),
                ),
            },
            result_path="$.error",
        )
        count = sfn.Pass(
            self,
            f"Count {label} poll",
            parameters={"polls": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.polls.polls"), 1)},
            result_path="$.polls",
        )
        wait = sfn.Wait(self, f"Wait for {label}", time=sfn.WaitTime.duration(interval))

        start.next(check).next(ready)
        ready.when(sfn.Condition.boolean_equals(f"{result}.ready", True), then)
        ready.when(sfn.Condition.boolean_equals(f"{result}.failed", True), failed)
        ready.when(sfn.Condition.number_greater_than_equals("$.polls.polls", max_polls), timed_out)
        ready.otherwise(count)
        count.next(wait).next(check)
        failed.next(otherwise)
        timed_out.next(otherwise)
        return start

    def _wait_for_approval(self) -> tasks.SqsSendMessage:
        """Send the task token to the trigger (which records it and notifies) and wait for the answer.

        Times out after the lineage's `approval.timeout_hours` (Decide passes it on in whole seconds).
        """
        return tasks.SqsSendMessage(
            self,
            "Wait for approval",
            queue=self._upload_queue.queue,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            message_body=sfn.TaskInput.from_object(
                {
                    "kind": "approval",
                    "lineage": sfn.JsonPath.string_at("$.lineage.name"),
                    "iteration": sfn.JsonPath.number_at("$.iteration"),
                    "task_token": sfn.JsonPath.task_token,
                    "reason": sfn.JsonPath.string_at("$.decision.reason"),
                }
            ),
            task_timeout=sfn.Timeout.at("$.decision.approval_timeout_seconds"),
            result_path="$.approval",
        )

    def _rejected_after_review(self, name: str, reason: str) -> sfn.Pass:
        """A gate-passing candidate turned down by a reviewer or by silence: `$.decision` says rejected."""
        return sfn.Pass(
            self,
            name,
            parameters={
                "promote": False,
                "decision": "rejected",
                "reason": reason,
                "improvement": sfn.JsonPath.number_at("$.decision.improvement"),
                "deltas": sfn.JsonPath.object_at("$.decision.deltas"),
                "gate": sfn.JsonPath.list_at("$.decision.gate"),
                "approval_required": True,
                "approval_timeout_seconds": sfn.JsonPath.number_at("$.decision.approval_timeout_seconds"),
            },
            result_path="$.decision",
        )

    def _invoke(self, name: str, step: str, result_path: str) -> tasks.LambdaInvoke:
        """A Lambda step returning its handler's result (Lambda's service errors and throttling retried)."""
        return lambda_step(self, name, self.functions[step], step, result_path=result_path)

    def _fine_tune(self) -> FineTune:
        """`createModelCustomizationJob.sync` (stacks/fine_tune.py): Step Functions waits for the job.

        A CustomState, not tasks.BedrockCreateModelCustomizationJob, which drops `.sync` and needs the
        base model at synth (here it is the champion, known only at run time).
        """
        return fine_tune(self, role_arn=self._bedrock_role.role.role_arn, key_arn=self._storage.key.key_arn)

    # Permissions ----------------------------------------------------------------------------

    def _grant_functions(self, registry: Registry, notifications: Notifications) -> None:
        storage, fns = self._storage, self.functions
        # Decide is pure logic over its input; Clean up reads the lineage's state and updates the
        # iteration (the model of a job that completed while the round failed).
        for step in ("begin", "collect_metrics", "aggregate_evaluation", "promote", "finish"):
            registry.grant_read_write(fns[step])
        for step in ("clean_up", "plan_evaluation"):
            registry.grant_read(fns[step])
        registry.grant_update_items(fns["clean_up"])

        storage.grant_copy(
            fns["validate"], naming.INCOMING_PREFIX, naming.VALIDATED_PREFIX, naming.QUARANTINE_PREFIX
        )
        storage.grant_read(fns["validate"], naming.EVALUATION_SET_PREFIX)  # the yardstick exists

        storage.grant_read(fns["collect_metrics"], naming.JOB_OUTPUT_PREFIX)
        self._allow(fns["collect_metrics"], ["bedrock:GetModelCustomizationJob"], [self.job_arns])

        storage.grant_read(fns["plan_evaluation"], naming.EVALUATION_SET_PREFIX)
        storage.grant_write(fns["plan_evaluation"], naming.EVALUATION_RESULTS_PREFIX)  # the shard list
        storage.grant_read(fns["score_shard"], naming.EVALUATION_SET_PREFIX)
        storage.grant_write(fns["score_shard"], naming.EVALUATION_RESULTS_PREFIX)
        self._allow(fns["score_shard"], ["bedrock:InvokeModel"], self._evaluation_models())
        judges = self._judge_models()
        if judges:  # the judge metric's models, and no other foundation model
            self._allow(fns["score_shard"], ["bedrock:InvokeModel"], judges)
        grant_key_use(storage.key, fns["score_shard"], ["kms:Decrypt"], "bedrock")
        storage.grant_read(fns["aggregate_evaluation"], naming.EVALUATION_RESULTS_PREFIX)
        storage.grant_write(fns["aggregate_evaluation"], naming.EVALUATION_RESULTS_PREFIX)

        # Capacity: evaluation deployments / throughputs and the lineage's serving one.
        capacity = [self.deployment_arns, self.throughput_arns]
        create = ["bedrock:CreateCustomModelDeployment", "bedrock:CreateProvisionedModelThroughput"]
        get = ["bedrock:GetCustomModelDeployment", "bedrock:GetProvisionedModelThroughput"]
        update = ["bedrock:UpdateCustomModelDeployment", "bedrock:UpdateProvisionedModelThroughput"]
        delete = list(CAPACITY_DELETE)
        for step in ("provision_capacity", "swap_serving"):
            # Creating names the custom model it serves; tagging on creation needs TagResource.
            self._allow(fns[step], create, [*capacity, self.custom_model_arns])
            self._allow(fns[step], ["bedrock:TagResource"], capacity)
            grant_key_use(
                storage.key, fns[step], ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"], "bedrock"
            )
        registry.grant_read(fns["swap_serving"])
        registry.grant_read(fns["begin_rollback"])
        self._allow(fns["swap_serving"], [*get, *update], [*capacity, self.custom_model_arns])
        self._allow(fns["capacity_status"], get, capacity)
        self.grant_delete_capacity(fns["promote"])
        for step in ("promote", "clean_up"):  # Clean up: after a promotion that committed
            fns[step].add_to_role_policy(
                iam.PolicyStatement(
                    actions=["ssm:PutParameter"], resources=[self._serving_pointers.parameter_arns]
                )
            )
        self.grant_delete_capacity(fns["release_capacity"])
        self._allow(
            fns["clean_up"],
            ["bedrock:GetModelCustomizationJob", "bedrock:StopModelCustomizationJob"],
            [self.job_arns],
        )
        self._allow(fns["clean_up"], [*get, *delete, *update], [*capacity, self.custom_model_arns])
        registry.grant_read_write(fns["retain_models"])
        self.grant_delete_models(fns["retain_models"])

        notifications.grant_publish(fns["finish"])

    def grant_delete_capacity(self, grantee: iam.IGrantable) -> None:
        """Delete custom model deployments and provisioned throughput (ARNs Bedrock assigns at run time):
        what Promote, Discard and the reconciler delete."""
        self._allow(grantee, list(CAPACITY_DELETE), [self.deployment_arns, self.throughput_arns])

    def grant_delete_models(self, grantee: iam.IGrantable) -> None:
        """Delete the account's custom models (created by rounds at run time): retention, the reconciler."""
        self._allow(grantee, ["bedrock:DeleteCustomModel"], [self.custom_model_arns])

    @property
    def _has_managed_jobs(self) -> bool:
        return any(lineage.evaluation.managed_job is not None for lineage in self._config.lineages)

    def _extra_environment(self, step: str) -> dict[str, str]:
        """Start managed evaluation names the role its jobs run as and the key their results use."""
        if step != "start_managed_evaluation" or self.evaluation_role is None:
            return {}
        return {
            naming.ENV_EVALUATION_ROLE_ARN: self.evaluation_role.role.role_arn,
            naming.ENV_KEY_ARN: self._storage.key.key_arn,
        }

    def _managed_job_models(self) -> list[str]:
        """What Bedrock's evaluation jobs may invoke: evaluation capacity (provisioned throughput; the
        only kind a managed-job lineage has) and the starting points they score as the champion."""
        return [self.throughput_arns, *self._managed_job_starting_points()]

    def _managed_job_starting_points(self) -> list[str]:
        """Each managed-job lineage's foundation model or `evaluation_invoke_model`, once each."""
        models = []
        for lineage in self._config.lineages:
            if lineage.evaluation.managed_job is None:
                continue
            if lineage.evaluation_invoke_model:
                models.append(self._invocable_arn(lineage.evaluation_invoke_model))
            elif not is_custom_model_arn(lineage.base_model):
                models.append(self._foundation_model_arn(invocable_foundation_model_id(lineage.base_model)))
        return list(dict.fromkeys(models))

    def _grant_managed_evaluation(self, evaluation_role: BedrockEvaluationRole) -> None:
        """Start (with the role passed to Bedrock only), check and stop the rounds' evaluation jobs."""
        storage, fns, jobs = self._storage, self.functions, evaluation_role.job_arns
        start = fns["start_managed_evaluation"]
        storage.grant_read(start, naming.EVALUATION_SET_PREFIX)
        start.add_to_role_policy(  # the round's prompt dataset, and nothing else under evaluations/
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[storage.data_bucket.arn_for_objects(f"{MANAGED_EVALUATION_OBJECTS}dataset.jsonl")],
            )
        )
        # IAM authorizes CreateEvaluationJob against the models a job evaluates (the Service Authorization
        # Reference lists custom-model and foundation-model, not evaluation-job): a candidate's provisioned
        # throughput counts as the custom model it serves; a starting point as itself. Tags: on the job.
        evaluated = [self.custom_model_arns, *self._managed_job_starting_points()]
        self._allow(start, ["bedrock:CreateEvaluationJob"], evaluated)
        self._allow(start, ["bedrock:TagResource"], [jobs])
        # The jobs encrypt their data with the stack key (customerEncryptionKeyId): Bedrock's documented
        # caller permissions, through Bedrock and S3 (it keeps a temporary copy in its own S3 location).
        grant_key_use(
            storage.key, start, ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"], "bedrock", "s3"
        )
        start.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[evaluation_role.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
            )
        )
        self._allow(fns["managed_evaluation_status"], ["bedrock:GetEvaluationJob"], [jobs])
        self._allow(fns["clean_up"], ["bedrock:StopEvaluationJob"], [jobs])
        # Clean up finds a job whose ARN never reached the state by its name; List takes no resource.
        self._allow(fns["clean_up"], ["bedrock:ListEvaluationJobs"], ["*"])

    def _evaluation_models(self) -> list[str]:
        """What Score shard may invoke: each starting point's on-demand id, evaluation capacity."""
        models = [self.deployment_arns, self.throughput_arns]
        for lineage in self._config.lineages:
            if not is_custom_model_arn(lineage.base_model):
                models.append(self._foundation_model_arn(invocable_foundation_model_id(lineage.base_model)))
            if lineage.evaluation_invoke_model:
                models.append(self._invocable_arn(lineage.evaluation_invoke_model))
        return list(dict.fromkeys(models))

    def _judge_models(self) -> list[str]:
        """The foundation model ARN of each lineage's judge (`evaluation.judge.model`), once each."""
        return list(
            dict.fromkeys(
                self._foundation_model_arn(lineage.evaluation.judge.model)
                for lineage in self._config.lineages
                if lineage.evaluation.judge is not None
            )
        )

    def _grant_state_machine(self) -> None:
        """The fine-tune step's permissions (CustomState grants nothing by itself); tasks grant the rest."""
        base_models = dict.fromkeys(
            self._foundation_model_arn(lineage.base_model)
            for lineage in self._config.lineages
            if not is_custom_model_arn(lineage.base_model)
        )
        self._allow(
            self.state_machine,
            ["bedrock:CreateModelCustomizationJob"],
            [*base_models, self.custom_model_arns, self.job_arns],
        )
        self._allow(
            self.state_machine,
            ["bedrock:GetModelCustomizationJob", "bedrock:StopModelCustomizationJob"],
            [self.job_arns],
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self._bedrock_role.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
            )
        )
        # Score shards (distributed) reads the round's shard list (ShardListReader grants the GetObject).
        grant_key_use(self._storage.key, self.state_machine, ["kms:Decrypt"], "s3")
        # The custom model is encrypted with the stack key; Bedrock uses it on the caller's behalf.
        grant_key_use(
            self._storage.key,
            self.state_machine,
            ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
            "bedrock",
        )

    def _invocable_arn(self, model: str) -> str:
        """`evaluation_invoke_model` as IAM names it: an ARN as it is, a model id as its foundation model."""
        return model if model.startswith("arn:") else self._foundation_model_arn(model)

    def _foundation_model_arn(self, model_id: str) -> str:
        return cdk.Stack.of(self).format_arn(
            service="bedrock", account="", resource="foundation-model", resource_name=model_id
        )

    @staticmethod
    def _allow(grantee: iam.IGrantable, actions: list[str], resources: list[str]) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=resources)
        )
