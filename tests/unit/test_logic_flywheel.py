"""Invocation log parsing, feedback validation and curation (logic/invocation_logs, feedback, curation)."""

from __future__ import annotations

import gzip
import json

from iterft_runtime.logic.curation import Trust, belongs_to, plan_curation, redact, training_record
from iterft_runtime.logic.evaluation import EvaluationItem
from iterft_runtime.logic.feedback import Feedback, check_feedback
from iterft_runtime.logic.invocation_logs import LoggedCall, parse_logs
from iterft_runtime.models.families import DataFormat
from iterft_runtime.models.leakage import LeakageConfig
from iterft_runtime.models.traffic import CurationConfig, TrafficConfig


def _record(request_id: str, question: str, answer: str, **extra: object) -> dict[str, object]:
    return {
        "schemaType": "ModelInvocationLog",
        "requestId": request_id,
        "timestamp": "2026-12-01T10:00:00Z",
        "operation": "Converse",
        "modelId": "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc",
        "input": {"inputBodyJson": {"messages": [{"role": "user", "content": [{"text": question}]}]}},
        "output": {"outputBodyJson": {"output": {"message": {"content": [{"text": answer}]}}}},
        **extra,
    }


def test_log_records_inline_and_large_bodies_malformed_lines_reported_and_nothing_lost() -> None:
    big = {"messages": [{"role": "user", "content": [{"text": "A long question?"}]}]}
    large = _record("r2", "", "")
    large["input"] = {"inputBodyS3Path": "s3://logs/AWSLogs/data/r2-input.json.gz"}
    lines = [
        json.dumps(_record("r1", "Where is my invoice?", "In Billing.", requestMetadata={"lineage": "a"})),
        "{not json",
        json.dumps(large),
        json.dumps({"schemaType": "Other"}),
        json.dumps(_record("r3", "Missing body?", "x") | {"input": {"inputBodyS3Path": "s3://logs/gone"}}),
        json.dumps(_record("r4", "Last one?", "Yes.")),
    ]
    bodies = {"s3://logs/AWSLogs/data/r2-input.json.gz": gzip.compress(json.dumps(big).encode())}
    parsed = parse_logs([("k.json.gz", gzip.compress("\n".join(lines).encode()))], bodies.get)
    assert [c.request_id for c in parsed.calls] == ["r1", "r2", "r4"]
    assert parsed.calls[0].metadata == {"lineage": "a"} and parsed.calls[0].answer == "In Billing."
    assert parsed.calls[1].question == "A long question?"
    assert [(p.line, p.message) for p in parsed.problems] == [
        (2, "not JSON"),
        (5, "the input body at s3://logs/gone does not exist"),
    ]
    assert parsed.skipped == 1


def test_feedback_every_problem_with_its_line() -> None:
    report = check_feedback(
        [
            '{"request_id": "a", "rating": 5}',
            '{"request_id": "b", "rating": 0, "extra": 1}',
            "nope",
            '{"request_id": "a", "rating": 3, "corrected_answer": "Fixed."}',
            '{"rating": true}',
        ]
    )
    lines = [line for line, _ in report.problems]
    assert lines == [2, 2, 3, 4, 5, 5] and not report.valid
    assert check_feedback(['{"request_id": "x", "rating": 2, "corrected_answer": "Do this."}']).valid


def _call(request_id: str, question: str, when: str = "2026-12-01T10:00:00Z", **metadata: str) -> LoggedCall:
    return LoggedCall(request_id, when, "m", "Converse", question, "logged answer", metadata, "k line 1")


EVAL = [
    EvaluationItem(1, "How much storage does the free plan have?", "5 GB", "storage"),
    EvaluationItem(2, "How do I cancel my plan?", "Settings", "billing"),
]


