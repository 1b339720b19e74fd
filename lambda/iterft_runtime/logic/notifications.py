"""What the team is told: one message per finished round, and one per upload nobody can take."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iterft_runtime.logic.gaps import weakest_in_summary
from iterft_runtime.logic.paired import Power, power_warning
from iterft_runtime.logic.validation import CODES, Severity
from iterft_runtime.models.records import Decision, IterationRecord, delta_value

MAX_SUBJECT = 99
"""SNS subjects must be under 100 characters, on one line."""
MAX_LISTED_PROBLEMS = 5
MAX_LISTED_SCORES = 20
"""A converged lineage's notification lists its last rounds' scores, not every one (an SNS message is
at most 256 KB, and a lineage's history only grows)."""
WEAKEST_NOTIFIED = 3
"""How many of the champion's weakest categories the notification of an evaluated round names."""
MAX_LISTED_MESSAGE = 300
"""A listed problem's message is cut here: it may quote the file (a key, a role, a token), and it travels
in the workflow's state (at most 256 KiB) and the notification; the report in S3 has it whole."""


def listed_problem(problem: Mapping[str, Any]) -> dict[str, Any]:
    """A problem as the notification lists it: its message cut at MAX_LISTED_MESSAGE characters."""
    message = str(problem.get("message", ""))
    if len(message) > MAX_LISTED_MESSAGE:
        message = message[: MAX_LISTED_MESSAGE - 3] + "..."
    return {**problem, "message": message}


@dataclass(frozen=True)
class Notification:
    subject: str
    body: str


@dataclass(frozen=True)
class Convergence:
    """What a converged lineage's notification says: the rule that fired and the scores behind it."""

    threshold: float
    rounds: int
    paused: bool
    score_history: Sequence[tuple[int, float]]
    """(iteration, the candidate's primary score) for every scored round, in order."""


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
    convergence: Convergence | None = None,
) -> Notification:
    """The message for a finished round; `problem_counts`/`problems` come from validation (invalid_data);
    `convergence` when the lineage is converged after this round."""
    head = f"iterft {lineage} #{record.iteration}"
    lines = [f"Lineage: {lineage}", f"Iteration: {record.iteration}{_parent(record)}"]
    if record.rollback_of is not None:
        lines.append(f"Rollback to: #{record.rollback_of}, requested by {record.requested_by or 'unknown'}")
    else:
        lines.append(f"Dataset: {record.dataset or record.dataset_key or 'unknown'}")
    lines.append(f"Decision: {record.decision}")
    if record.serving_model_id:
        lines.append(f"Serving now: {record.serving_model_id}")
    if record.reason:
        lines.append(f"Reason: {record.reason}")
    lines += leakage_lines(record.leakage)

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
        inconclusive = " (inconclusive)" if record.inconclusive else ""
        subject = f"{head} {record.decision}{inconclusive}{_score_summary(record)}"
        lines += _model_lines(record) + _score_lines(lineage, record)
    else:
        subject = f"{head} {record.decision}"
    if convergence is not None:
        subject = f"{head} converged, {record.decision}{_score_summary(record)}"
        lines += _convergence_lines(lineage, record, convergence)
    if record.cost:
        lines.append(cost_line(record.cost))
    return Notification(subject=subject_line(subject), body="\n".join(lines) + "\n")


_LEAKAGE_DONE = {
    "reject": "the round is refused before any job",
    "drop": "those records were dropped; the round trains on the rest",
    "warn": "kept (leakage.action warn): the round trains on them",
}


def leakage_lines(leakage: Mapping[str, Any]) -> list[str]:
    """What the leakage check found and did, with the first matching lines (none when nothing matched)."""
    matched = int(leakage.get("matched") or 0)
    if not matched:
        return []
    action = str(leakage.get("action"))
    lines = [
        f"Evaluation overlap: {matched} training record(s) duplicate evaluation prompts "
        f"({leakage.get('exact', 0)} exact, {leakage.get('near', 0)} near: Jaccard >= "
        f"{leakage.get('threshold')} over word {leakage.get('shingle_words')}-shingles); "
        f"{_LEAKAGE_DONE.get(action, action)}"
    ]
    for found in leakage.get("first") or []:
        how = "exact" if found.get("exact") else f"Jaccard {float(found.get('similarity') or 0):.2f}"
        lines.append(
            f"  line {found.get('line')} ({found.get('where')}) = evaluation line "
            f"{found.get('evaluation_line')} ({how})"
        )
    if matched > len(leakage.get("first") or []):
        lines.append("  (every match is in the validation report)")
    return lines


