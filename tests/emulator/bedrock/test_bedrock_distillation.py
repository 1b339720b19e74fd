"""Distillation (`bedrock.training`, `bedrock.invocation_logs`): the student learns what its teacher knows.

A teacher is a stand-in foundation model that knows the corpus loaded for it (`load_teacher_corpus`);
one with no corpus answers `I don't know.`, so distilling from it teaches nothing. The scores asserted
are the ones an evaluation would compute: they move because of what the teacher knew.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from bedrock_support import (
    NOVA,
    NOVA_PRO,
    ROUND_1,
    ROUND_2,
    Lineage,
    answer,
    distillation,
    epoch_mean,
    finished_job,
    mean_f1,
    phrased,
    prompts_file,
    training_rows,
)
from iterft_runtime.logic.scoring import token_f1
from moto.core import DEFAULT_ACCOUNT_ID

from iterft.local.bedrock import BedrockStandIn
from iterft.local.bedrock.invocation_logs import selected
from iterft.local.standin_model import FALLBACK_ANSWER

EXAMPLE = Path(__file__).parents[3] / "examples" / "support-bot"
NOVA_PREMIER = "us.amazon.nova-premier-v1:0"
HELD_OUT = [  # wordings no prompt file or corpus uses: what an evaluation set would ask
    ("I forgot my password, how can I reset it?", ROUND_1[0][1]),
    ("Are my files encrypted?", ROUND_1[4][1]),
    ("Is there a discount for students?", ROUND_1[10][1]),
    ("What payment methods can I use?", ROUND_1[8][1]),
    ("How can I cancel my subscription?", ROUND_1[9][1]),
]


def distil(lineage: Lineage, name: str, teacher: str, data_uri: str, **extra: Any) -> dict[str, Any]:
    request = {**distillation(teacher), **extra}
    return finished_job(lineage, lineage.create(name, data_uri, NOVA, **request))


def test_a_student_learns_what_its_teacher_knows_and_nothing_from_a_teacher_that_knows_nothing(
    lineage: Lineage, standin: BedrockStandIn
) -> None:
    assert standin.load_teacher_corpus(NOVA_PRO, ROUND_1) == len(ROUND_1)
    prompts = [question for question, _ in phrased(ROUND_1)]
    uri = lineage.upload("distil/prompts.jsonl", prompts_file(prompts))

    knowing = distil(lineage, "support-it0001", NOVA_PRO, uri)
    assert knowing["status"] == "Completed", knowing.get("failureMessage")
    ignorant = distil(lineage, "support-it0002", NOVA_PREMIER, uri)  # no corpus loaded for it
    assert ignorant["status"] == "Completed", ignorant.get("failureMessage")

    student = lineage.deploy("student", knowing["outputModelArn"])
    empty_student = lineage.deploy("empty-student", ignorant["outputModelArn"])
    assert mean_f1(lineage.runtime, student, HELD_OUT) > 0.9
    assert mean_f1(lineage.runtime, empty_student, HELD_OUT) == 0.0
    assert answer(lineage.runtime, empty_student, "How do I reset my password?") == FALLBACK_ANSWER
    # Nothing the teacher did not know is learned: its topics only.
    assert answer(lineage.runtime, student, "How do I share a folder?") == FALLBACK_ANSWER

    # Distillation wrote the same metric files a fine-tuning job writes.
    training = training_rows(lineage, knowing)
    assert epoch_mean(training, 2) < epoch_mean(training, 1) / 2


def test_the_teacher_answers_converse_and_invoke_model_from_its_corpus(
    lineage: Lineage, standin: BedrockStandIn
) -> None:
    question, reference = ROUND_2[0]
    assert answer(lineage.runtime, NOVA_PRO, question) == FALLBACK_ANSWER
    standin.load_teacher_corpus(NOVA_PRO, ROUND_2)
    standin.load_teacher_corpus(NOVA_PREMIER, ROUND_2)
    assert answer(lineage.runtime, NOVA_PRO, question) == reference
    assert (
        answer(lineage.runtime, f"arn:aws:bedrock:us-east-1::foundation-model/{NOVA_PRO}", question)
        == reference
    )
    body = {"messages": [{"role": "user", "content": [{"text": question}]}]}
    response = lineage.runtime.invoke_model(modelId=NOVA_PREMIER, body=json.dumps(body))
    assert json.loads(response["body"].read())["output"]["message"]["content"][0]["text"] == reference
    # A teacher still grades a judge prompt as the stand-in's foundation models do.
    from iterft_runtime.logic.judge import judge_prompt
    from iterft_runtime.models.metrics import DEFAULT_RUBRIC

    graded = answer(lineage.runtime, NOVA_PRO, judge_prompt(DEFAULT_RUBRIC, "q?", reference, reference))
    assert graded == "Grade: 5"
    # An empty corpus forgets; an id the stand-in does not know is refused.
    assert standin.load_teacher_corpus(NOVA_PRO, []) == 0
    assert answer(lineage.runtime, NOVA_PRO, question) == FALLBACK_ANSWER
    with pytest.raises(ValueError, match="no foundation model"):
        standin.load_teacher_corpus("openai.gpt-9", ROUND_2)


def test_the_example_teacher_corpus_covers_the_evaluation_categories_without_its_questions(
    standin: BedrockStandIn,
) -> None:
    corpus = [json.loads(line) for line in (EXAMPLE / "teacher-corpus.jsonl").read_text().splitlines()]
    evaluation = [json.loads(line) for line in (EXAMPLE / "eval.jsonl").read_text().splitlines()]
    assert {record["category"] for record in corpus} == {record["category"] for record in evaluation}
    asked = {record["prompt"].lower() for record in evaluation}
    assert not [record["question"] for record in corpus if record["question"].lower() in asked]
    assert standin.load_teacher_corpus(NOVA_PRO, EXAMPLE / "teacher-corpus.jsonl") == len(corpus)
    # It knows the facts the evaluation asks about, in its own words: every answer states one of the
    # references' facts (shares a good part of its words) without being the team's sentence.
    references = {record["referenceResponse"] for record in evaluation}
    teacher_answers = {record["answer"] for record in corpus}
    assert len(teacher_answers) == len(references) and not teacher_answers & references
    assert all(max(token_f1(answer, ref) for ref in references) > 0.2 for answer in teacher_answers)
    teacher = standin._foundation_knowledge(NOVA_PRO)
    scores = [token_f1(teacher.answer(r["prompt"]), r["referenceResponse"]) for r in evaluation]
    assert 0.2 < sum(scores) / len(scores) < 0.8


def test_a_teacher_answer_is_cut_at_max_response_length(lineage: Lineage, standin: BedrockStandIn) -> None:
    standin.load_teacher_corpus(NOVA_PRO, ROUND_1)
    uri = lineage.upload("distil/prompts.jsonl", prompts_file([q for q, _ in phrased(ROUND_1)]))
    job = finished_job(
        lineage,
        lineage.create(
            "support-it0001", uri, NOVA, **distillation(NOVA_PRO, maxResponseLengthForInference=3)
        ),
    )
    assert job["status"] == "Completed"
    student = lineage.deploy("student", job["outputModelArn"])
    assert answer(lineage.runtime, student, ROUND_1[0][0]) == "Choose Forgot password"


def test_too_few_prompts_or_a_malformed_record_fail_the_job(
    lineage: Lineage, standin: BedrockStandIn
) -> None:
    standin.load_teacher_corpus(NOVA_PRO, ROUND_1)
    few = distil(lineage, "few", NOVA_PRO, lineage.upload("few.jsonl", prompts_file([q for q, _ in ROUND_1])))
    assert few["status"] == "Failed"
    assert "Input data must have at minimum 100 valid prompts; found 11" in few["failureMessage"]
    records = prompts_file([q for q, _ in phrased(ROUND_1)]).splitlines()
    records[4] = json.dumps(
        {"schemaVersion": "bedrock-conversation-2024", "messages": [{"role": "assistant"}]}
    )
    bad = distil(lineage, "bad", NOVA_PRO, lineage.upload("bad.jsonl", "\n".join(records)))
    assert bad["status"] == "Failed"
    assert "line 5" in bad["failureMessage"]
    assert lineage.bedrock.list_custom_models()["modelSummaries"] == []


# Invocation logs -------------------------------------------------------------------------------------

LOGS = f"AWSLogs/{DEFAULT_ACCOUNT_ID}/BedrockModelInvocationLogs/us-east-1/2026/12/03/10/"


def logged(
    model_id: str, question: str, reply: str, metadata: dict[str, str], operation: str = "Converse"
) -> dict[str, Any]:
    """A model invocation log record, in the documented shape (model-invocation-logging)."""
    request = {"messages": [{"role": "user", "content": [{"text": question}]}]}
    response = {
        "output": {"message": {"role": "assistant", "content": [{"text": reply}]}},
        "stopReason": "end_turn",
    }
    record: dict[str, Any] = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": "2026-12-03T10:00:00Z",
        "accountId": DEFAULT_ACCOUNT_ID,
        "region": "us-east-1",
        "requestId": f"{hash((question, reply)) & 0xFFFFFFFF:08x}",
        "operation": operation,
        "modelId": model_id,
        "input": {"inputContentType": "application/json", "inputBodyJson": request},
        "output": {"outputContentType": "application/json", "outputBodyJson": response},
    }
    if metadata:
        record["requestMetadata"] = metadata
    return record


def write_logs(lineage: Lineage, records: list[dict[str, Any]], per_file: int = 40) -> str:
    """The records as gzipped JSON-lines files under the logging prefix, as Bedrock delivers them."""
    for start in range(0, len(records), per_file):
        text = "".join(json.dumps(record) + "\n" for record in records[start : start + per_file])
        key = f"logs/{LOGS}{DEFAULT_ACCOUNT_ID}_BedrockModelInvocationLogs_us-east-1_{start:04d}.json.gz"
        lineage.s3.put_object(Bucket=lineage.bucket, Key=key, Body=gzip.compress(text.encode()))
    return f"s3://{lineage.bucket}/logs/"


def from_logs(uri: str, use_prompt_response: bool, filters: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"invocationLogSource": {"s3Uri": uri}, "usePromptResponse": use_prompt_response}
    if filters:
        config["requestMetadataFilters"] = filters
    return {"invocationLogsConfig": config}


def test_distillation_reads_the_invocation_logs_it_is_given(
    lineage: Lineage, standin: BedrockStandIn
) -> None:
    """Relies on moto's S3 backend listing (`S3Backend.list_objects` with no key limit) for the log prefix."""
    support = [logged(NOVA_PRO, q, a, {"app": "support"}) for q, a in phrased(ROUND_1)]
    # A large request is logged by S3 path rather than inline.
    big = support[3]
    lineage.s3.put_object(
        Bucket=lineage.bucket,
        Key="logs-bodies/input.json",
        Body=json.dumps(big["input"].pop("inputBodyJson")).encode(),
    )
    big["input"]["inputBodyS3Path"] = f"s3://{lineage.bucket}/logs-bodies/input.json"
    native = logged(
        NOVA_PRO,
        "What payment methods do you accept right now?",
        ROUND_1[8][1],
        {"app": "support"},
        "InvokeModel",
    )
    wrong = [logged(NOVA_PRO, q, "Call our office.", {"app": "other"}) for q, _ in phrased(ROUND_1)[:20]]
    other_model = [
        logged("amazon.nova-lite-v1:0", q, a, {"app": "support"}) for q, a in phrased(ROUND_2)[:30]
    ]
    uri = write_logs(lineage, [*support, native, *wrong, *other_model])
    support_only = {"equals": {"app": "support"}}

    # The teacher knows nothing, but its logged answers are used as they are.
    job = distil(
        lineage, "logged-answers", NOVA_PRO, "", trainingDataConfig=from_logs(uri, True, support_only)
    )
    assert job["status"] == "Completed", job.get("failureMessage")
    assert job["trainingDataConfig"]["invocationLogsConfig"]["requestMetadataFilters"] == support_only
    student = lineage.deploy("logged", job["outputModelArn"])
    assert mean_f1(lineage.runtime, student, HELD_OUT) > 0.9
    assert answer(lineage.runtime, student, "How do I share a folder?") == FALLBACK_ANSWER  # other model's

    # Prompts only: the teacher answers them, and a teacher that knows nothing teaches nothing.
    job = distil(
        lineage, "prompts-only", NOVA_PRO, "", trainingDataConfig=from_logs(uri, False, support_only)
    )
    assert job["status"] == "Completed", job.get("failureMessage")
    assert mean_f1(lineage.runtime, lineage.deploy("prompts-only", job["outputModelArn"]), HELD_OUT) == 0.0

    # Fewer than 100 prompt-response pairs from the teacher: Bedrock fails the job.
    job = distil(
        lineage,
        "too-few",
        NOVA_PRO,
        "",
        trainingDataConfig=from_logs(uri, True, {"equals": {"app": "other"}}),
    )
    assert job["status"] == "Failed"
    assert job["failureMessage"] == (
        "Input data must have at minimum 100 valid prompt-response pairs from the teacher model "
        f"{NOVA_PRO}; found 20."
    )


@pytest.mark.parametrize(
    ("filters", "metadata", "kept"),
    [
        ({}, {}, True),
        ({"equals": {"app": "support"}}, {"app": "support", "user": "x"}, True),
        ({"equals": {"app": "support"}}, {}, False),
        ({"notEquals": {"app": "support"}}, {"app": "billing"}, True),
        ({"notEquals": {"app": "support"}}, {}, True),
        (
            {"andAll": [{"equals": {"app": "support"}}, {"notEquals": {"env": "test"}}]},
            {"app": "support", "env": "test"},
            False,
        ),
        (
            {"andAll": [{"equals": {"app": "support"}}, {"notEquals": {"env": "test"}}]},
            {"app": "support", "env": "prod"},
            True,
        ),
        (
            {"orAll": [{"equals": {"app": "support"}}, {"equals": {"app": "billing"}}]},
            {"app": "billing"},
            True,
        ),
        (
            {"orAll": [{"equals": {"app": "support"}}, {"equals": {"app": "billing"}}]},
            {"app": "sales"},
            False,
        ),
    ],
)
def test_request_metadata_filters_select_log_records(
    filters: dict[str, Any], metadata: dict[str, str], kept: bool
) -> None:
    assert selected(filters, metadata) is kept
