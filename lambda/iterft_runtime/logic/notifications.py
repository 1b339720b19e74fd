"""What the team is told: one message per finished round, and one per upload nobody can take."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iterft_runtime.models.records import Decision, IterationRecord

MAX_SUBJECT = 99
"""SNS subjects must be under 100 characters, on one line."""
MAX_LISTED_PROBLEMS = 5


@dataclass(frozen=True)
class Notification:
    subject: str
    body: str


def subject_line(text: str) -> str:
    """`text` made a valid SNS subject: control characters become spaces, cut at MAX_SUBJECT."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= MAX_SUBJECT else flat[: MAX_SUBJECT - 3].rstrip() + "..."


def round_notification(
    lineage: str,
    record: IterationRecord,
    *,
    problem_counts: Mapping[str, int] | None = None,
    problems: Sequence[Mapping[str, Any]] = (),
) -> Notification:
    """The message for a finished round; `problem_counts`/`problems` come from validation (invalid_data)."""
    head = f"iterft {lineage} #{record.iteration}"
    lines = [f"Lineage: {lineage}", f"Iteration: {record.iteration}{_parent(record)}"]
    lines.append(f"Dataset: {record.dataset or record.dataset_key or 'unknown'}")
    lines.append(f"Decision: {record.decision}")
    if record.reason:
        lines.append(f"Reason: {record.reason}")

    if record.decision == Decision.INVALID_DATA:
        file_name = (record.dataset_key or "dataset").rsplit("/", 1)[-1]
        subject = f"{head} invalid data: {file_name}"
        lines += _problem_lines(problem_counts or {}, problems)
        if record.report_uri:
            lines.append(f"Full report: {record.report_uri}")
    elif record.decision == Decision.FAILED:
        subject = f"{head} failed"
        lines.append(f"Cause: {record.reason or 'unknown'}")
        lines += _model_lines(record)
    elif record.decision in (Decision.PROMOTED, Decision.REJECTED):
        subject = f"{head} {record.decision}{_score_summary(record)}"
        lines += _model_lines(record) + _score_lines(record)
    else:
        subject = f"{head} {record.decision}"
    return Notification(subject=subject_line(subject), body="\n".join(lines) + "\n")


def unknown_lineage_notification(key: str, lineage: str | None, known: Iterable[str]) -> Notification:
    """An upload under incoming/ that no configured lineage owns: nothing was started for it."""
    names = sorted(known)
    listed = ", ".join(names) if names else "(none configured)"
    body = (
        f"The upload {key} was not processed: "
        + (
            f"no lineage named {lineage!r} is configured."
            if lineage
            else "it is not under incoming/<lineage>/."
        )
        + f"\nKnown lineages: {listed}\n"
        + "Upload training data to incoming/<lineage>/<file>.jsonl for one of them.\n"
    )
    return Notification(subject=subject_line(f"iterft upload ignored: unknown lineage for {key}"), body=body)


def _parent(record: IterationRecord) -> str:
    if record.parent_iteration is None:
        return ""
    return (
        " (parent: starting point)"
        if record.parent_iteration == 0
        else f" (parent: #{record.parent_iteration})"
    )


def _score_summary(record: IterationRecord) -> str:
    if record.eval_score is None or record.champion_score is None:
        return ""
    delta = record.eval_score - record.champion_score
    return (
        f": {record.metric or 'score'} {record.eval_score:.3f} vs {record.champion_score:.3f} ({delta:+.3f})"
    )


def _model_lines(record: IterationRecord) -> list[str]:
    lines = []
    if record.base_model:
        lines.append(f"Base model: {record.base_model}")
    if record.job_arn:
        lines.append(f"Customization job: {record.job_arn}")
    if record.output_model_arn:
        lines.append(f"Candidate model: {record.output_model_arn}")
    if record.training_loss is not None:
        validation = f"{record.validation_loss:.4f}" if record.validation_loss is not None else "n/a"
        lines.append(f"Final training loss: {record.training_loss:.4f}; validation loss: {validation}")
    return lines


def _score_lines(record: IterationRecord) -> list[str]:
    lines = []
    if record.eval_score is not None and record.champion_score is not None:
        lines.append(
            f"Score ({record.metric}, evaluation set {record.eval_set_version}): candidate "
            f"{record.eval_score:.4f}, champion {record.champion_score:.4f}, "
            f"required improvement {record.min_improvement if record.min_improvement is not None else 'n/a'}"
        )
    if record.results_uri:
        lines.append(f"Per-prompt results: {record.results_uri}")
    return lines


def _problem_lines(counts: Mapping[str, int], problems: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    if counts:
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        lines.append("Problems by code: " + ", ".join(f"{code} {count}" for code, count in ordered))
    if problems:
        lines.append(f"First problems (of {sum(counts.values()) if counts else len(problems)}):")
        for problem in problems[:MAX_LISTED_PROBLEMS]:
            where = f"line {problem['line']}" if problem.get("line") is not None else "file"
            lines.append(f"  {where} [{problem.get('code')}] {problem.get('message')}")
    return lines
