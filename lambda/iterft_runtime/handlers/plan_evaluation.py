"""Plan evaluation: read the lineage's fixed evaluation set, name its version, decide whether the
champion must answer too (and whether it needs evaluation capacity for that), and cut the set into
shards for the Score shards Map. Result at `$.evaluation_plan`.

A shard holds as many records as its worst case lets finish well inside Score shard's timeout
(`logic.evaluation.shard_records`: fewer for long answers, a judge, or a champion answering too); a set
that would need more than MAX_SHARDS shards is refused here (Validate refused it before training).

The full shard list is always written to S3 (`shard_list_key`, a JSON array): the Distributed Map
reads its items from there. The plan also lists the shards inline (`shards`) when an inline Map may
run them (at most INLINE_MAX_SHARDS); `shard_count` is what the workflow chooses the Map by.

The plan pins the S3 object it read (`eval_set_object`: version id and ETag) and gives each shard its
byte range, so every shard reads back only its own records, from exactly the bytes that were planned.

The champion's metrics are reused only when they were measured on the same set version with the
same metric set and its per-record scores on that version are kept (the gate pairs them with the
candidate's); otherwise the champion answers now too, before any comparison. For a lineage with
`evaluation.managed_job`, a set larger than Bedrock's evaluation jobs take is refused here, before
any capacity (Validate refused it before training; the set may have been replaced since).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal import storage
from iterft_runtime.dal.evaluation_sets import evaluation_set_uri, read_evaluation_set
from iterft_runtime.dal.registry import Registry, RegistryStateMissingError
from iterft_runtime.handlers import settings
from iterft_runtime.logic.evaluation import (
    champion_source,
    check_shard_count,
    inline_shards,
    plan_shards,
    reusable_champion_metrics,
    scores_match,
    shard_records,
)
from iterft_runtime.logic.managed_evaluation import check_prompt_count
from iterft_runtime.models.steps import EvaluationPlan, RoundState, dump

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    lineage = doc.lineage
    evaluation_set, found = read_evaluation_set(settings.bucket_name(), lineage.name)
    if lineage.evaluation.managed_job is not None:
        check_prompt_count(len(evaluation_set.items))
    state = Registry(settings.table_name()).get_state(lineage.name)
    if state is None:
        raise RegistryStateMissingError(f"{lineage.name}: no lineage state in the registry")
    reused = reusable_champion_metrics(state, evaluation_set.version, lineage.evaluation)
    rescore = reused is None or not _per_record_scores_kept(
        lineage.name, state.champion_iteration, evaluation_set.version, reused
    )
    per_shard = shard_records(lineage.evaluation, champion_answers=rescore)
    bucket, shard_list_key = (
        settings.bucket_name(),
        naming.evaluation_shard_list_key(lineage.name, doc.iteration),
    )
    check_shard_count(len(evaluation_set.items), per_shard, evaluation_set_uri(bucket, lineage.name))
    shards = plan_shards(evaluation_set, per_shard)
    champion = champion_source(lineage, state) if rescore else None
    storage.put_json(bucket, shard_list_key, [shard.to_dict() for shard in shards])
    result = dump(
        EvaluationPlan.model_validate(
            {
                "eval_set_version": evaluation_set.version,
                "eval_set_object": {"version_id": found.version_id, "etag": found.etag},
                "records": len(evaluation_set.items),
                "champion_model": champion.invoke if champion else None,
                "champion_to_deploy": champion.deploy if champion else None,
                "shard_records": per_shard,
                "shard_count": len(shards),
                "shard_list_key": shard_list_key,
                "shards": inline_shards(shards),
            }
        )
    )
    logger.info(
        "evaluation planned",
        extra={
            "lineage": lineage.name,
            "iteration": doc.iteration,
            **{key: value for key, value in result.items() if key != "shards"},
        },
    )
    return result


def _per_record_scores_kept(
    lineage: str, champion_iteration: int, version: str, metrics: dict[str, Any]
) -> bool:
    """The champion's per-record scores its recorded metrics came from are still there: the gate pairs them
    with the candidate's (a champion recorded before they were kept answers again, once)."""
    key = naming.record_scores_key(lineage, champion_iteration, version)
    return scores_match(storage.read_json(settings.bucket_name(), key), version, metrics)
