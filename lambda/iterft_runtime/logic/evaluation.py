"""The lineage's fixed evaluation set: parsing, its content version, and per-record results."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iterft_runtime.logic import scoring
from iterft_runtime.logic.lines import TruncatedLine, split_lines
from iterft_runtime.models.families import invocable_foundation_model_id, is_custom_model_arn
from iterft_runtime.models.lineage import EvaluationConfig, LineageConfig
from iterft_runtime.models.metrics import JUDGE_METRIC
from iterft_runtime.models.records import LineageState

VERSION_LENGTH = 16
JUDGE_IDENTITY = "judge"
"""In the `judge` metric's summary: which judge (JudgeConfig.identity) gave the grades."""
MAX_LISTED_ERRORS = 10


class EvaluationSetError(ValueError):
    """The evaluation set cannot be used; the message names the object and the bad lines."""


@dataclass(frozen=True)
class EvaluationItem:
    line: int
    prompt: str
    reference: str
    category: str | None = None


@dataclass(frozen=True)
class EvaluationSet:
    items: tuple[EvaluationItem, ...]
    version: str
    """First 16 hex digits of the sha256 of the file's bytes: equal versions, equal yardstick."""
    spans: tuple[tuple[int, int], ...] = ()
    """Per item, the byte range [start, end) of its line in the file: what a shard reads back."""


def parse_evaluation_set(chunks: Iterable[bytes], source: str) -> EvaluationSet:
    """Parse JSONL `{"prompt", "referenceResponse", "category"?}` (Bedrock's evaluation dataset shape).

    Every bad line is collected and reported at once rather than stopping at the first.
    """
    digest = hashlib.sha256()
    items: list[EvaluationItem] = []
    spans: list[tuple[int, int]] = []
    errors: list[str] = []
    offset = 0
    for number, raw in enumerate(split_lines(_hashed(chunks, digest)), start=1):
        start, offset = offset, offset + len(raw)
        if not raw.strip():
            continue
        item = _parse_line(number, raw, errors)
        if item is not None:
            items.append(item)
            spans.append((start, offset))
    if errors:
        listed = "; ".join(errors[:MAX_LISTED_ERRORS])
        more = f" (and {len(errors) - MAX_LISTED_ERRORS} more)" if len(errors) > MAX_LISTED_ERRORS else ""
        raise EvaluationSetError(f"{source}: {len(errors)} bad line(s): {listed}{more}")
    if not items:
        raise EvaluationSetError(f"{source}: the evaluation set has no records")
    return EvaluationSet(items=tuple(items), version=digest.hexdigest()[:VERSION_LENGTH], spans=tuple(spans))


def parse_shard(chunks: Iterable[bytes], shard: Shard, source: str) -> tuple[EvaluationItem, ...]:
    """The items of one shard from the bytes `shard.byte_start`..`byte_end` of the set it was planned on.

    Raises EvaluationSetError when those bytes do not hold exactly the shard's items (the plan and the
    bytes disagree, which a pinned object version rules out unless the set was planned from other bytes).
    """
    items: list[EvaluationItem] = []
    errors: list[str] = []
    for number, raw in enumerate(split_lines(chunks), start=shard.first_line):
        if raw.strip():
            item = _parse_line(number, raw, errors)
            if item is not None:
                items.append(item)
    expected = shard.end - shard.start
    if errors or len(items) != expected:
        problems = "; ".join(errors[:MAX_LISTED_ERRORS]) or f"{len(items)} records"
        raise EvaluationSetError(
            f"{source}: bytes {shard.byte_start}-{shard.byte_end} should hold shard {shard.index}'s "
            f"{expected} records from line {shard.first_line}: {problems}"
        )
    return tuple(items)


