"""Start managed evaluation: Bedrock's evaluation jobs score the planned set too (lineages with
`evaluation.managed_job`). Result at `$.managed_evaluation`.

A programmatic job (accuracy, robustness, toxicity) starts once the evaluation capacity serves and
before the shards are scored, so the jobs and the Map work at the same time; it reads a copy of exactly
the planned set version (its own S3 object, in Bedrock's dataset shape) and invokes the models. A judged
job (`managed_job.evaluator_model`) starts after the shards: it grades the answers they collected, each
model's in its own dataset (`<role>-answers.jsonl`, the set's records with `modelResponses`), named as
its precomputed inference source, so the evaluation capacity can be anything (an on-demand deployment).

An automated job evaluates a single model: one job for the candidate, and one for the champion when the
plan has it answer again. Their names, from Begin, double as client request tokens: a retried start
returns the same jobs, and Clean up can find them by name.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal import bedrock, storage
from iterft_runtime.dal.evaluation_sets import shard_rows
from iterft_runtime.handlers import settings
from iterft_runtime.logic.evaluation import EvaluationSetError, collect_answers, parse_evaluation_set
from iterft_runtime.logic.managed_evaluation import (
    ManagedEvaluationError,
    dataset_records,
    inference_source,
    job_request,
    judged_job_request,
    precomputed_records,
)
from iterft_runtime.logic.serving import capacity_tags
from iterft_runtime.models.capacity import CapacityRole
from iterft_runtime.models.steps import (
    ManagedEvaluationJob,
    ManagedEvaluationResult,
    RoundState,
    dump,
    required,
)

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    lineage, iteration = doc.lineage, doc.iteration
    managed = lineage.evaluation.managed_job
    if managed is None:
        raise ManagedEvaluationError(f"{lineage.name} has no evaluation.managed_job")
    plan, begun = required(doc.evaluation_plan, "evaluation_plan"), required(doc.round, "round")
    bucket = settings.bucket_name()
    output_uri = storage.s3_uri(bucket, naming.managed_evaluation_output_prefix(lineage.name, iteration))
    job_names = {
        CapacityRole.CANDIDATE: begun.candidate_evaluation_job_name,
        CapacityRole.CHAMPION: begun.champion_evaluation_job_name,
    }
    jobs = []
    if managed.judged:
        collected = collect_answers(shard_rows(bucket, lineage.name, iteration, plan.shard_count))
        if len(collected.items) != plan.records:
            raise ManagedEvaluationError(
                f"the shards hold {len(collected.items)} of {plan.records} evaluation records"
            )
        answers = {CapacityRole.CANDIDATE: collected.candidate}
        if collected.champion is not None:
            answers[CapacityRole.CHAMPION] = collected.champion
        for role, given in answers.items():
            job_name = job_names[role]
            source = inference_source(job_name)
            dataset_uri = storage.put_jsonl(
                bucket,
                naming.precomputed_answers_key(lineage.name, iteration, role.value),
                precomputed_records(collected.items, given, source),
            )
            request = judged_job_request(
                job_name=job_name,
                role_arn=settings.evaluation_role_arn(),
                key_arn=settings.key_arn(),
                dataset_uri=dataset_uri,
                output_uri=output_uri,
                managed=managed,
                source=source,
                tags=capacity_tags(lineage.name, iteration, role),
            )
            jobs.append(_start(role, job_name, request, model=source))
    else:
        capacity = required(doc.capacity, "capacity")
        dataset_uri = _planned_dataset(doc, bucket)
        models = {CapacityRole.CANDIDATE: capacity.candidate_model}
        if capacity.champion_model:
            models[CapacityRole.CHAMPION] = capacity.champion_model
        for role, model in models.items():
            request = job_request(
                job_name=job_names[role],
                role_arn=settings.evaluation_role_arn(),
                key_arn=settings.key_arn(),
                dataset_uri=dataset_uri,
                output_uri=output_uri,
                metrics=managed.metrics,
                model=model,
                max_tokens=lineage.evaluation.max_answer_tokens,
                tags=capacity_tags(lineage.name, iteration, role),
            )
            jobs.append(_start(role, job_names[role], request, model=model))
    result = dump(
        ManagedEvaluationResult(output_uri=output_uri, jobs=jobs, job_arns=[job.job_arn for job in jobs])
    )
    logger.info(
        "managed evaluation started", extra={"lineage": lineage.name, "iteration": iteration, **result}
    )
    return result


def _start(role: CapacityRole, job_name: str, request: dict[str, Any], *, model: str) -> ManagedEvaluationJob:
    with bedrock.throttling_retried(f"evaluation job {job_name}"):
        job_arn = bedrock.create_evaluation_job(request)
    return ManagedEvaluationJob(role=role.value, job_name=job_name, job_arn=job_arn, model=model)


def _planned_dataset(doc: RoundState, bucket: str) -> str:
    """A copy of exactly the planned set version, in Bedrock's prompt dataset shape: its S3 URI."""
    lineage, plan = doc.lineage, required(doc.evaluation_plan, "evaluation_plan")
    set_key, planned = naming.evaluation_set_key(lineage.name), plan.eval_set_object
    evaluation_set = parse_evaluation_set(
        storage.iter_chunks(bucket, set_key, planned.version_id, etag=planned.etag),
        storage.s3_uri(bucket, set_key),
    )
    if evaluation_set.version != plan.eval_set_version:
        raise EvaluationSetError(
            f"{storage.s3_uri(bucket, set_key)} reads as version {evaluation_set.version}, "
            f"not the planned {plan.eval_set_version}"
        )
    return storage.put_jsonl(
        bucket,
        naming.managed_evaluation_dataset_key(lineage.name, doc.iteration),
        dataset_records(evaluation_set.items),
    )