def cost_line(cost: Mapping[str, Any]) -> str:
    """The round's estimated cost in one line: the total, then what it was counted from."""
    tokens, epochs = int(cost.get("training_tokens") or 0), int(cost.get("epochs") or 0)
    hours = float(cost.get("capacity_hours") or 0.0)
    total = cost.get("total_usd")
    head = money(total) if total is not None else "no total (set the lineage's cost prices)"
    return (
        f"Estimated cost: {head} (training {tokens:,} tokens x {epochs} epoch(s): "
        f"{_usd(cost.get('training_usd'))}; evaluation capacity {hours:.2f} h: "
        f"{_usd(cost.get('capacity_usd'))})"
    )


def budget_notification(
    lineage: str, month: str, spend_usd: float, budget_usd: float, queued: int
) -> Notification:
    """The lineage's monthly budget is reached: its uploads wait, and how rounds start again."""
    body = (
        f"Lineage: {lineage}\n"
        f"Monthly budget reached: estimated spend in {month} (UTC) is {money(spend_usd)} "
        f"of the {money(budget_usd)} monthly budget (cost.monthly_budget_usd).\n"
        f"No round starts: {queued} upload(s) are queued and new uploads are recorded and queued "
        f"(see `iterft status {lineage}`).\n"
        f"Rounds start again, in upload order, with the next upload or `iterft resume {lineage}` "
        f"once the month (UTC) has changed or the deployed budget is raised.\n"
    )
    subject = f"iterft {lineage} monthly budget reached: {money(spend_usd)} of {money(budget_usd)} in {month}"
    return Notification(subject=subject_line(subject), body=body)


def money(usd: float) -> str:
    """Dollars to the cent, or to a hundredth of a cent under a dollar (small rounds stay visible)."""
    return f"${usd:,.2f}" if abs(usd) >= 1 or usd == 0 else f"${usd:.4f}"


def _usd(value: object) -> str:
    return money(float(value)) if isinstance(value, int | float) else "price not set"


def approval_notification(lineage: str, iteration: int, reason: str, timeout_hours: float) -> Notification:
    """A passing candidate waits for a reviewer: what to run, and what silence means."""
    body = (
        f"Lineage: {lineage}\nIteration: {iteration}\nGate: {reason}\n"
        f"The candidate passed the gate and waits for a review:\n"
        f"  iterft approve {lineage} {iteration}\n"
        f"  iterft reject {lineage} {iteration} --reason '...'\n"
        f"No answer within {timeout_hours:g} hour(s) counts as a rejection.\n"
    )
    return Notification(subject=subject_line(f"iterft {lineage} #{iteration} awaits approval"), body=body)


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


def _score_lines(lineage: str, record: IterationRecord) -> list[str]:
    lines = []
    if record.eval_score is not None and record.champion_score is not None:
        lines.append(
            f"Score ({record.metric}, evaluation set {record.eval_set_version}): candidate "
            f"{record.eval_score:.4f}, champion {record.champion_score:.4f}, "
            f"required improvement {record.min_improvement if record.min_improvement is not None else 'n/a'}"
        )
    lines += uncertainty_lines(record)
    weakest = weakest_line(lineage, record)
    if weakest:
        lines.append(weakest)
    if record.results_uri:
        lines.append(f"Per-prompt results: {record.results_uri}")
    return lines


def weakest_line(lineage: str, record: IterationRecord) -> str | None:
    """The champion's weakest categories after an evaluated round (its candidate when promoted, else the
    champion it faced), from the round's metrics summary on its primary metric; None when the set has no
    category below a perfect score."""
    promoted = record.decision == Decision.PROMOTED
    summary = (record.metrics if promoted else record.champion_metrics).get(record.metric or "") or {}
    weakest = weakest_in_summary(summary.get("by_category") or {}, WEAKEST_NOTIFIED)
    if not weakest:
        return None
    listed = ", ".join(f"{category} {score:.4f}" for category, score in weakest)
    return (
        f"Weakest categories of the champion ({record.metric}): {listed}; "
        f"the records it fails worst: `iterft gaps {lineage}`"
    )


def uncertainty_lines(record: IterationRecord) -> list[str]:
    """Each metric's paired difference with its interval (the primary first), whether the gate could
    tell, the yardstick's power when it is too small for min_improvement, and the cost per point."""
    lines = []
    power = Power.from_dict(record.power) if record.power else None
    confidence = f"{power.confidence:.0%} " if power is not None else ""
    listed = sorted(record.deltas, key=lambda name: (name != record.metric, name))
    shown = [_delta_text(name, record.deltas[name]) for name in listed]
    if shown:
        lines.append(f"Candidate - champion (mean paired difference, {confidence}CI): " + "; ".join(shown))
    if record.inconclusive:
        more = (
            f"about {record.records_to_resolve:,} more evaluation records would resolve a difference of "
            "this size"
            if record.records_to_resolve is not None
            else "no number of records resolves a difference of exactly the threshold"
        )
        lines.append(f"Inconclusive: the {record.metric} interval straddles the required improvement; {more}")
    warning = power_warning(power) if power is not None else None
    if warning:
        lines.append(f"Yardstick too small: {warning}")
    if record.cost_per_point_usd is not None:
        lines.append(
            f"Estimated cost per point (0.01) of {record.metric} improvement: "
            f"${record.cost_per_point_usd:,.4f}"
        )
    return lines


