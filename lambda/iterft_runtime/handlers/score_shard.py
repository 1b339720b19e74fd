"""Score shard: one iteration of the Score shards Map. The candidate (and the champion, when the
plan names one) answers the shard's records; the answers go to S3 for Aggregate evaluation.

Input (the Map's ItemSelector): `lineage`, `iteration`, `candidate_model`, `champion_model` (or
null), `eval_set_object` (`{version_id, etag}`: the object the plan read), `shard` (`{index, start, end,
byte_start, byte_end, first_line}`). With a judge (`lineage.evaluation.judge`), each answer is also
graded by the judge model, one Converse call per answer, and the grade (0..1) stored beside it.
The shard reads only its byte range of that object version, so a set replaced mid-round is still
scored on the planned yardstick (a bucket without versioning fails the shard instead: the ETag no
longer matches). Bedrock throttling surfaces as `dal.bedrock.BedrockThrottled`, which the Map
iteration retries with backoff; the output key is fixed per shard, so a retried shard overwrites its
own earlier work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal import bedrock, storage
from iterft_runtime.handlers import settings
from iterft_runtime.logic.evaluation import (
    EvaluationItem,
    EvaluationSetError,
    Shard,
    answer_rows,
    parse_shard,
)
from iterft_runtime.logic.judge import judge_prompt, parse_grade
from iterft_runtime.models.lineage import JudgeConfig
from iterft_runtime.models.metrics import DEFAULT_RUBRIC
from iterft_runtime.models.steps import EvalSetObject, ScoreShardInput, ScoreShardResult, dump

logger = Logger()


class EvaluationSetChangedError(EvaluationSetError):
    """The planned set's bytes are gone (unversioned bucket): its answers would mix two yardsticks."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    given = ScoreShardInput.model_validate(event)
    lineage, iteration, shard = given.lineage, given.iteration, Shard.from_dict(given.shard.model_dump())
    items = _read_shard(lineage.name, shard, given.eval_set_object)
    max_tokens = lineage.evaluation.max_answer_tokens
    candidate = _answers(given.candidate_model, items, max_tokens)
    champion_model = given.champion_model
    champion = _answers(champion_model, items, max_tokens) if champion_model else None
    candidate_judge = champion_judge = None
    if lineage.evaluation.judge is not None:
        candidate_judge = _grades(lineage.evaluation.judge, items, candidate)
        champion_judge = _grades(lineage.evaluation.judge, items, champion) if champion is not None else None
    rows = answer_rows(items, candidate, champion, candidate_judge, champion_judge)
    key = naming.evaluation_shard_key(lineage.name, iteration, shard.index)
    uri = storage.put_jsonl(settings.bucket_name(), key, rows)
    logger.info(
        "shard answered", extra={"lineage": lineage.name, "iteration": iteration, "shard": shard.to_dict()}
    )
    return dump(ScoreShardResult(index=shard.index, records=len(items), uri=uri))


def _read_shard(lineage: str, shard: Shard, planned: EvalSetObject) -> tuple[EvaluationItem, ...]:
    """The shard's records, from its byte range of the object version the plan read."""
    bucket, key = settings.bucket_name(), naming.evaluation_set_key(lineage)
    chunks = storage.iter_chunks(
        bucket,
        key,
        planned.version_id,
        byte_range=(shard.byte_start, shard.byte_end),
        etag=str(planned.etag),
    )
    try:
        return parse_shard(chunks, shard, storage.s3_uri(bucket, key))
    except storage.ObjectChangedError as error:
        raise EvaluationSetChangedError(f"{lineage}: {error} since the plan; start the round again") from None


def _answers(model_id: str, items: Sequence[EvaluationItem], max_tokens: int) -> list[str]:
    """The model's answer to every item's prompt, in item order (the Map gives the parallelism)."""
    return _converse_all(model_id, [item.prompt for item in items], max_tokens)


def _grades(judge: JudgeConfig, items: Sequence[EvaluationItem], answers: Sequence[str]) -> list[float]:
    """The judge's grade (0..1) of every answer against its item's reference."""
    rubric = judge.rubric or DEFAULT_RUBRIC
    prompts = [
        judge_prompt(rubric, item.prompt, item.reference, answer)
        for item, answer in zip(items, answers, strict=True)
    ]
    return [parse_grade(reply) for reply in _converse_all(judge.model, prompts, judge.max_tokens)]


def _converse_all(model_id: str, prompts: Sequence[str], max_tokens: int) -> list[str]:
    with bedrock.throttling_retried(model_id):
        return [bedrock.converse(model_id, prompt, max_tokens) for prompt in prompts]