def _hashed(chunks: Iterable[bytes], digest: Any) -> Iterator[bytes]:
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def _parse_line(number: int, raw: bytes, errors: list[str]) -> EvaluationItem | None:
    if isinstance(raw, TruncatedLine):
        errors.append(f"line {number}: {raw.full_length:,} bytes is too long")
        return None
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        errors.append(f"line {number}: not a UTF-8 JSON object ({error})")
        return None
    if not isinstance(record, dict):
        errors.append(f"line {number}: not a JSON object")
        return None
    prompt, reference, category = (
        record.get("prompt"),
        record.get("referenceResponse"),
        record.get("category"),
    )
    problems = [
        f"{key} must be a non-empty string"
        for key, value in (("prompt", prompt), ("referenceResponse", reference))
        if not isinstance(value, str) or not value.strip()
    ]
    if category is not None and not isinstance(category, str):
        problems.append("category must be a string")
    if problems:
        errors.append(f"line {number}: {', '.join(problems)}")
        return None
    return EvaluationItem(line=number, prompt=str(prompt), reference=str(reference), category=category)


@dataclass(frozen=True)
class ScoredAnswers:
    """Every metric of one model's answers: per item, and summarized overall and per category."""

    scores: dict[str, tuple[float, ...]]
    """Per metric name, one score per evaluation item, in item order."""
    metrics: dict[str, dict[str, Any]]
    """Per metric name, `{"overall": mean, "by_category": {category: mean}}` (scoring.summarize)."""

    def overall(self, metric: str) -> float:
        return float(self.metrics[metric]["overall"])


def score_answers(
    items: Sequence[EvaluationItem],
    answers: Sequence[str],
    judge_grades: Sequence[float] | None = None,
    judge_identity: str | None = None,
    managed_scores: Mapping[str, Sequence[float]] | None = None,
    managed_identities: Mapping[str, str] | None = None,
) -> ScoredAnswers:
    """Score `answers` against the references with every metric in scoring.METRICS, and with the
    judge's grades (0..1, one per answer) as metric `judge` when the lineage has a judge; its summary
    also names the judge (`JudgeConfig.identity`), so that grades of another judge are never reused.
    `managed_scores` are the Bedrock evaluation job's per-item scores (`bedrock_*`), when it ran; those an
    evaluator model graded name it in their summary too (`managed_identities`:
    ManagedJobConfig.identities)."""
    if len(answers) != len(items):
        raise ValueError(f"{len(answers)} answers for {len(items)} evaluation items")
    if not items:
        raise ValueError("cannot score an empty evaluation set")
    categories = [item.category for item in items]
    scores = {
        name: tuple(score(answer, item.reference) for item, answer in zip(items, answers, strict=True))
        for name, score in scoring.METRICS.items()
    }
    if judge_grades is not None:
        if len(judge_grades) != len(items):
            raise ValueError(f"{len(judge_grades)} judge grades for {len(items)} evaluation items")
        scores[JUDGE_METRIC] = tuple(float(grade) for grade in judge_grades)
    for name, values in (managed_scores or {}).items():
        if len(values) != len(items):
            raise ValueError(f"{len(values)} {name} scores for {len(items)} evaluation items")
        scores[name] = tuple(float(value) for value in values)
    metrics = {name: scoring.summarize(values, categories) for name, values in scores.items()}
    if JUDGE_METRIC in metrics and judge_identity is not None:
        metrics[JUDGE_METRIC][JUDGE_IDENTITY] = judge_identity
    for name, identity in (managed_identities or {}).items():
        if name in metrics:
            metrics[name][JUDGE_IDENTITY] = identity
    return ScoredAnswers(scores=scores, metrics=metrics)


SUMMARY_CATEGORIES = 10
"""Per metric, the most categories a metrics summary lists: what the workflow's state, the registry and the
notification carry of a model's metrics, bounded whatever the evaluation set (every category is in the
round's metrics document in S3, `metrics_uri`)."""
SUMMARY_CATEGORY_CHARS = 64
"""A category whose name is longer is left out of summaries (it is in the metrics document)."""


