"""Curate: a lineage's live traffic (Bedrock invocation logs) and the team's feedback, made into its next
round's data and written under incoming/<lineage>/, so that the trigger chain starts the round (and
Validate checks it) exactly as for an upload. Invoked by the lineage's curation schedule and by
`iterft curate` (docs/flywheel.md); a dry run writes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal import serving_pointer, storage, traffic
from iterft_runtime.dal.evaluation_sets import read_evaluation_set
from iterft_runtime.dal.gaps import lineage_gaps
from iterft_runtime.dal.lineages import lineage_config
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.curation import CurationPlan, belongs_to, plan_curation, redact, training_record
from iterft_runtime.logic.feedback import latest_feedback
from iterft_runtime.logic.gaps import GapAnalysisError, weakest_categories
from iterft_runtime.logic.strategies import STRATEGY_METADATA_KEY, produced_by
from iterft_runtime.logic.validation_strategies import DISTILLATION_PROMPTS
from iterft_runtime.models.curation import (
    MAX_LISTED_CHOICES,
    MAX_LISTED_PROBLEMS,
    SOURCE_METADATA_KEY,
    CurateRequest,
    CurateResult,
    WrittenDataset,
)
from iterft_runtime.models.lineage import LineageConfig, starting_point
from iterft_runtime.models.strategy import Strategy, chain_problem
from iterft_runtime.models.traffic import TrafficConfig

logger = Logger()


class CurationError(ValueError):
    """The request cannot be curated (unknown lineage, no traffic settings, a bad `since`)."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = CurateRequest.model_validate(event)
    curated = settings.curated_lineages()
    if request.lineage not in curated:  # its role may read the curated lineages' configs only
        raise CurationError(
            f"lineage {request.lineage!r} is not curated by this stack (lineages with traffic settings: "
            f"{', '.join(curated) or 'none'}; docs/flywheel.md)"
        )
    lineage = lineage_config(settings.lineage_parameter_prefix(), request.lineage)
    if lineage is None:
        raise CurationError(f"unknown lineage {request.lineage!r}")
    if lineage.traffic is None:
        raise CurationError(f"lineage {lineage.name} has no traffic settings (docs/flywheel.md)")
    result = curate(lineage, lineage.traffic, request, datetime.now(UTC))
    logger.info(
        "curated",
        extra={
            "lineage": lineage.name,
            "dry_run": request.dry_run,
            "counts": result.counts,
            "notes": result.notes,
        },
    )
    return result.model_dump(mode="json")


def _since(request: CurateRequest, traffic_config: TrafficConfig, now: datetime) -> date:
    if request.since is None:
        return (now - timedelta(days=traffic_config.curation.lookback_days)).date()
    try:
        return datetime.fromisoformat(request.since).date()
    except ValueError:
        raise CurationError(f"since: {request.since!r} is not an ISO date (YYYY-MM-DD)") from None


def curate(
    lineage: LineageConfig, config: TrafficConfig, request: CurateRequest, now: datetime
) -> CurateResult:
    bucket = settings.bucket_name()
    log_bucket, log_root = settings.invocation_log_location()
    since, until = _since(request, config, now), now.date()
    registry = Registry(settings.table_name())

    parsed, objects = traffic.read_logs(log_bucket, log_root, since, until)
    served = _served_models(registry, lineage)
    calls = [call for call in parsed.calls if belongs_to(call, served, config)]
    feedback_files = traffic.read_feedback(bucket, lineage.name)
    problems = [str(problem) for problem in parsed.problems]
    problems += [
        f"s3://{bucket}/{key} line {line}: {message} (the file is not used)"
        for key, report in feedback_files
        for line, message in report.problems
    ]
    evaluation_set, _ = read_evaluation_set(bucket, lineage.name)
    prefer, gaps_note = (request.prefer, None) if request.prefer is not None else _weakest_first(lineage)
    distillation_min, distillation_note = _distillation(registry, lineage)
    plan = plan_curation(
        calls,
        latest_feedback(feedback_files),
        traffic.earlier_prompts(bucket, lineage.name),
        evaluation_set.items,
        prefer,
        config.curation,
        leakage=lineage.leakage,
        min_records=lineage.model_family().min_records,
        distillation_min=distillation_min,
        distillation_note=distillation_note,
    )
    result = CurateResult(
        lineage=lineage.name,
        dry_run=request.dry_run,
        since=since.isoformat(),
        until=until.isoformat(),
        log_location=storage.s3_uri(log_bucket, log_root),
        log_objects=objects,
        logged_calls=len(parsed.calls),
        lineage_calls=len(calls),
        skipped_records=parsed.skipped,
        problems=problems[:MAX_LISTED_PROBLEMS],
        problem_count=len(problems),
        feedback_files=[
            {"uri": storage.s3_uri(bucket, key), "valid": report.valid, "summary": report.summary()}
            for key, report in feedback_files
        ],
        prefer=list(prefer),
        counts=plan.counts(),
        choices=[choice.to_dict() for choice in plan.choices[:MAX_LISTED_CHOICES]],
        notes=[*([gaps_note] if gaps_note else []), *plan.notes],
        traffic_share=plan.traffic_share,
    )
    if not request.dry_run:
        _write(result, plan, lineage, config, bucket, now, since)
    return result