def test_curation_dedupes_prefers_weak_categories_and_keeps_the_budget() -> None:
    calls = [
        _call("1", "Can I cancel my subscription online today?"),
        _call("2", "How much free storage space do I get?"),
        _call("3", "How much free storage space do I get?", "2026-12-02T10:00:00Z"),
        _call("4", "How big is the storage quota on the free plan?"),
        _call("5", "What is my refund status for an invoice?"),
        _call("6", "How do I cancel my plan?"),
        _call("7", "How do I cancel my plan today?"),  # near the evaluation prompt: the leakage check's
    ]
    feedback = {c.request_id: Feedback(c.request_id, 2, corrected_answer="Right.") for c in calls}
    settings = CurationConfig(record_budget=2, near_duplicate_threshold=0.5)
    plan = plan_curation(
        calls,
        feedback,
        [("Can I cancel my subscription online today", "earlier line 1")],
        EVAL,
        ["storage", "billing"],
        settings,
        leakage=LeakageConfig(),
        min_records=1,
        distillation_min=None,
        distillation_note="none",
    )
    reasons = {c.request_id: c.reason for c in plan.choices}
    assert reasons["6"].startswith("the evaluation set's prompt")
    assert reasons["7"] == "near (similarity 0.80) the evaluation set's prompt (line 2)"
    assert reasons["1"].startswith("exact duplicate of earlier line 1")
    assert [c.call.request_id for c in plan.fine_tuning] == ["3", "4"]  # storage first, newest of a prompt
    assert reasons["2"].startswith("exact duplicate of request 3")
    assert reasons["5"] == "over the record budget (2)"
    assert all(c.trust == Trust.CORRECTED for c in plan.fine_tuning) and plan.write_fine_tuning
    # Every call counts (the one asked twice twice), whatever curation makes of it; the refund question is
    # like no evaluation prompt (no content word in common).
    assert plan.traffic_share == {"billing": 3 / 7, "storage": 3 / 7, "uncategorized": 1 / 7}


def test_too_little_data_writes_nothing_and_says_so() -> None:
    calls = [_call("1", "How much free storage space do I get?")]
    plan = plan_curation(
        calls,
        {"1": Feedback("1", 5)},
        [],
        EVAL,
        [],
        CurationConfig(),
        leakage=LeakageConfig(),
        min_records=8,
        distillation_min=100,
    )
    assert not plan.write_fine_tuning and "under the model's minimum of 8" in plan.notes[0]


def test_traffic_selection_model_and_tag() -> None:
    traffic = TrafficConfig(request_metadata={"lineage": "a"})
    assert belongs_to(_call("1", "q", lineage="a"), {"m"}, traffic)
    assert not belongs_to(_call("1", "q", lineage="b"), {"m"}, traffic)
    assert not belongs_to(_call("1", "q"), {"m"}, traffic)
    assert not belongs_to(_call("1", "q", lineage="a"), {"other"}, traffic)


def test_records_and_redaction() -> None:
    assert training_record("Q", "A", None, DataFormat.PROMPT_COMPLETION) == {"prompt": "Q", "completion": "A"}
    prompt = training_record("Q", None, "S", DataFormat.CONVERSATION)
    assert prompt["messages"] == [{"role": "user", "content": [{"text": "Q"}]}]
    entities = [{"Type": "EMAIL", "BeginOffset": 9, "EndOffset": 20}]
    assert redact("write to a@b.example now", entities) == "write to [EMAIL] now"


def test_feedback_keys_reports_and_the_arrival_notification() -> None:
    from iterft_runtime import naming
    from iterft_runtime.logic.feedback import lineage_of_feedback_key, report_document
    from iterft_runtime.logic.notifications import MAX_LISTED_PROBLEMS, feedback_problems_notification

    assert lineage_of_feedback_key("feedback/support-bot/2026/a.jsonl") == "support-bot"
    assert [
        lineage_of_feedback_key(key) for key in ("feedback/support-bot/", "feedback/x", "incoming/a/b")
    ] == [
        None,
        None,
        None,
    ]
    assert naming.feedback_report_key("feedback/bot/a.jsonl") == "feedback-reports/bot/a.jsonl.report.json"
    lines = [json.dumps({"request_id": f"r-{n}", "rating": 9}) for n in range(1, 9)]
    report = check_feedback(lines)
    document = report_document("s3://b/feedback/bot/a.jsonl", report, max_problems=3)
    assert (document["valid"], document["records"], document["problem_count"]) == (False, 0, 8)
    assert [problem["line"] for problem in document["problems"]] == [1, 2, 3]
    notice = feedback_problems_notification(
        "bot", "s3://b/feedback/bot/a.jsonl?versionId=v", report.problems, "s3://b/r"
    )
    assert notice.subject == "iterft bot feedback refused: a.jsonl"
    listed = [line for line in notice.body.splitlines() if line.startswith("  line ")]
    assert len(listed) == MAX_LISTED_PROBLEMS and listed[0].startswith("  line 1: rating: required")
    assert f"  ... {8 - MAX_LISTED_PROBLEMS} more in the report" in notice.body