def metrics_summary(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """A bounded copy of `ScoredAnswers.metrics`: per metric, every field as it is (`overall`, the judge's
    identity) but `by_category`, which keeps at most SUMMARY_CATEGORIES categories (all of them when the
    set has no more, else the lowest-scoring: where the next round's data helps most), and `categories`,
    how many the set has. A summary summarized again is unchanged."""
    summary: dict[str, dict[str, Any]] = {}
    for name, values in metrics.items():
        by_category: Mapping[str, float] = values.get("by_category") or {}
        listed = sorted(
            (item for item in by_category.items() if len(item[0]) <= SUMMARY_CATEGORY_CHARS),
            key=lambda item: (item[1], item[0]),
        )[:SUMMARY_CATEGORIES]
        summary[name] = {
            **{key: value for key, value in values.items() if key not in ("by_category", "categories")},
            "by_category": dict(sorted(listed)),
            "categories": int(values.get("categories", len(by_category))),
        }
    return summary


def _item_columns(item: EvaluationItem) -> dict[str, Any]:
    """The columns every per-record output starts with: where the item is and what it asks."""
    return {"line": item.line, "category": item.category, "prompt": item.prompt, "reference": item.reference}


def result_rows(
    items: Sequence[EvaluationItem],
    candidate: Sequence[str],
    candidate_scores: ScoredAnswers,
    primary: str,
    champion: Sequence[str] | None = None,
    champion_scores: ScoredAnswers | None = None,
) -> Iterator[dict[str, Any]]:
    """One JSON-able row per evaluation item: the primary metric's score and every metric's.

    Champion columns only when the champion was scored now (a reused score has no answers).
    """
    for index, item in enumerate(items):
        row: dict[str, Any] = {
            **_item_columns(item),
            "candidate_answer": candidate[index],
            "candidate_score": candidate_scores.scores[primary][index],
            "candidate_metrics": {name: values[index] for name, values in candidate_scores.scores.items()},
        }
        if champion is not None and champion_scores is not None:
            row["champion_answer"] = champion[index]
            row["champion_score"] = champion_scores.scores[primary][index]
            row["champion_metrics"] = {name: values[index] for name, values in champion_scores.scores.items()}
        yield row


def reusable_champion_metrics(
    state: LineageState, eval_set_version: str, evaluation: EvaluationConfig
) -> dict[str, dict[str, Any]] | None:
    """The champion's recorded metrics when they were measured on this very set with the lineage's
    metric set (`EvaluationConfig.metric_names`: the reference metrics, and `judge` when configured)
    and, for every metric a model graded, by the same grader (`EvaluationConfig.identities`: the judge's
    model and rubric; a judged evaluation job's evaluator and custom metric definitions).

    Anything else (another set version, a metric or judge added, removed or changed, a state written
    before metrics were recorded) means the champion must be scored again before any comparison.
    """
    metrics = state.champion_metrics
    same_yardstick = (
        state.champion_eval_set_version == eval_set_version
        and metrics is not None
        and set(metrics) == set(evaluation.metric_names())
        and all(
            metrics[name].get(JUDGE_IDENTITY) == identity
            for name, identity in evaluation.identities().items()
        )
    )
    return metrics if same_yardstick else None


@dataclass(frozen=True)
class ChampionSource:
    """How the champion answers the evaluation set: an identifier to call as it is, or a custom model
    that needs evaluation capacity first (a champion with nothing serving it, e.g. serving mode none)."""

    invoke: str | None = None
    deploy: str | None = None


def champion_source(lineage: LineageConfig, state: LineageState) -> ChampionSource:
    """The champion's serving capacity; for the starting point the configured `evaluation_invoke_model`,
    else the foundation model's on-demand id; a custom model with nothing serving it is deployed."""
    if state.serving_model_id:
        return ChampionSource(invoke=state.serving_model_id)
    if state.champion_iteration != 0:
        return ChampionSource(deploy=state.champion_model_arn or state.champion_model)
    if lineage.evaluation_invoke_model:
        return ChampionSource(invoke=lineage.evaluation_invoke_model)
    if is_custom_model_arn(lineage.base_model):
        return ChampionSource(deploy=lineage.base_model)
    return ChampionSource(invoke=invocable_foundation_model_id(lineage.base_model))


SHARD_RECORDS = 25
"""The most records a Score shard iteration takes: small shards keep the Map's concurrent workers evenly
busy. Fewer when their worst case would not fit the shard's time budget (`shard_records`)."""
SHARD_TIME_BUDGET_SECONDS = 600.0
"""What a shard's worst case may take: two thirds of Score shard's 15-minute Lambda timeout, the rest left
for reading its records, writing its answers, a cold start and the Bedrock client's own retries."""
WORST_CALL_OVERHEAD_SECONDS = 2.0
WORST_OUTPUT_TOKENS_PER_SECOND = 25.0
"""The worst case assumed for one Converse call: 2 s of latency before the first token, then 25 output
tokens a second up to its maxTokens. An estimate, not a measurement: Bedrock publishes no per-model
speeds; the models this pipeline customizes generate several times faster, so a shard's real time is a
fraction of its budget, and a call that stops before maxTokens (most do) takes less still."""
MAX_SHARDS = 10_000
"""The most shards a plan may have: the Distributed Map gathers one small output per shard (its index)
into a result that must stay under Step Functions' 256 KiB, and each shard is a child execution."""
INLINE_MAX_SHARDS = 400
"""An inline Map's iterations all land in the execution's history (25,000 events at most): a plan with
more shards is scored only by the Distributed Map (each of its child executions has its own history),
so the plan lists its shards inline only up to this many."""


@dataclass(frozen=True)
class Shard:
    """Evaluation items `start` (inclusive) to `end` (exclusive), in file order, and where they are in the
    file: bytes `byte_start` to `byte_end` (exclusive), the first of them on line `first_line`. A shard
    reads only its own bytes, so each record is fetched once per round however large the set."""

    index: int
    start: int
    end: int
    byte_start: int
    byte_end: int
    first_line: int

    def to_dict(self) -> dict[str, int]:
        return {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "byte_start": self.byte_start,
            "byte_end": self.byte_end,
            "first_line": self.first_line,
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Shard:
        return cls(**{name: int(document[name]) for name in cls.__dataclass_fields__})


def worst_call_seconds(max_tokens: int) -> float:
    """The assumed worst case of one Converse call of at most `max_tokens` output tokens."""
    return WORST_CALL_OVERHEAD_SECONDS + max_tokens / WORST_OUTPUT_TOKENS_PER_SECOND


def shard_records(evaluation: EvaluationConfig, champion_answers: bool) -> int:
    """Records per shard: as many as fit SHARD_TIME_BUDGET_SECONDS at the worst case of each record's
    sequential calls (the candidate's answer, the champion's when it answers too, and a judge call for
    each answer with a judge), at most SHARD_RECORDS, at least one (one record fits: see the tests)."""
    per_answer = worst_call_seconds(evaluation.max_answer_tokens)
    if evaluation.judge is not None:
        per_answer += worst_call_seconds(evaluation.judge.max_tokens)
    per_record = per_answer * (2 if champion_answers else 1)
    return max(1, min(SHARD_RECORDS, int(SHARD_TIME_BUDGET_SECONDS // per_record)))


class TooManyShardsError(EvaluationSetError):
    """The set needs more than MAX_SHARDS shards at its lineage's answer length."""


def check_shard_count(records: int, per_shard: int, source: str) -> None:
    """Refuse a set that would need more than MAX_SHARDS shards of `per_shard` records."""
    shards = -(-records // per_shard)
    if shards > MAX_SHARDS:
        raise TooManyShardsError(
            f"{source}: {records:,} records need {shards:,} shards of {per_shard} (at most {MAX_SHARDS:,}); "
            "use a smaller evaluation set or a lower evaluation.max_answer_tokens"
        )


def plan_shards(evaluation_set: EvaluationSet, size: int | None = None) -> list[Shard]:
    """Consecutive item ranges covering the set, `size` records each (default SHARD_RECORDS; the last may
    hold fewer): a large set gets more shards, not larger ones, so a shard's work stays within one
    Lambda's time limit."""
    size = size or SHARD_RECORDS
    records = len(evaluation_set.items)
    if records < 1:
        raise ValueError("cannot shard an empty evaluation set")
    if len(evaluation_set.spans) != records:
        raise ValueError("the evaluation set has no byte span per item: parse it with parse_evaluation_set")
    shards = []
    for index, start in enumerate(range(0, records, size)):
        end = min(start + size, records)
        first_line = evaluation_set.items[start].line
        byte_start, byte_end = evaluation_set.spans[start][0], evaluation_set.spans[end - 1][1]
        shards.append(Shard(index, start, end, byte_start, byte_end, first_line))
    return shards


def inline_shards(shards: Sequence[Shard]) -> list[dict[str, int]] | None:
    """The shards for the plan's inline list, or None when there are too many for an inline Map."""
    return [shard.to_dict() for shard in shards] if len(shards) <= INLINE_MAX_SHARDS else None


def answer_rows(
    items: Sequence[EvaluationItem],
    candidate: Sequence[str],
    champion: Sequence[str] | None,
    candidate_judge: Sequence[float] | None = None,
    champion_judge: Sequence[float] | None = None,
) -> Iterator[dict[str, Any]]:
    """A shard's output: each item with the answers it got and, with a judge, their grades (0..1);
    the reference metrics are computed later, over the whole set."""
    for index, item in enumerate(items):
        row: dict[str, Any] = {**_item_columns(item), "candidate_answer": candidate[index]}
        if candidate_judge is not None:
            row["candidate_judge"] = candidate_judge[index]
        if champion is not None:
            row["champion_answer"] = champion[index]
            if champion_judge is not None:
                row["champion_judge"] = champion_judge[index]
        yield row


@dataclass(frozen=True)
class CollectedAnswers:
    items: tuple[EvaluationItem, ...]
    candidate: tuple[str, ...]
    champion: tuple[str, ...] | None
    candidate_judge: tuple[float, ...] | None = None
    champion_judge: tuple[float, ...] | None = None


def collect_answers(rows: Iterable[Mapping[str, Any]]) -> CollectedAnswers:
    """The shards' rows, concatenated in shard order, back as items, both models' answers and grades."""
    items: list[EvaluationItem] = []
    candidate: list[str] = []
    champion: list[str] = []
    candidate_judge: list[float] = []
    champion_judge: list[float] = []
    for row in rows:
        items.append(EvaluationItem(row["line"], row["prompt"], row["reference"], row["category"]))
        candidate.append(str(row["candidate_answer"]))
        if "champion_answer" in row:
            champion.append(str(row["champion_answer"]))
        if "candidate_judge" in row:
            candidate_judge.append(float(row["candidate_judge"]))
        if "champion_judge" in row:
            champion_judge.append(float(row["champion_judge"]))
    for what, values in (
        ("the champion answered", champion),
        ("the judge graded the candidate on", candidate_judge),
        ("the judge graded the champion on", champion_judge),
    ):
        if values and len(values) != len(items):
            raise ValueError(f"{what} {len(values)} of {len(items)} evaluation items")
    return CollectedAnswers(
        tuple(items),
        tuple(candidate),
        tuple(champion) if champion else None,
        tuple(candidate_judge) if candidate_judge else None,
        tuple(champion_judge) if champion_judge else None,
    )
