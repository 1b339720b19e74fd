"""Validate dataset: the exact uploaded version is checked, then copied to validated/ or quarantine/."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from iterft_runtime import naming
from iterft_runtime.dal.evaluation_sets import EvaluationSetMissingError
from iterft_runtime.handlers import validate
from iterft_runtime.logic import evaluation as evaluation_logic
from iterft_runtime.logic.evaluation import TooManyShardsError
from iterft_runtime.logic.managed_evaluation import ManagedEvaluationError
from iterft_runtime.models.curation import MAX_SOURCE_CHARS
from runtime_support import (
    BUCKET,
    LINEAGE,
    LINEAGE_CONFIG,
    Aws,
    conversation,
    jsonl,
    valid_dataset,
)

KEY = f"incoming/{LINEAGE}/batch.jsonl"

pytest_plugins = ("runtime_fixtures", "step_contract_fixtures")


EVAL_SET = jsonl([{"prompt": "How do I pay?", "referenceResponse": "Open Billing."}])


def round_input(
    aws: Aws,
    body: bytes,
    metadata: dict[str, str] | None = None,
    key: str = KEY,
    eval_set: bytes | None = EVAL_SET,
    lineage: dict[str, Any] = LINEAGE_CONFIG,
) -> dict[str, Any]:
    """The execution input of a round on `body`; with the lineage's evaluation set in place unless
    `eval_set` is None."""
    if eval_set is not None:
        aws.upload(naming.evaluation_set_key(LINEAGE), eval_set)
    put = aws.upload(key, body, metadata)
    return {
        "kind": "round",
        "lineage": lineage,
        "iteration": 4,
        "dataset": {
            "bucket": BUCKET,
            "key": key,
            "version_id": put["VersionId"],
            "etag": put["ETag"].strip('"'),
            "size": len(body),
            "uploaded_at": "2026-03-01T10:00:00.000Z",
        },
    }


def test_a_valid_file_is_copied_to_validated_with_merged_hyperparameters(aws: Aws) -> None:
    body = valid_dataset(12)
    event = round_input(aws, body, metadata={"hp-epochcount": "3"})
    aws.upload(KEY, b"overwritten later, must not be what trains\n")

    result = validate.handler(event, None)

    validated = naming.validated_key(LINEAGE, 4)
    assert result == {
        "valid": True,
        "decision": None,
        "records": 12,
        "size_bytes": len(body),
        # Per record, its texts' characters / 3, rounded up: "question 0?" + "answer number 0" is
        # 26 characters -> 9 tokens for i < 10, 28 -> 10 for i = 10, 11: 10 x 9 + 2 x 10.
        "estimated_tokens": 110,
        "training_data_uri": f"s3://{BUCKET}/{validated}",
        "report_uri": None,
        "hyperparameters": {"epochCount": "3", "learningRate": "1e-05"},
        "strategy": "fine_tuning",
        "source": None,  # an upload that does not say how it was built
        "reason": "12 records, no problems",
        "problem_counts": {},
        "problems": [],
        "leakage": {
            "action": "reject",
            "threshold": 0.6,
            "shingle_words": 3,
            "evaluation_prompts": 1,
            "matched": 0,
            "exact": 0,
            "near": 0,
            "dropped": 0,
            "first": [],
        },
    }
    assert aws.read(validated) == body
    assert aws.keys(naming.QUARANTINE_PREFIX) == []


def test_a_curated_files_source_metadata_is_passed_on_on_one_line_and_bounded(aws: Aws) -> None:
    """How a dataset was built (a curation's S3 metadata `source`) goes to Begin, which records it."""
    said = "curated 20261204T102747Z:  30 fine_tuning records\t from invocation logs "
    result = validate.handler(round_input(aws, valid_dataset(12), metadata={"source": said}), None)
    assert result["valid"] is True
    assert result["source"] == "curated 20261204T102747Z: 30 fine_tuning records from invocation logs"
    long = validate.handler(round_input(aws, valid_dataset(12), metadata={"source": "x" * 600}), None)
    assert long["source"] == "x" * (MAX_SOURCE_CHARS - 3) + "..."


def test_an_invalid_file_is_quarantined_with_a_report(aws: Aws) -> None:
    records = [conversation(f"q{i}", f"a{i}") for i in range(10)]
    body = jsonl(records[:3]).decode() + "{not json\n" + jsonl(records[3:6]).decode() + '{"messages": []}\n'
    event = round_input(aws, body.encode())

    result = validate.handler(event, None)

    assert result["valid"] is False and result["training_data_uri"] is None
    assert result["decision"] == "invalid_data"
    assert result["records"] == 8
    assert result["problem_counts"] == {"invalid_json": 1, "missing_key": 1, "no_messages": 1}
    assert [(p["line"], p["code"]) for p in result["problems"]] == [
        (4, "invalid_json"),
        (8, "missing_key"),
        (8, "no_messages"),
    ]
    version = event["dataset"]["version_id"]
    assert result["reason"].startswith(
        f"s3://{BUCKET}/{KEY}?versionId={version}: invalid: 8 records, 3 errors"
    )
    report_key = naming.validation_report_key(LINEAGE, 4)
    assert result["report_uri"] == f"s3://{BUCKET}/{report_key}"
    report = json.loads(aws.read(report_key))
    assert report["valid"] is False and report["counts"] == result["problem_counts"]
    assert report["source"].startswith(f"s3://{BUCKET}/{KEY}?versionId=")
    assert aws.read(naming.quarantine_key(LINEAGE, 4, KEY)) == body.encode()
    assert aws.keys(naming.VALIDATED_PREFIX) == []


def test_invalid_hyperparameter_overrides_stop_the_round_before_any_copy(aws: Aws) -> None:
    event = round_input(aws, valid_dataset(), metadata={"hp-epochcount": "9", "hp-batchsize": "4"})

    result = validate.handler(event, None)

    assert result["valid"] is False and result["decision"] == "rejected"
    assert "epochCount=9 is outside 1..5" in result["reason"]
    assert "batchsize is not a hyperparameter of the nova family" in result["reason"]  # S3 lowercases names
    assert aws.keys(naming.VALIDATED_PREFIX) == [] and aws.keys(naming.QUARANTINE_PREFIX) == []


def test_a_url_encoded_key_is_found_decoded(aws: Aws) -> None:
    event = round_input(aws, valid_dataset(), key=f"incoming/{LINEAGE}/week 1.jsonl")
    event["dataset"]["key"] = f"incoming/{LINEAGE}/week+1.jsonl"
    assert validate.handler(event, None)["valid"] is True


def test_a_valid_file_without_an_evaluation_set_fails_before_anything_is_trained(aws: Aws) -> None:
    event = round_input(aws, valid_dataset(12), eval_set=None)
    with pytest.raises(EvaluationSetMissingError, match=f"no evaluation set at s3://{BUCKET}/"):
        validate.handler(event, None)
    assert aws.keys(naming.VALIDATED_PREFIX) == []
    # The upload's own problems still come first: an invalid file is invalid_data, set or no set.
    invalid = validate.handler(round_input(aws, b"not json\n", eval_set=None), None)
    assert invalid["decision"] == "invalid_data"


def test_a_set_too_large_for_the_lineages_managed_job_fails_before_anything_is_trained(aws: Aws) -> None:
    managed = {
        **LINEAGE_CONFIG,
        "base_model": "amazon.titan-text-express-v1:0:8k",
        "hyperparameters": {},
        "serving": {"mode": "provisioned"},
        "evaluation": {"managed_job": {}},
    }
    body = jsonl([{"prompt": f"question {i}?", "completion": f"answer {i}"} for i in range(3)])
    large = jsonl([{"prompt": f"q{i}?", "referenceResponse": f"a{i}"} for i in range(1001)])
    with pytest.raises(
        ManagedEvaluationError, match="1001 records; a Bedrock evaluation job takes at most 1000"
    ):
        validate.handler(round_input(aws, body, eval_set=large, lineage=managed), None)
    assert validate.handler(round_input(aws, body, lineage=managed), None)["valid"] is True


def test_a_set_needing_too_many_shards_fails_before_anything_is_trained(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted as if the champion answers too (13 records a shard at 512-token answers)."""
    monkeypatch.setattr(evaluation_logic, "MAX_SHARDS", 2)
    long_answers = {**LINEAGE_CONFIG, "evaluation": {"max_answer_tokens": 512}}
    large = jsonl([{"prompt": f"q{i}?", "referenceResponse": f"a{i}"} for i in range(27)])
    with pytest.raises(TooManyShardsError, match="27 records need 3 shards of 13 \\(at most 2\\)"):
        validate.handler(round_input(aws, valid_dataset(12), eval_set=large, lineage=long_answers), None)
    assert aws.keys(naming.VALIDATED_PREFIX) == []


def _put_items(aws: Aws, *items: dict[str, Any]) -> None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(aws.table)
    for item in items:
        table.put_item(Item=item)


DISTILLING = {
    **LINEAGE_CONFIG,
    "strategies": {"distillation": {"teacher": "amazon.nova-pro-v1:0"}},
}


def prompts(count: int) -> bytes:
    """A distillation prompts file: user turns awaiting the teacher's answers."""
    turns = [[{"role": "user", "content": [{"text": f"question {i}?"}]}] for i in range(count)]
    return jsonl([{"schemaVersion": "bedrock-conversation-2024", "messages": turn} for turn in turns])


def test_an_upload_names_its_strategy_in_metadata_and_one_the_lineage_lacks_is_refused(aws: Aws) -> None:
    event = round_input(aws, prompts(100), metadata={"strategy": "distillation"}, lineage=DISTILLING)
    result = validate.handler(event, None)
    assert (result["valid"], result["strategy"]) == (True, "distillation")

    refused = validate.handler(
        round_input(aws, valid_dataset(12), metadata={"strategy": "distillation"}), None
    )
    assert (refused["valid"], refused["decision"]) == (False, "rejected")
    assert refused["reason"] == (
        "strategy: distillation needs strategies.distillation settings in the lineage's config"
    )
    assert aws.keys(naming.VALIDATED_PREFIX) == [naming.validated_key(LINEAGE, 4)]  # only the first


def test_a_chain_the_user_guide_does_not_document_is_refused_before_any_job(aws: Aws) -> None:
    """The champion was fine-tuned: distilling it is not a documented chain (fine-tuning it again is)."""
    _put_items(
        aws,
        {
            "pk": naming.lineage_pk(LINEAGE),
            "sk": naming.STATE_SK,
            "champion_model": "m2",
            "champion_iteration": 2,
        },
        {
            "pk": naming.lineage_pk(LINEAGE),
            "sk": naming.iteration_sk(2),
            "iteration": 2,
            "strategy": "fine_tuning",
        },
    )
    refused = validate.handler(
        round_input(aws, valid_dataset(12), metadata={"strategy": "distillation"}, lineage=DISTILLING), None
    )
    assert (refused["valid"], refused["decision"]) == (False, "rejected")
    assert refused["reason"].startswith(
        "strategy: distillation on a model produced by fine_tuning is not a chain"
    )
    assert "allow_undocumented_chains" in refused["reason"]
    fine_tuning = validate.handler(round_input(aws, valid_dataset(12), lineage=DISTILLING), None)
    assert (fine_tuning["valid"], fine_tuning["strategy"]) == (True, "fine_tuning")


def test_a_distillation_upload_is_checked_as_prompts(aws: Aws) -> None:
    """User-only prompts are a valid distillation file; fine-tuning data would need every answer."""
    body = prompts(100)
    distilling_by_default = {
        **DISTILLING,
        "strategies": {**DISTILLING["strategies"], "default": "distillation"},
    }
    result = validate.handler(round_input(aws, body, lineage=distilling_by_default), None)
    assert (result["valid"], result["strategy"], result["records"]) == (True, "distillation", 100)
    assert result["reason"] == "100 records, no problems"
    assert aws.read(naming.validated_key(LINEAGE, 4)) == body


def test_fifty_distillation_prompts_are_invalid_data_before_any_job(aws: Aws) -> None:
    event = round_input(aws, prompts(50), metadata={"strategy": "distillation"}, lineage=DISTILLING)
    result = validate.handler(event, None)
    assert (result["valid"], result["decision"], result["strategy"]) == (
        False,
        "invalid_data",
        "distillation",
    )
    assert result["training_data_uri"] is None and aws.keys(naming.VALIDATED_PREFIX) == []
    assert result["problem_counts"] == {"too_few_records": 1}
    assert result["problems"] == [
        {
            "line": None,
            "code": "too_few_records",
            "severity": "error",
            "message": "50 prompts; at least 100 are needed: Bedrock fails a distillation job with fewer "
            "(custom-distill-prepare)",
        }
    ]
    report = json.loads(aws.read(naming.validation_report_key(LINEAGE, 4)))
    assert (report["strategy"], report["data_format"]) == (
        "distillation",
        "bedrock-conversation-2024 (distillation prompts)",
    )
    assert aws.read(naming.quarantine_key(LINEAGE, 4, KEY)) == prompts(50)


FROM_LOGS = {
    **LINEAGE_CONFIG,
    "strategies": {
        "default": "distillation",
        "distillation": {
            "teacher": "amazon.nova-pro-v1:0",
            "invocation_logs": {"s3_uri": "s3://invocation-logs/AWSLogs/", "request_metadata": {"app": "x"}},
        },
    },
}


def test_a_round_distilling_from_invocation_logs_is_started_by_an_empty_upload(aws: Aws) -> None:
    """The job reads the logs, not the upload (logic/strategies.training_data_config): an empty upload
    starts the round, nothing is copied to validated/."""
    result = validate.handler(round_input(aws, b"", lineage=FROM_LOGS), None)
    assert (result["valid"], result["decision"], result["strategy"]) == (True, None, "distillation")
    assert (result["records"], result["training_data_uri"]) == (0, None)
    assert result["reason"] == (
        "trains on the invocation logs at s3://invocation-logs/AWSLogs/; the upload only started the round"
    )
    blank = validate.handler(round_input(aws, b"\n  \n", lineage=FROM_LOGS), None)
    assert blank["valid"] is True
    assert aws.keys(naming.VALIDATED_PREFIX) == []


def test_an_upload_with_records_is_rejected_where_the_round_reads_invocation_logs(aws: Aws) -> None:
    """Its records would be silently ignored: rejected, saying how to train on them instead."""
    rejected = validate.handler(round_input(aws, valid_dataset(12), lineage=FROM_LOGS), None)
    assert (rejected["valid"], rejected["decision"]) == (False, "rejected")
    assert rejected["reason"].startswith(
        "strategy: distillation reads the invocation logs at s3://invocation-logs/AWSLogs/"
    )
    assert "must be empty" in rejected["reason"] and "strategy=fine_tuning" in rejected["reason"]
    # The same records as a fine-tuning round of that lineage are its training data, validated as usual.
    event = round_input(aws, valid_dataset(12), metadata={"strategy": "fine_tuning"}, lineage=FROM_LOGS)
    fine_tuning = validate.handler(event, None)
    assert (fine_tuning["valid"], fine_tuning["records"]) == (True, 12)
    assert aws.keys(naming.VALIDATED_PREFIX) == [naming.validated_key(LINEAGE, 4)]


def test_an_empty_upload_for_logs_still_needs_the_evaluation_set(aws: Aws) -> None:
    with pytest.raises(EvaluationSetMissingError):
        validate.handler(round_input(aws, b"", eval_set=None, lineage=FROM_LOGS), None)


# The leakage check (issue 17): the upload against the lineage's evaluation set, before any job.

LEAK_EVAL_SET = jsonl(
    [
        {"prompt": "How can I change the credit card I pay with?", "referenceResponse": "Open Billing."},
        {"prompt": "On which day of the month am I charged?", "referenceResponse": "The first."},
    ]
)


def leaky_upload() -> bytes:
    """Twelve records; line 3 asks evaluation line 1's question (other case and punctuation), line 9
    evaluation line 2's with a word added."""
    records = [conversation(f"question {i}?", f"answer number {i}") for i in range(12)]
    records[2] = conversation("HOW CAN I CHANGE THE CREDIT CARD I PAY WITH", "Open Billing.")
    records[8] = conversation("On which day of the month am I charged, please?", "The first.")
    return jsonl(records)


def with_leakage(**leakage: Any) -> dict[str, Any]:
    return {**LINEAGE_CONFIG, "leakage": leakage}


def test_an_upload_with_evaluation_prompts_is_rejected_with_the_matching_lines(aws: Aws) -> None:
    body = leaky_upload()
    event = round_input(aws, body, eval_set=LEAK_EVAL_SET)

    result = validate.handler(event, None)

    assert result["valid"] is False and result["decision"] == "invalid_data"
    assert result["training_data_uri"] is None and aws.keys(naming.VALIDATED_PREFIX) == []
    assert result["problem_counts"] == {"evaluation_prompt": 2}
    assert [(p["line"], p["code"]) for p in result["problems"]] == [
        (3, "evaluation_prompt"),
        (9, "evaluation_prompt"),
    ]
    assert result["problems"][0]["message"] == (
        "the user turn 1 is the prompt of evaluation line 1 (exact, after normalisation): "
        "'How can I change the credit card I pay with?'"
    )
    assert "near duplicate of evaluation line 2's prompt (Jaccard 0.88" in result["problems"][1]["message"]
    assert result["leakage"]["matched"] == 2 and result["leakage"]["action"] == "reject"
    report = json.loads(aws.read(naming.validation_report_key(LINEAGE, 4)))
    assert [(m["line"], m["evaluation_line"], m["exact"]) for m in report["leakage"]["matches"]] == [
        (3, 1, True),
        (9, 2, False),
    ]
    assert aws.read(naming.quarantine_key(LINEAGE, 4, KEY)) == body


def test_drop_trains_on_the_other_records_and_says_how_many_were_dropped(aws: Aws) -> None:
    body = leaky_upload()
    event = round_input(aws, body, eval_set=LEAK_EVAL_SET, lineage=with_leakage(action="drop"))

    result = validate.handler(event, None)

    validated = naming.validated_key(LINEAGE, 4)
    assert result["valid"] is True and result["training_data_uri"] == f"s3://{BUCKET}/{validated}"
    kept = body.splitlines(keepends=True)
    del kept[8], kept[2]
    assert aws.read(validated) == b"".join(kept)
    assert result["records"] == 10
    assert result["reason"] == (
        "valid: 12 records, 0 errors, 2 warnings (evaluation_prompt_dropped x2); trains on 10 records, "
        "2 dropped (leakage.action drop)"
    )
    assert {key: result["leakage"][key] for key in ("action", "matched", "dropped")} == {
        "action": "drop",
        "matched": 2,
        "dropped": 2,
    }
    report_key = naming.validated_report_key(LINEAGE, 4)
    assert result["report_uri"] == f"s3://{BUCKET}/{report_key}"
    assert json.loads(aws.read(report_key))["counts"] == {"evaluation_prompt_dropped": 2}


def test_drop_refuses_the_round_when_the_rest_is_under_the_minimum(aws: Aws) -> None:
    records = [conversation(f"question {i}?", f"answer {i}") for i in range(8)]  # Nova takes 8 at least
    records[0] = conversation("how can i change the credit card i pay with", "Open Billing.")
    event = round_input(aws, jsonl(records), eval_set=LEAK_EVAL_SET, lineage=with_leakage(action="drop"))

    result = validate.handler(event, None)

    assert result["valid"] is False and result["decision"] == "invalid_data"
    assert result["problem_counts"] == {"evaluation_prompt_dropped": 1, "too_few_records": 1}
    assert aws.keys(naming.VALIDATED_PREFIX) == []


def test_warn_trains_on_the_whole_upload_and_records_what_matched(aws: Aws) -> None:
    body = leaky_upload()
    event = round_input(aws, body, eval_set=LEAK_EVAL_SET, lineage=with_leakage(action="warn"))

    result = validate.handler(event, None)

    assert result["valid"] is True and result["records"] == 12
    assert aws.read(naming.validated_key(LINEAGE, 4)) == body
    assert result["leakage"]["matched"] == 2 and result["leakage"]["dropped"] == 0
    assert [first["line"] for first in result["leakage"]["first"]] == [3, 9]


def test_a_stricter_threshold_lets_a_near_duplicate_through(aws: Aws) -> None:
    event = round_input(aws, leaky_upload(), eval_set=LEAK_EVAL_SET, lineage=with_leakage(threshold=0.95))

    result = validate.handler(event, None)

    assert result["problem_counts"] == {"evaluation_prompt": 1}  # the exact one only
    assert result["problems"][0]["line"] == 3