def _served_models(registry: Registry, lineage: LineageConfig) -> set[str]:
    """Every model id the lineage's serving pointer has named: now, at each promotion, and at the start."""
    served = {starting_point(lineage)}
    served |= {r.serving_model_id for r in registry.list_iterations(lineage.name) if r.serving_model_id}
    served.add(serving_pointer.read(settings.serving_parameter(lineage.name)))
    return served


def _weakest_first(lineage: LineageConfig) -> tuple[list[str], str | None]:
    """The categories curation aims at, weakest first: the gap analysis's (logic/gaps.weakest_categories,
    the champion's failing categories by its primary score), the one answer `iterft gaps` and the round's
    notification give; none before an evaluated round, or why the analysis could not be made."""
    try:
        analysis = lineage_gaps(settings.table_name(), lineage.name, lineage.evaluation.metric)
    except GapAnalysisError as error:
        return [], f"no category preference: {error}"
    if analysis is None:
        return [], None
    return weakest_categories(analysis, len(analysis.categories)), None


def _distillation(registry: Registry, lineage: LineageConfig) -> tuple[int | None, str | None]:
    """The fewest prompts a distillation round of the lineage takes, or None and why it cannot run one
    from a curated file."""
    distillation = lineage.strategies.distillation
    if distillation is None:
        return None, "the lineage has no strategies.distillation settings: they are not used"
    if distillation.invocation_logs is not None:
        return None, (
            "the lineage distils from the invocation logs themselves (an empty upload starts such a round): "
            "no prompts file is written"
        )
    state = registry.get_state(lineage.name)
    champion = state.champion_iteration if state is not None else 0
    base = produced_by(lineage, champion, lambda number: registry.get_iteration(lineage.name, number))
    problem = chain_problem(
        Strategy.DISTILLATION, base, allow_undocumented=lineage.strategies.allow_undocumented_chains
    )
    if problem is not None:
        return None, f"a distillation round would be refused: {problem}"
    return DISTILLATION_PROMPTS[0], None


def _write(
    result: CurateResult,
    plan: CurationPlan,
    lineage: LineageConfig,
    config: TrafficConfig,
    bucket: str,
    now: datetime,
    since: date,
) -> None:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    data_format = lineage.model_family().data_format
    redact_with = config.curation.language if config.curation.redact_pii else None
    batches = (
        (Strategy.FINE_TUNING, plan.fine_tuning if plan.write_fine_tuning else []),
        (Strategy.DISTILLATION, plan.distillation if plan.write_distillation else []),
    )
    for strategy, chosen in batches:
        if not chosen:
            continue
        rows = []
        for candidate in chosen:
            question, answer = candidate.call.question, candidate.answer
            if redact_with is not None:
                question, changed = _redacted(question, redact_with)
                result.redacted += changed
                if answer is not None:
                    answer, changed = _redacted(answer, redact_with)
                    result.redacted += changed
            rows.append(training_record(question, answer, candidate.call.system, data_format))
        corrected = sum(1 for c in chosen if c.trust == "corrected")
        trusted = f" ({corrected} corrected, {len(rows) - corrected} well-rated)"
        window = f"{since.isoformat()}..{now.date().isoformat()}"
        source = f"curated {stamp}: {len(rows)} {strategy} records from invocation logs {window}"
        source += trusted if strategy is Strategy.FINE_TUNING else ""
        kind = strategy.value.replace("_", "-")
        name = f"{traffic.CURATED_NAME_PREFIX}{stamp}-{kind}{naming.DATASET_SUFFIX}"
        key = f"{naming.incoming_prefix(lineage.name)}{name}"
        metadata = {STRATEGY_METADATA_KEY: strategy.value, SOURCE_METADATA_KEY: source}
        version = traffic.put_curated(bucket, key, rows, metadata)
        result.written.append(
            WrittenDataset(
                uri=storage.s3_uri(bucket, key),
                version_id=version,
                strategy=strategy.value,
                records=len(rows),
            )
        )


def _redacted(text: str, language: str) -> tuple[str, int]:
    entities = traffic.detect_pii(text, language)
    return (redact(text, entities), 1) if entities else (text, 0)
