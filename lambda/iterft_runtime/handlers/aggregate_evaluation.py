"""Aggregate evaluation: gather the Score shards' answers, score the candidate (and the champion
when it answered) with every metric, overall and per category (the judge's grades, graded in the
shards, are the `judge` metric; a Bedrock evaluation job's per-prompt scores, when the lineage has
one, the `bedrock_*` metrics), write the per-record results and remember a new champion score.
Result at `$.evaluation`, which Decide reads.

Every score carries the set version it was measured on; a champion that did not answer keeps the
metrics the registry holds for this very version (Plan evaluation checked them).

Whatever the evaluation set, the result stays small (a state's payload is at most 256 KiB): every
metric of both models, per category too, goes to the round's metrics document in S3 (`metrics_uri`);
the result and the registry carry `logic.evaluation.metrics_summary` of each (the overall scores the
gate compares, and at most a few categories). A reused champion's document entry is that summary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal import storage
from iterft_runtime.dal.evaluation_sets import shard_rows
from iterft_runtime.dal.registry import Registry, RegistryStateMissingError
from iterft_runtime.handlers import settings
from iterft_runtime.logic.evaluation import (
    EvaluationItem,
    collect_answers,
    metrics_summary,
    result_rows,
    reusable_champion_metrics,
    score_answers,
)
from iterft_runtime.logic.managed_evaluation import (
    ManagedEvaluationError,
    is_output_key,
    job_output_prefix,
    managed_scores,
)
from iterft_runtime.models.lineage import ManagedJobConfig
from iterft_runtime.models.steps import EvaluationResult, ManagedEvaluationResult, RoundState, dump, required

logger = Logger()


class ChampionMetricsMissingError(RuntimeError):
    """The plan reused the champion's metrics, but the registry no longer holds them for this set."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    lineage, iteration, plan = doc.lineage, doc.iteration, required(doc.evaluation_plan, "evaluation_plan")
    bucket, metric, version = settings.bucket_name(), lineage.evaluation.metric, plan.eval_set_version
    collected = collect_answers(shard_rows(bucket, lineage.name, iteration, plan.shard_count))
    if len(collected.items) != plan.records:
        raise ValueError(f"the shards hold {len(collected.items)} of {plan.records} evaluation records")
    if lineage.evaluation.judge is not None and (
        collected.candidate_judge is None
        or (collected.champion is not None and collected.champion_judge is None)
    ):
        raise ValueError(f"{lineage.name} has a judge, but the shards hold no judge grades")
    judge = lineage.evaluation.judge.identity() if lineage.evaluation.judge is not None else None
    managed = _managed_scores(lineage.evaluation.managed_job, doc.managed_evaluation, collected.items)
    graders = lineage.evaluation.managed_job.identities() if lineage.evaluation.managed_job else {}
    candidate = score_answers(
        collected.items,
        collected.candidate,
        collected.candidate_judge,
        judge,
        managed.get("candidate"),
        graders,
    )

    registry = Registry(settings.table_name())
    state = registry.get_state(lineage.name)
    if state is None:
        raise RegistryStateMissingError(f"{lineage.name}: no lineage state in the registry")
    champion = None
    if collected.champion is not None:
        champion = score_answers(
            collected.items,
            collected.champion,
            collected.champion_judge,
            judge,
            managed.get("champion"),
            graders,
        )
        champion_metrics = champion.metrics
        registry.record_champion_score(
            lineage.name,
            iteration,
            champion_iteration=state.champion_iteration,
            score=champion.overall(metric),
            metrics=metrics_summary(champion_metrics),
            eval_set_version=version,
            metric=metric,
        )
    else:
        reused = reusable_champion_metrics(state, version, lineage.evaluation)
        if reused is None:
            raise ChampionMetricsMissingError(
                f"{lineage.name}: no champion metrics on evaluation set {version} for this yardstick"
            )
        champion_metrics = reused

    results_uri = storage.put_jsonl(
        bucket,
        naming.evaluation_results_key(lineage.name, iteration),
        result_rows(collected.items, collected.candidate, candidate, metric, collected.champion, champion),
    )
    metrics_uri = storage.put_json(
        bucket,
        naming.evaluation_metrics_key(lineage.name, iteration),
        {
            "metric": metric,
            "eval_set_version": version,
            "champion_reused": champion is None,
            "candidate": candidate.metrics,
            "champion": champion_metrics,
        },
    )
    evaluated = EvaluationResult(
        metric=metric,
        eval_set_version=version,
        records=len(collected.items),
        candidate_score=candidate.overall(metric),
        champion_score=float(champion_metrics[metric]["overall"]),
        champion_reused=champion is None,
        results_uri=results_uri,
        metrics_uri=metrics_uri,
        candidate_metrics=metrics_summary(candidate.metrics),
        champion_metrics=metrics_summary(champion_metrics),
    )
    if doc.managed_evaluation:
        evaluated.managed_results_uri = doc.managed_evaluation.output_uri
    result = dump(evaluated)
    logger.info(
        "candidate evaluated",
        extra={"lineage": lineage.name, "iteration": iteration, **_summary(result)},
    )
    return result


def _managed_scores(
    managed_job: ManagedJobConfig | None,
    started: ManagedEvaluationResult | None,
    items: Sequence[EvaluationItem],
) -> dict[str, dict[str, tuple[float, ...]]]:
    """The Bedrock evaluation jobs' per-item scores by role (candidate, champion), each read from its
    own job's output files; none when the lineage has no managed job. A lineage with one must have
    run them (Start managed evaluation)."""
    if managed_job is None:
        return {}
    if not started:
        raise ManagedEvaluationError("the lineage has evaluation.managed_job, but no evaluation job ran")
    bucket, output_prefix = storage.split_uri(started.output_uri)
    scores = {}
    for job in started.jobs:
        prefix = job_output_prefix(output_prefix, job.job_name)
        keys = [key for key in storage.list_keys(bucket, prefix) if is_output_key(key)]
        if not keys:
            raise ManagedEvaluationError(
                f"evaluation job {job.job_name} wrote no output under {storage.s3_uri(bucket, prefix)}"
            )
        files = (
            (json.loads(line) for line in storage.iter_lines(bucket, key) if line.strip()) for key in keys
        )
        try:
            scores[job.role] = managed_scores(files, managed_job, items)
        except ManagedEvaluationError as error:
            raise ManagedEvaluationError(f"evaluation job {job.job_name}: {error}") from None
    return scores


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """The result without its per-category tables: what is worth a log line."""
    return {key: value for key, value in result.items() if not key.endswith("_metrics")}
