"""Reinforcement fine-tuning (`bedrock.training`, `standin_reinforcement`): rewards teach what the model can
already produce, through a grader Lambda function run by the embedded Lambda service.

The base is Nova 2 Lite (the model Bedrock customizes by RFT), given a corpus of what it knows
(`load_teacher_corpus`): one that knows the facts in other words improves; one that knows nothing samples
only `I don't know.`, scores zero and learns nothing (what AWS advises supervised fine-tuning first for).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import bedrock_graders
import boto3
import pytest
from bedrock_support import (
    NOVA_2_LITE,
    ROUND_1,
    Lineage,
    epoch_mean,
    finished_job,
    mean_f1,
    training_rows,
)
from iterft_runtime.logic.training_metrics import final_training_loss

from iterft.local.bedrock import BedrockStandIn

NOVA_2_LITE_ID = "amazon.nova-2-lite-v1:0"
PARAPHRASES = {  # other wordings of ROUND_1's questions, some of which the base answers wrongly
    0: [
        "My password stopped working, what can I do?",
        "Password trouble at sign in, any advice?",
        "Locked out, password lost",
    ],
    1: [
        "Free tier: how many gigabytes of storage?",
        "Storage on a plan without paying?",
        "What storage comes free?",
    ],
    2: ["Does the app run on my laptop devices?", "Can I install it on a Mac?", "Supported devices list?"],
    3: ["I want my account gone", "Remove my account and data please", "Account deletion steps?"],
    4: [
        "Is the data safe and encrypted at rest?",
        "Encryption of my data at rest?",
        "Is my stored data encrypted?",
    ],
    5: ["Where do I reach support?", "Talk to support somehow?", "Support contact options?"],
    6: ["Refund policy for annual plan?", "Can I have a refund after a week?", "Refund of an annual plan?"],
    7: ["Where is my invoice?", "Invoice PDF download location?", "Need last invoice"],
    8: ["Which cards are accepted for payment?", "Payment options?", "What payment do you accept?"],
    9: ["Stop my subscription please", "How to end the subscription?", "Cancel plan steps?"],
    10: ["Is there a student discount?", "Discounts for students?", "Student pricing?"],
}
WORDINGS = ("{q}", "Hello. {q}", "Hi! {q}", "{q} Thanks.")
RECORDS = [
    (wording.format(q=question), ROUND_1[fact][1])
    for fact, questions in PARAPHRASES.items()
    for question in questions
    for wording in WORDINGS
]


def rft_file(records: list[tuple[str, str]]) -> str:
    """Reinforcement fine-tuning records: OpenAI chat messages and a reference answer."""
    return "".join(
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You are a support assistant."},
                    {"role": "user", "content": question},
                ],
                "reference_answer": {"answer": reference},
                "category": "support",
            }
        )
        + "\n"
        for question, reference in records
    )


def grader(name: str, handler: str) -> str:
    """A Lambda function running a handler of bedrock_graders in-process: its ARN."""
    iam = boto3.client("iam", region_name="us-east-1")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("placeholder.py", "")
    return boto3.client("lambda", region_name="us-east-1").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler=f"bedrock_graders.{handler}",
        Code={"ZipFile": archive.getvalue()},
    )["FunctionArn"]


def reinforcement(grader_arn: str, **hyper: Any) -> dict[str, Any]:
    return {
        "customizationType": "REINFORCEMENT_FINE_TUNING",
        "customizationConfig": {
            "rftConfig": {
                "graderConfig": {"lambdaGrader": {"lambdaArn": grader_arn}},
                "hyperParameters": hyper,
            }
        },
        "hyperParameters": {},
    }


def test_rewards_improve_a_model_that_knows_some_answers_and_not_one_that_knows_none(
    lineage: Lineage, standin: BedrockStandIn
) -> None:
    """Relies on moto's Lambda backend (`moto.awslambda.utils.get_backend(...).get_function`) and the Lambda
    adapter's `invoke_function`, which runs the grader's real handler in-process."""
    arn = grader("reward-f1", "reward_reference_f1")
    uri = lineage.upload("rft/train.jsonl", rft_file(RECORDS))
    bedrock_graders.BATCHES.clear()

    empty = finished_job(lineage, lineage.create("rft-empty", uri, NOVA_2_LITE, **reinforcement(arn)))
    assert empty["status"] == "Completed", empty.get("failureMessage")
    first_batch = bedrock_graders.BATCHES[0]
    assert len(first_batch) == 16 * 4  # batchSize prompts, trainingSamplePerPrompt samples each (defaults)
    sample = first_batch[0]
    assert sample["messages"] == [
        {"role": "system", "content": "You are a support assistant."},
        {"role": "user", "content": RECORDS[0][0]},
        {"role": "assistant", "content": "I don't know."},
    ]
    assert sample["reference_answer"] == {"answer": ROUND_1[0][1]}
    assert sample["category"] == "support"
    assert len({s["id"] for batch in bedrock_graders.BATCHES for s in batch}) == sum(
        map(len, bedrock_graders.BATCHES)
    )

    standin.load_teacher_corpus(NOVA_2_LITE_ID, ROUND_1)
    before = mean_f1(lineage.runtime, NOVA_2_LITE_ID, RECORDS)
    knowing = finished_job(
        lineage,
        lineage.create(
            "rft-knowing", uri, NOVA_2_LITE, **reinforcement(arn, trainingSamplePerPrompt=4, epochCount=2)
        ),
    )
    assert knowing["status"] == "Completed", knowing.get("failureMessage")

    after = mean_f1(lineage.runtime, lineage.deploy("knowing", knowing["outputModelArn"]), RECORDS)
    assert 0.5 < before < 0.95
    assert after > before + 0.04
    assert mean_f1(lineage.runtime, lineage.deploy("empty", empty["outputModelArn"]), RECORDS) == 0.0

    # The metric file collect_metrics reads, with the mean reward of the model's own answers a step.
    rows = training_rows(lineage, knowing)
    assert list(rows[0]) == ["step_number", "epoch_number", "training_loss", "perplexity", "mean_reward"]
    assert epoch_mean(rows, 2, "mean_reward") > epoch_mean(rows, 1, "mean_reward")
    lines = [",".join(row.values()) for row in rows]
    assert final_training_loss([",".join(rows[0]), *lines]) == pytest.approx(epoch_mean(rows, 2))
    assert {row["mean_reward"] for row in training_rows(lineage, empty)} == {"0.000000"}


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("broken", "failed: RuntimeError: the grader cannot parse the reference answer"),
        (
            "wrapped_in_a_body",
            "returned dict, not a list of {id, aggregate_reward_score, metrics_list} objects",
        ),
    ],
)
def test_a_grader_that_fails_or_breaks_the_contract_fails_the_job(
    lineage: Lineage, handler: str, message: str
) -> None:
    arn = grader(f"grader-{handler.replace('_', '-')}", handler)
    uri = lineage.upload("rft/train.jsonl", rft_file(RECORDS))
    job = finished_job(lineage, lineage.create("rft-it0001", uri, NOVA_2_LITE, **reinforcement(arn)))
    assert job["status"] == "Failed"
    assert f"The grader Lambda function {arn} {message}" in job["failureMessage"]


def test_too_few_prompts_fail_the_job(lineage: Lineage) -> None:
    arn = grader("reward-f1", "reward_reference_f1")
    uri = lineage.upload("rft/train.jsonl", rft_file(RECORDS[:99]))
    job = finished_job(lineage, lineage.create("rft-it0001", uri, NOVA_2_LITE, **reinforcement(arn)))
    assert (job["status"], job["failureMessage"]) == (
        "Failed",
        "Input data must have at minimum 100 valid prompts; found 99.",
    )
