"""Notification texts: one per outcome, subjects valid for SNS."""

from __future__ import annotations

import pytest
from iterft_runtime.logic import notifications
from iterft_runtime.logic.notifications import (
    MAX_LISTED_PROBLEMS,
    MAX_SUBJECT,
    round_notification,
    subject_line,
    unknown_lineage_notification,
)
from iterft_runtime.logic.validation import Severity, validate_lines
from iterft_runtime.models.families import PROMPT_COMPLETION
from iterft_runtime.models.records import IterationRecord

BASE = {
    "iteration": 4,
    "parent_iteration": 3,
    "dataset": "s3://data/incoming/bot/week.jsonl?versionId=v1",
    "dataset_key": "incoming/bot/week.jsonl",
    "base_model": "arn:aws:bedrock:us-east-1:123456789012:custom-model/bot-it0003",
    "job_arn": "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/j4",
    "output_model_arn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/bot-it0004",
    "training_loss": 0.4,
    "metric": "token_f1",
    "eval_set_version": "abcdef0123456789",
    "min_improvement": 0.02,
}


def record(**fields: object) -> IterationRecord:
    return IterationRecord(**{**BASE, **fields})  # type: ignore[arg-type]


def test_promoted() -> None:
    message = round_notification(
        "bot", record(decision="promoted", eval_score=0.71, champion_score=0.65, reason="gain met")
    )
    assert message.subject == "iterft bot #4 promoted: token_f1 0.710 vs 0.650 (+0.060)"
    for text in (
        "Iteration: 4 (parent: #3)",
        "Decision: promoted",
        "Reason: gain met",
        "Candidate model: arn:aws:bedrock:us-east-1:123456789012:custom-model/bot-it0004",
        "candidate 0.7100, champion 0.6500, required improvement 0.02",
        "Final training loss: 0.4000; validation loss: n/a",
    ):
        assert text in message.body


def test_rejected_from_the_starting_point() -> None:
    message = round_notification(
        "bot", record(decision="rejected", parent_iteration=0, eval_score=0.6, champion_score=0.61)
    )
    assert message.subject == "iterft bot #4 rejected: token_f1 0.600 vs 0.610 (-0.010)"
    assert "Iteration: 4 (parent: starting point)" in message.body


def summary(overall: float, **by_category: float) -> dict[str, object]:
    return {"token_f1": {"overall": overall, "by_category": by_category, "categories": len(by_category)}}


def test_an_evaluated_round_names_the_weakest_categories_of_the_champion_after_it() -> None:
    candidate = summary(0.7, returns=0.4, billing=0.9, shipping=0.55, account=0.55, faq=1.0)
    champion = summary(0.6, returns=0.2, billing=0.8)
    promoted = round_notification(
        "bot",
        record(
            decision="promoted",
            eval_score=0.7,
            champion_score=0.6,
            metrics=candidate,
            champion_metrics=champion,
        ),
    )
    line = (
        "Weakest categories of the champion (token_f1): returns 0.4000, account 0.5500, shipping 0.5500; "
        "the records it fails worst: `iterft gaps bot`"
    )
    assert line in promoted.body.splitlines()
    # Rejected: the champion is still the one the candidate faced.
    rejected = round_notification(
        "bot",
        record(
            decision="rejected",
            eval_score=0.7,
            champion_score=0.6,
            metrics=candidate,
            champion_metrics=champion,
        ),
    )
    assert (
        "Weakest categories of the champion (token_f1): returns 0.2000, billing 0.8000; "
        "the records it fails worst: `iterft gaps bot`"
    ) in rejected.body.splitlines()


def test_no_weakest_line_without_categories_below_perfect() -> None:
    for metrics in ({}, summary(1.0, faq=1.0), {"rouge_l": summary(0.3, faq=0.3)["token_f1"]}):
        message = round_notification(
            "bot", record(decision="promoted", eval_score=0.7, champion_score=0.6, metrics=metrics)
        )
        assert "Weakest categories" not in message.body


def test_failed_names_the_cause() -> None:
    message = round_notification("bot", record(decision="failed", reason="States.TaskFailed: quota"))
    assert message.subject == "iterft bot #4 failed"
    assert "Cause: States.TaskFailed: quota" in message.body


def test_invalid_data_lists_counts_and_first_problems() -> None:
    problems = [
        {"line": line, "code": "invalid_json", "severity": "error", "message": "invalid JSON"}
        for line in range(1, 9)
    ]
    message = round_notification(
        "bot",
        record(decision="invalid_data", report_uri="s3://data/quarantine/bot/000004/validation-report.json"),
        problem_counts={"invalid_json": 8, "bad_role": 12},
        problems=problems,
    )
    assert message.subject == "iterft bot #4 invalid data: week.jsonl"
    assert "Problems by code: bad_role 12, invalid_json 8" in message.body
    assert "First lines at fault (of 20 errors):" in message.body
    assert "  line 5 [invalid_json] invalid JSON" in message.body
    assert "line 6 " not in message.body
    assert "Full report: s3://data/quarantine/bot/000004/validation-report.json" in message.body