def _delta_text(name: str, entry: Any) -> str:
    value = delta_value(entry)
    if value is None:
        return f"{name} n/a"
    if isinstance(entry, Mapping) and entry.get("ci_low") is not None and entry.get("ci_high") is not None:
        return f"{name} {value:+.4f} [{float(entry['ci_low']):+.4f}, {float(entry['ci_high']):+.4f}]"
    return f"{name} {value:+.4f}"


def _convergence_lines(lineage: str, record: IterationRecord, convergence: Convergence) -> list[str]:
    lines = [
        f"Converged: the {record.metric or 'primary'} change stayed within ±{convergence.threshold:.4f} "
        f"for {convergence.rounds} decided round(s) in a row (regressions, where the data hurt, not counted)."
    ]
    if convergence.paused:
        lines.append(f"New uploads are queued but start no round until `iterft resume {lineage}`.")
    scores = list(convergence.score_history)
    history = ", ".join(f"#{iteration} {score:.4f}" for iteration, score in scores[-MAX_LISTED_SCORES:])
    if len(scores) > MAX_LISTED_SCORES:
        history = f"{len(scores) - MAX_LISTED_SCORES} earlier round(s), then {history}"
    lines.append(f"Score history ({record.metric or 'primary'}): {history or 'none'}")
    return lines


def _problem_lines(counts: Mapping[str, int], problems: Sequence[Mapping[str, Any]]) -> list[str]:
    """Exact counts per code (warnings marked: they did not fail the file), then the first lines at fault."""
    lines = []
    if counts:
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        lines.append(
            "Problems by code: "
            + ", ".join(
                f"{code} {count}{' (warning)' if _is_warning(code) else ''}" for code, count in ordered
            )
        )
    if problems:
        errors = sum(n for code, n in counts.items() if not _is_warning(code)) if counts else len(problems)
        lines.append(f"First lines at fault (of {errors} errors):")
        for problem in problems[:MAX_LISTED_PROBLEMS]:
            where = f"line {problem['line']}" if problem.get("line") is not None else "file"
            lines.append(f"  {where} [{problem.get('code')}] {problem.get('message')}")
    return lines


def _is_warning(code: str) -> bool:
    return CODES.get(code) is Severity.WARNING


def feedback_problems_notification(
    lineage: str, uri: str, problems: Sequence[tuple[int, str]], report_uri: str
) -> Notification:
    """A feedback file that arrived with problems: each with its line (the first MAX_LISTED_PROBLEMS),
    and that curation will not use it until it is written again without them."""
    lines = [f"Lineage: {lineage}", f"Feedback file: {uri}", f"Problems: {len(problems)}"]
    lines += [
        f"  line {line}: {message}" if line else f"  {message}"
        for line, message in problems[:MAX_LISTED_PROBLEMS]
    ]
    if len(problems) > MAX_LISTED_PROBLEMS:
        lines.append(f"  ... {len(problems) - MAX_LISTED_PROBLEMS} more in the report")
    lines += [
        f"Report: {report_uri}",
        "Curation does not use this file until it is written again without problems "
        f"(`iterft feedback {lineage} --file FILE --check` checks a file before it is written).",
    ]
    subject = f"iterft {lineage} feedback refused: {uri.split('?', 1)[0].rsplit('/', 1)[-1]}"
    return Notification(subject=subject_line(subject), body="\n".join(lines) + "\n")


def upload_not_trained_notification(
    lineage: str, dataset_uri: str, status: str, reason: str, by: str | None = None
) -> Notification:
    """An upload of the lineage that starts no round (refused, ignored, withdrawn or superseded): the
    exact object version, why, and where it is recorded."""
    lines = [f"Lineage: {lineage}", f"Upload: {dataset_uri}", f"Recorded as: {status}", f"Reason: {reason}"]
    if by:
        lines.append(f"By: {by}")
    lines.append(f"No round runs on it; it is listed by `iterft history {lineage} --uploads`.")
    name = dataset_uri.rsplit("/", 1)[-1]
    subject = f"iterft {lineage} upload {status}: {name}"
    return Notification(subject=subject_line(subject), body="\n".join(lines) + "\n")
