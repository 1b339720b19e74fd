"""Start managed evaluation: Bedrock's evaluation jobs score the planned set too (lineages with
`evaluation.managed_job`). Result at `$.managed_evaluation`.

Runs once the evaluation capacity serves and before the shards are scored, so the jobs and the Map
work at the same time. The jobs read a copy of exactly the planned set version (its own S3 object,
in Bedrock's dataset shape). An automated job evaluates a single model: one job for the candidate's
provisioned throughput, and one for the champion when the plan has it answer again. Their names,
from Begin, double as client request tokens: a retried start returns the same jobs, and Clean up can
find them by name.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal import bedrock, storage
from iterft_runtime.handlers import settings
from iterft_runtime.logic.evaluation import EvaluationSetError, parse_evaluation_set
from iterft_runtime.logic.managed_evaluation import ManagedEvaluationError, dataset_records, job_request
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
    plan, capacity = required(doc.evaluation_plan, "evaluation_plan"), required(doc.capacity, "capacity")
    begun = required(doc.round, "round")
    bucket, set_key = settings.bucket_name(), naming.evaluation_set_key(lineage.name)
    planned = plan.eval_set_object
    evaluation_set = parse_evaluation_set(
        storage.iter_chunks(bucket, set_key, planned.version_id, etag=planned.etag),
        storage.s3_uri(bucket, set_key),
    )
    if evaluation_set.version != plan.eval_set_version:
        raise EvaluationSetError(
            f"{storage.s3_uri(bucket, set_key)} reads as version {evaluation_set.version}, "
            f"not the planned {plan.eval_set_version}"
        )
    dataset_uri = storage.put_jsonl(
        bucket,
        naming.managed_evaluation_dataset_key(lineage.name, iteration),
        dataset_records(evaluation_set.items),
    )
    models = {CapacityRole.CANDIDATE: capacity.candidate_model}
    if capacity.champion_model:
        models[CapacityRole.CHAMPION] = capacity.champion_model
    output_uri = storage.s3_uri(bucket, naming.managed_evaluation_output_prefix(lineage.name, iteration))
    jobs = []
    for role, model in models.items():
        job_name = (
            begun.candidate_evaluation_job_name
            if role is CapacityRole.CANDIDATE
            else begun.champion_evaluation_job_name
        )
        with bedrock.throttling_retried(f"evaluation job {job_name}"):
            job_arn = bedrock.create_evaluation_job(
                job_request(
                    job_name=job_name,
                    role_arn=settings.evaluation_role_arn(),
                    key_arn=settings.key_arn(),
                    dataset_uri=dataset_uri,
                    output_uri=output_uri,
                    metrics=managed.metrics,
                    model=model,
                    max_tokens=lineage.evaluation.max_answer_tokens,
                    tags=capacity_tags(lineage.name, iteration, role),
                )
            )
        jobs.append(ManagedEvaluationJob(role=role.value, job_name=job_name, job_arn=job_arn, model=model))
    result = dump(
        ManagedEvaluationResult(output_uri=output_uri, jobs=jobs, job_arns=[job.job_arn for job in jobs])
    )
    logger.info(
        "managed evaluation started", extra={"lineage": lineage.name, "iteration": iteration, **result}
    )
    return result
