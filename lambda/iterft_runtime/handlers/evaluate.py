"""Evaluate candidate: score the candidate (and, unless its scores can be reused, the champion)
with every metric, overall and per category, on the lineage's fixed evaluation set.
Result at `$.evaluation`.

The champion's metrics are reused only when they were measured on the same set version with the
same metric set; otherwise the champion answers now too, before any comparison, and its new
metrics are remembered for later rounds. Every score carries the set version it was measured on.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal import bedrock, storage
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.evaluation import (
    EvaluationItem,
    EvaluationSetError,
    champion_model_id,
    parse_evaluation_set,
    result_rows,
    reusable_champion_metrics,
    score_answers,
)
from iterft_runtime.logic.rounds import round_input

logger = Logger()

PARALLEL_CALLS = 8
"""Converse calls in flight at once: fast on large sets, gentle on per-model request quotas."""


class EvaluationSetMissingError(EvaluationSetError):
    """The lineage has no evaluation set where the pipeline looks for it."""


class RegistryStateMissingError(RuntimeError):
    """The lineage has no STATE item: it was never dispatched, so there is no champion to compare."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    given = round_input(event)
    lineage, iteration = given.lineage, given.iteration
    bucket = settings.bucket_name()
    key = naming.evaluation_set_key(lineage.name)
    source = storage.s3_uri(bucket, key)
    try:
        evaluation_set = parse_evaluation_set(storage.iter_chunks(bucket, key), source)
    except storage.ObjectNotFoundError:
        raise EvaluationSetMissingError(
            f"no evaluation set at {source}: upload the lineage's JSONL evaluation set to s3 key {key}"
        ) from None
    items, metric = evaluation_set.items, lineage.evaluation.metric
    max_tokens = lineage.evaluation.max_answer_tokens

    candidate_answers = _answers(event["candidate_deployment"]["arn"], items, max_tokens)
    candidate = score_answers(items, candidate_answers)

    registry = Registry(settings.table_name())
    state = registry.get_state(lineage.name)
    if state is None:
        raise RegistryStateMissingError(f"{lineage.name}: no lineage state in the registry")
    champion_metrics = reusable_champion_metrics(state, evaluation_set.version)
    champion_answers, champion = None, None
    if champion_metrics is None:
        champion_answers = _answers(champion_model_id(lineage, state), items, max_tokens)
        champion = score_answers(items, champion_answers)
        champion_metrics = champion.metrics
        registry.record_champion_score(
            lineage.name,
            iteration,
            champion_iteration=state.champion_iteration,
            score=champion.overall(metric),
            metrics=champion_metrics,
            eval_set_version=evaluation_set.version,
            metric=metric,
        )

    results_uri = storage.put_jsonl(
        bucket,
        naming.evaluation_results_key(lineage.name, iteration),
        result_rows(items, candidate_answers, candidate, metric, champion_answers, champion),
    )
    result = {
        "metric": metric,
        "eval_set_version": evaluation_set.version,
        "records": len(items),
        "candidate_score": candidate.overall(metric),
        "champion_score": float(champion_metrics[metric]["overall"]),
        "champion_reused": champion is None,
        "results_uri": results_uri,
        "candidate_metrics": candidate.metrics,
        "champion_metrics": champion_metrics,
    }
    logger.info(
        "candidate evaluated",
        extra={"lineage": lineage.name, "iteration": iteration, **_summary(result)},
    )
    return result


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """The result without its per-category tables: what is worth a log line."""
    return {key: value for key, value in result.items() if not key.endswith("_metrics")}


def _answers(model_id: str, items: Sequence[EvaluationItem], max_tokens: int) -> list[str]:
    """The model's answer to every item's prompt, in item order."""
    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL_CALLS, len(items)))) as pool:
        return list(pool.map(lambda item: bedrock.converse(model_id, item.prompt, max_tokens), items))
