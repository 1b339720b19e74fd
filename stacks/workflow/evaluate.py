"""Steps 5-6 of the round: evaluation capacity, then the candidate scored on the lineage's fixed set."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.workflow.poll import lambda_poll, until_serving
from stacks.workflow.shards import score_shards, score_shards_distributed
from stacks.workflow.steps import Fragment, Steps, catch_failures

EVALUATION_JOB_POLL_INTERVAL = cdk.Duration.minutes(1)
EVALUATION_JOB_MAX_POLLS = 360
"""Six hours for a Bedrock evaluation job (at most 1,000 prompts per model): a job still running then
is stopped by Clean up, and the round fails rather than waiting on it forever. (No events: polled.)"""


class Evaluate(Fragment):
    """Plan evaluation -> Provision evaluation capacity -> (poll until it serves) -> Score shards
    (inline or distributed) -> Aggregate evaluation.

    Plan says which set version and whether the champion answers too; the candidate (and a champion
    with nothing serving it) is made invocable the cheapest way its model allows; the shards are
    scored in parallel (bounded, throttling retried with backoff); Aggregate computes the metrics.
    Lineages with `evaluation.managed_job`: Bedrock's evaluation jobs score the same set, a programmatic
    one while the shards are scored, a judged one the shards' answers after them, and Aggregate
    evaluation waits for them (`ManagedEvaluation`).
    """

    def __init__(
        self, scope: Construct, construct_id: str, steps: Steps, *, on_failure: sfn.IChainable
    ) -> None:
        super().__init__(scope, construct_id)
        plan = steps.invoke(self, "Plan evaluation", "plan_evaluation", "$.evaluation_plan")
        provision = steps.invoke(self, "Provision evaluation capacity", "provision_capacity", "$.capacity")
        distributed = sfn.Choice(self, "Distributed evaluation?")
        inline_shards = score_shards(self, steps)
        distributed_shards = score_shards_distributed(self, steps)
        aggregate = steps.invoke(self, "Aggregate evaluation", "aggregate_evaluation", "$.evaluation")
        score: sfn.IChainable = distributed
        scored: sfn.IChainable = aggregate
        if steps.has_managed_jobs:
            managed = ManagedEvaluation(
                self, steps, score=distributed, aggregate=aggregate, on_failure=on_failure
            )
            score, scored = managed.before, managed.after
        capacity_serves = until_serving(
            self, "evaluation capacity", steps, "$.capacity.evaluation", then=score, on_failure=on_failure
        )

        plan.next(provision).next(capacity_serves)
        distributed.when(
            sfn.Condition.number_greater_than(
                "$.evaluation_plan.shard_count", steps.config.evaluation.distributed_above_shards
            ),
            distributed_shards,
        )
        distributed.otherwise(inline_shards)
        distributed_shards.next(scored)
        inline_shards.next(scored)
        catch_failures([plan, provision, inline_shards, distributed_shards, aggregate], on_failure)
        self._entered_at(plan, aggregate)


class ManagedEvaluation:
    """A lineage's Bedrock evaluation jobs (the candidate's; the champion's when it is scored again),
    awaited before Aggregate evaluation (`after`, entered instead of `aggregate`). A programmatic job
    invokes the models, so it starts before the shards are scored (`before`, entered instead of `score`)
    and runs beside them; a judged job (`managed_job.evaluator_model`) grades the answers the shards
    collected, so it starts after them. Lineages without a managed job pass straight through."""

    def __init__(
        self,
        scope: Construct,
        steps: Steps,
        *,
        score: sfn.IChainable,
        aggregate: sfn.IChainable,
        on_failure: sfn.IChainable,
    ) -> None:
        managed_job = "$.lineage.evaluation.managed_job"
        evaluator = f"{managed_job}.evaluator_model"
        has_job = [sfn.Condition.is_present(managed_job), sfn.Condition.is_not_null(managed_job)]
        has_evaluator = sfn.Condition.and_(
            sfn.Condition.is_present(evaluator), sfn.Condition.is_not_null(evaluator)
        )
        self.before = sfn.Choice(scope, "Managed evaluation?")
        start = steps.invoke(
            scope, "Start managed evaluation", "start_managed_evaluation", "$.managed_evaluation"
        )
        start_judged = steps.invoke(
            scope, "Start judged evaluation", "start_managed_evaluation", "$.managed_evaluation"
        )
        catch_failures([start, start_judged], on_failure)
        self.before.when(sfn.Condition.and_(*has_job, sfn.Condition.not_(has_evaluator)), start)
        self.before.otherwise(score)
        start.next(score)

        jobs_complete = lambda_poll(
            scope,
            "managed evaluation",
            steps,
            "managed_evaluation_status",
            {"job_arns": sfn.JsonPath.list_at("$.managed_evaluation.job_arns")},
            result="$.evaluation_job_check",
            errors=("EvaluationJobFailed", "EvaluationJobTimeout"),
            interval=EVALUATION_JOB_POLL_INTERVAL,
            max_polls=EVALUATION_JOB_MAX_POLLS,
            waiting_for="complete",
            then=aggregate,
            on_failure=on_failure,
        )
        start_judged.next(jobs_complete)
        self.after = sfn.Choice(scope, "Managed evaluation started?")
        self.after.when(sfn.Condition.is_present("$.managed_evaluation"), jobs_complete)
        self.after.when(sfn.Condition.and_(*has_job, has_evaluator), start_judged)
        self.after.otherwise(aggregate)
