"""Score shard: one iteration of the Score shards Map. The candidate (and the champion, when the
plan names one) answers the shard's records; the answers go to S3 for Aggregate evaluation.

Input (the Map's ItemSelector): `lineage`, `iteration`, `candidate_model`, `champion_model` (or
null), `eval_set_version`, `shard` (`{index, start, end}`). Bedrock throttling surfaces as
`BedrockThrottled`, which the Map iteration retries with backoff; the output key is fixed per shard,
so a retried shard overwrites its own earlier work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from iterft_runtime import naming
from iterft_runtime.dal import bedrock, storage
from iterft_runtime.dal.clients import error_code
from iterft_runtime.handlers import settings
from iterft_runtime.handlers.plan_evaluation import read_evaluation_set
from iterft_runtime.logic.evaluation import EvaluationItem, EvaluationSetError, answer_rows
from iterft_runtime.models.lineage import LineageConfig

logger = Logger()

THROTTLING_CODES = frozenset(
    {"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"}
)


class BedrockThrottled(RuntimeError):
    """Bedrock refused a call for rate or quota: the state machine retries the shard with backoff."""


class EvaluationSetChangedError(EvaluationSetError):
    """The set changed between Plan evaluation and this shard: its answers would mix two yardsticks."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    lineage = LineageConfig.model_validate(event["lineage"])
    iteration, shard = int(event["iteration"]), event["shard"]
    evaluation_set = read_evaluation_set(lineage.name)
    if evaluation_set.version != event["eval_set_version"]:
        raise EvaluationSetChangedError(
            f"{lineage.name}: the evaluation set is now version {evaluation_set.version}, "
            f"not the planned {event['eval_set_version']}; start the round again"
        )
    items = evaluation_set.items[int(shard["start"]) : int(shard["end"])]
    max_tokens = lineage.evaluation.max_answer_tokens
    candidate = _answers(event["candidate_model"], items, max_tokens)
    champion_model = event.get("champion_model")
    champion = _answers(champion_model, items, max_tokens) if champion_model else None
    key = naming.evaluation_shard_key(lineage.name, iteration, int(shard["index"]))
    uri = storage.put_jsonl(settings.bucket_name(), key, answer_rows(items, candidate, champion))
    logger.info("shard answered", extra={"lineage": lineage.name, "iteration": iteration, "shard": shard})
    return {"index": int(shard["index"]), "records": len(items), "uri": uri}


def _answers(model_id: str, items: Sequence[EvaluationItem], max_tokens: int) -> list[str]:
    """The model's answer to every item's prompt, in item order (the Map gives the parallelism)."""
    try:
        return [bedrock.converse(model_id, item.prompt, max_tokens) for item in items]
    except ClientError as error:
        if error_code(error) in THROTTLING_CODES:
            raise BedrockThrottled(f"{model_id}: {error}") from error
        raise
