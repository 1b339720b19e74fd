"""Score shards: the evaluation set's shards scored in parallel, in an inline Map or, for large plans,
a Distributed Map reading the plan's shard list from S3."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from iterft_runtime import naming

from stacks.workflow.steps import Steps


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


def score_shards(scope: Construct, steps: Steps) -> sfn.Map:
    """An inline Map over the plan's inline shard list, `evaluation.concurrency` at a time; each
    Score shard writes its answers to S3 (the Map's own result is discarded: 256 KiB would not hold
    them). For plans up to `evaluation.distributed_above_shards` shards."""
    shards = sfn.Map(
        scope,
        "Score shards",
        items_path="$.evaluation_plan.shards",
        item_selector=_shard_selector(),
        max_concurrency=steps.config.evaluation.concurrency,
        result_path=sfn.JsonPath.DISCARD,
    )
    shards.item_processor(_score_shard(scope, steps, "Score shard"))
    return shards


def score_shards_distributed(scope: Construct, steps: Steps) -> sfn.DistributedMap:
    """A Distributed Map over the plan's shard list in S3 (`shard_list_key`): each shard runs in a
    child execution with its own history, so a set of any size fits. Same selector, same step and
    retry, same concurrency as the inline Map; the result is discarded here too."""
    shards = sfn.DistributedMap(
        scope,
        "Score shards (distributed)",
        item_reader=ShardListReader(steps.storage.data_bucket, "$.evaluation_plan.shard_list_key"),
        item_selector=_shard_selector(),
        max_concurrency=steps.config.evaluation.concurrency,
        map_execution_type=sfn.StateMachineType.STANDARD,
        result_path=sfn.JsonPath.DISCARD,
    )
    shards.item_processor(_score_shard(scope, steps, "Score shard (distributed)"))
    return shards


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


def _score_shard(scope: Construct, steps: Steps, name: str) -> tasks.LambdaInvoke:
    """Score shard; throttling (`BedrockThrottled`) is retried with exponential backoff and jitter,
    so a burst against a per-model quota slows the evaluation down instead of failing the round.

    Each iteration outputs only its shard's index: the Map gathers every iteration's output before
    discarding it, and that array must stay within 256 KiB (the input, with the lineage's config,
    would not for thousands of shards)."""
    return steps.invoke(scope, name, "score_shard", sfn.JsonPath.DISCARD, output_path="$.shard.index")
