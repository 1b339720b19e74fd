"""Validate dataset: hyperparameter overrides, then a streaming check of the file for the family, as the
data of the round's strategy.

A bad upload's `decision` is what the round records: `rejected` for hyperparameter overrides
outside the family's ranges (no data was looked at), `invalid_data` for a file Bedrock would
refuse. A valid file is copied (that exact version) to the round's validated/ key, which the job trains
on; an invalid one is copied to quarantine/ beside a JSON report with every problem's line.
Result at `$.validation` (docs/architecture.md): bounded whatever the file, it lists the first few
problems, each message cut short (the report in S3 has them all, whole).

A valid upload also needs a yardstick to be measured on: the lineage's evaluation set must exist and
parse (and, for `evaluation.managed_job`, fit Bedrock's evaluation job). Otherwise this step fails
the round now, saying why, before any training is paid for (not the upload's fault, so not
invalid_data: the failure path records and notifies it).

The same pass runs the leakage check (logic/leakage.py): records whose prompt duplicates an evaluation
prompt are problems on their lines, with the evaluation line they match. Under the lineage's
`leakage.action`: `reject` makes them errors (invalid_data, quarantined like any invalid file); `drop`
trains on the other records, streamed to the validated/ key (and refuses the round when too few would be
left); `warn` trains on the whole upload. The result's `leakage` says what was found and done, and a valid
upload with findings gets its report beside the validated copy.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal import storage
from iterft_runtime.dal.evaluation_sets import evaluation_set_uri, read_evaluation_set
from iterft_runtime.dal.registry import Registry
from iterft_runtime.handlers import settings
from iterft_runtime.logic.curation import dataset_source
from iterft_runtime.logic.evaluation import (
    EvaluationSet,
    EvaluationSetError,
    check_shard_count,
    shard_records,
)
from iterft_runtime.logic.hyperparameters import merge_hyperparameters, overrides_from_metadata
from iterft_runtime.logic.leakage import LeakageCheck, LeakageIndex, without_lines
from iterft_runtime.logic.managed_evaluation import check_prompt_count
from iterft_runtime.logic.notifications import MAX_LISTED_PROBLEMS, listed_problem
from iterft_runtime.logic.strategies import (
    choose_strategy,
    invocation_log_source,
    produced_by,
    requested_strategy,
)
from iterft_runtime.logic.validation import Severity, validate_lines
from iterft_runtime.logic.validation_strategies import minimum_records
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.records import Decision
from iterft_runtime.models.steps import RoundState, ValidationResult, dump
from iterft_runtime.models.strategy import Strategy

logger = Logger()


def _check_yardstick(lineage: LineageConfig, evaluation_set: EvaluationSet | None = None) -> None:
    """Raise EvaluationSetMissingError / EvaluationSetError / ManagedEvaluationError, each naming the
    set, when the round could not be evaluated (too many shards: counted as if the champion answers)."""
    bucket = settings.bucket_name()
    if evaluation_set is None:
        evaluation_set, _ = read_evaluation_set(bucket, lineage.name)
    if lineage.evaluation.managed_job is not None:
        check_prompt_count(len(evaluation_set.items))
    per_shard = shard_records(lineage.evaluation, champion_answers=True)
    check_shard_count(len(evaluation_set.items), per_shard, evaluation_set_uri(bucket, lineage.name))


def _round_strategy(lineage: LineageConfig, requested: str | None) -> tuple[Strategy, str | None]:
    """The round's strategy, and why it cannot run on the lineage's champion (None: it can)."""
    registry = Registry(settings.table_name())
    state = registry.get_state(lineage.name)
    champion = state.champion_iteration if state is not None else 0
    base = produced_by(lineage, champion, lambda number: registry.get_iteration(lineage.name, number))
    return choose_strategy(lineage, requested, settings.region(), base)


def _from_invocation_logs(
    result: ValidationResult, lineage: LineageConfig, source: storage.ObjectInfo, uri: str, logs: str
) -> ValidationResult:
    """A round that distils from invocation logs trains on the logs, none of the upload (a job takes a
    file or logs, not both): the upload only starts it, so it must be empty, else the round is rejected
    rather than silently ignoring its data. Nothing is copied to validated/."""
    if any(line.strip() for line in storage.iter_lines(source.bucket, source.key, source.version_id)):
        result.reason = (
            f"strategy: distillation reads the invocation logs at {logs} (strategies.distillation."
            f"invocation_logs), not the upload: an upload only starts such a round and must be empty, "
            f"{uri} is not (to train on its records, upload it with S3 metadata strategy=fine_tuning)"
        )
        logger.info("upload beside invocation logs", extra={"lineage": lineage.name, "logs": logs})
        return result
    _check_yardstick(lineage)
    result.valid, result.decision = True, None
    result.reason = f"trains on the invocation logs at {logs}; the upload only started the round"
    return result


def _findings(check: LeakageCheck) -> dict[str, Any]:
    """The report's `leakage`: the summary, and every matching line (the problems list 50 a code)."""
    summary = {key: value for key, value in check.summary().items() if key != "first"}
    return {**summary, "matches": [finding.to_dict() for finding in check.findings]}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    doc = RoundState.model_validate(event)
    lineage, iteration, dataset = doc.lineage, doc.iteration, doc.dataset_ref
    family = lineage.model_family()
    bucket = settings.bucket_name()
    source = storage.find_object(dataset.bucket, dataset.key, dataset.version_id)

    strategy, refused = _round_strategy(lineage, requested_strategy(dataset.strategy, source.metadata))
    overrides = overrides_from_metadata(family, source.metadata)
    hyperparameters, bad = merge_hyperparameters(family, lineage.hyperparameters, overrides)
    result = ValidationResult(
        valid=False,
        decision=Decision.REJECTED.value,
        records=0,
        size_bytes=source.size,
        estimated_tokens=0,
        training_data_uri=None,
        report_uri=None,
        hyperparameters=hyperparameters,
        strategy=strategy.value,
        source=dataset_source(source.metadata),
        reason="",
        problem_counts={},
        problems=[],
    )
    if refused is None and overrides and strategy in (Strategy.DISTILLATION, Strategy.REINFORCEMENT):
        refused = f"a {strategy} round takes no hp- overrides (its settings are strategies.{strategy})"
    if refused:
        result.reason = f"strategy: {refused}"
        logger.info("strategy refused", extra={"lineage": lineage.name, "reason": refused})
        return dump(result)
    if bad:
        result.reason = "invalid hyperparameter overrides in the upload's metadata: " + "; ".join(bad)
        logger.info("invalid hyperparameters", extra={"lineage": lineage.name, "problems": bad})
        return dump(result)
    logs = invocation_log_source(lineage, strategy)
    if logs is not None:
        return dump(_from_invocation_logs(result, lineage, source, dataset.s3_uri, logs.s3_uri))

    # Read first, so the same pass checks for leakage; a missing or broken set fails only a valid upload.
    try:
        evaluation_set: EvaluationSet | None = read_evaluation_set(bucket, lineage.name)[0]
        unreadable: EvaluationSetError | None = None
    except EvaluationSetError as error:
        evaluation_set, unreadable = None, error
    check = None
    if evaluation_set is not None:
        prompts = ((item.line, item.prompt) for item in evaluation_set.items)
        check = LeakageCheck(LeakageIndex(prompts, lineage.leakage))
    report = validate_lines(
        storage.iter_lines(source.bucket, source.key, source.version_id),
        family,
        declared_size=source.size,
        strategy=strategy,
        leakage=check,
    )
    dropped: frozenset[int] = frozenset()
    if check is not None:
        dropped = check.apply(report, minimum_records(family, strategy))
        result.leakage = check.summary()
    result.records = report.records - len(dropped)
    result.size_bytes = report.size_bytes
    result.estimated_tokens = report.estimated_tokens
    if dropped and report.records:  # the dropped records' share (each record's own is not kept)
        result.estimated_tokens = report.estimated_tokens * result.records // report.records
    result.decision = Decision.INVALID_DATA.value
    if report.valid:
        if unreadable is not None:
            raise unreadable
        _check_yardstick(lineage, evaluation_set)
        result.valid, result.decision = True, None
        result.reason = report.summary()
        target = naming.validated_key(lineage.name, iteration)
        if dropped:
            kept = without_lines(storage.iter_lines(source.bucket, source.key, source.version_id), dropped)
            result.training_data_uri = storage.put_lines(bucket, target, kept)
            result.reason += (
                f"; trains on {result.records} records, {len(dropped)} dropped (leakage.action drop)"
            )
        else:
            result.training_data_uri = storage.copy_object(
                source.bucket, source.key, source.version_id, bucket, target
            )
        if check is not None and check.findings:
            document = {**report.to_dict(), "source": dataset.s3_uri, "leakage": _findings(check)}
            result.report_uri = storage.put_json(
                bucket, naming.validated_report_key(lineage.name, iteration), document
            )
    else:
        quarantined = storage.copy_object(
            source.bucket,
            source.key,
            source.version_id,
            bucket,
            naming.quarantine_key(lineage.name, iteration, source.key),
        )
        document = {**report.to_dict(), "source": dataset.s3_uri, "quarantined_copy": quarantined}
        if check is not None and check.findings:
            document["leakage"] = _findings(check)
        result.report_uri = storage.put_json(
            bucket, naming.validation_report_key(lineage.name, iteration), document
        )
        result.reason = f"{dataset.s3_uri}: {report.summary()}"  # the exact version at fault
        result.problem_counts = dict(report.counts)
        errors = [problem for problem in report.problems if problem.severity is Severity.ERROR]
        result.problems = [listed_problem(problem.to_dict()) for problem in errors[:MAX_LISTED_PROBLEMS]]
    logger.info(
        "dataset validated",
        extra={"lineage": lineage.name, "iteration": iteration, "summary": report.summary()},
    )
    return dump(result)