def test_invalid_data_names_the_file_and_marks_warnings_outside_the_error_count() -> None:
    """The handler's shape: counts of every code, the first error problems as dicts, file-level ones last."""
    problems = [
        {"line": 3, "code": "bad_role", "severity": "error", "message": "messages[1].role is 'bot'"},
        {"line": None, "code": "too_few_records", "severity": "error", "message": "3 records"},
    ]
    message = round_notification(
        "bot",
        record(decision="invalid_data", dataset="s3://data/incoming/bot/week.jsonl?versionId=v1"),
        problem_counts={"bad_role": 1, "too_few_records": 1, "duplicate_record": 4},
        problems=problems,
    )
    assert message.subject == "iterft bot #4 invalid data: week.jsonl"
    assert "Dataset: s3://data/incoming/bot/week.jsonl?versionId=v1" in message.body
    assert "Problems by code: duplicate_record 4 (warning), bad_role 1, too_few_records 1" in message.body
    assert "First lines at fault (of 2 errors):" in message.body
    body = message.body.splitlines()
    at = body.index("First lines at fault (of 2 errors):")
    assert body[at + 1 : at + 3] == [
        "  line 3 [bad_role] messages[1].role is 'bot'",
        "  file [too_few_records] 3 records",
    ]


def test_file_level_problems_have_no_line() -> None:
    message = round_notification(
        "bot",
        record(decision="invalid_data"),
        problem_counts={"too_few_records": 1},
        problems=[{"line": None, "code": "too_few_records", "message": "3 records; at least 8 are needed"}],
    )
    assert "  file [too_few_records] 3 records; at least 8 are needed" in message.body


def test_unknown_lineage() -> None:
    message = unknown_lineage_notification("incoming/nobody/a.jsonl", "nobody", ["zeta", "alpha"])
    assert message.subject == "iterft upload ignored: unknown lineage for incoming/nobody/a.jsonl"
    assert "no lineage named 'nobody' is configured" in message.body
    assert "Known lineages: alpha, zeta" in message.body
    outside = unknown_lineage_notification("incoming/a.jsonl", None, [])
    assert "not under incoming/<lineage>/" in outside.body and "(none configured)" in outside.body


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("two\nlines\tand  tabs", "two lines and tabs"),
        ("x" * 150, "x" * (MAX_SUBJECT - 3) + "..."),
        ("é" * 99, "é" * 99),
    ],
)
def test_subject_line(text: str, expected: str) -> None:
    assert subject_line(text) == expected
    assert len(subject_line(text)) <= MAX_SUBJECT < 100


def test_a_long_file_name_keeps_the_subject_under_the_limit() -> None:
    message = round_notification(
        "bot", record(decision="invalid_data", dataset_key="incoming/bot/" + "n" * 200)
    )
    assert len(message.subject) == MAX_SUBJECT and message.subject.endswith("...")


def test_a_validation_report_becomes_the_invalid_data_message() -> None:
    """As the Validate handler passes it on: exact counts of every code, the first errors' dicts."""
    good = b'{"prompt": "p", "completion": "c"}\n'
    report = validate_lines([good, b"oops\n", good, b'{"prompt": ""}\n'], PROMPT_COMPLETION)
    errors = [p.to_dict() for p in report.problems if p.severity is Severity.ERROR][:MAX_LISTED_PROBLEMS]
    message = round_notification(
        "bot", record(decision="invalid_data"), problem_counts=report.counts, problems=errors
    )
    assert (
        "Problems by code: duplicate_record 1 (warning), empty_text 1, invalid_json 1, missing_key 1"
        in message.body
    )
    assert "First lines at fault (of 3 errors):" in message.body
    assert (
        "  line 2 [invalid_json] invalid JSON: unexpected character, expected a JSON value (column 1)"
        in message.body
    )
    assert "  line 4 [empty_text] prompt is empty" in message.body
    assert "  line 4 [missing_key] completion is missing" in message.body


def test_a_listed_problem_message_is_cut_short_the_report_keeps_it_whole() -> None:
    """A message may quote the file (an unexpected key of any length): the state and the notification
    carry at most MAX_LISTED_MESSAGE characters of it."""
    long = {"line": 3, "code": "unexpected_key", "severity": "error", "message": "has keys " + "k" * 10_000}
    short = {"line": 4, "code": "invalid_json", "severity": "error", "message": "invalid JSON"}

    listed = notifications.listed_problem(long)

    assert len(listed["message"]) == notifications.MAX_LISTED_MESSAGE and listed["message"].endswith("...")
    assert {key: value for key, value in listed.items() if key != "message"} == {
        key: value for key, value in long.items() if key != "message"
    }
    assert notifications.listed_problem(short) == short


def test_a_long_score_history_is_listed_from_its_last_rounds() -> None:
    record = IterationRecord(iteration=60, decision="rejected", metric="token_f1", converged=True)
    history = [(n, n / 100) for n in range(1, 61)]
    convergence = notifications.Convergence(threshold=0.01, rounds=2, paused=False, score_history=history)

    body = round_notification("bot", record, convergence=convergence).body

    [line] = [line for line in body.splitlines() if line.startswith("Score history")]
    assert line == (
        "Score history (token_f1): 40 earlier round(s), then "
        + ", ".join(f"#{n} {n / 100:.4f}" for n in range(41, 61))
    )
