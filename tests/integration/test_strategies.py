"""Each training strategy through the deployed trigger chain on the embedded default (docs/strategies.md).

Rounds start as an operator starts them: an upload under incoming/<lineage>/ (its S3 metadata naming the
strategy, or the lineage's default), or `iterft start --strategy`. The Bedrock stand-in learns under each
customization type (docs/embedded-default.md, "Customization types"): the distillation teacher knows
examples/support-bot/teacher-corpus.jsonl (every fact in its own words; loaded for the foundation models
these lineages customize too, as what a large model knows of the product), reinforcement fine-tuning
rewards what the model can already say through a grader Lambda function, continued pre-training teaches
the loss model and no answer. Every round is decided by the scores its models earn on support-bot's
evaluation set, and every request is checked against the template's IAM (conftest.no_iam_denials).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import strategy_graders
from cli_support import run_cli
from iterft_runtime import naming
from iterft_runtime.handlers import grade as default_grader

from iterft import cli
from iterft.history import lineage_history, lineage_status
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SUPPORT_BOT = EXAMPLES / "support-bot"
DISTILLED = EXAMPLES / "support-distilled"
TEACHER = "amazon.nova-pro-v1:0"
KNOWING = (TEACHER, "amazon.nova-2-lite-v1:0", "amazon.titan-text-express-v1")
"""The foundation models given the teacher corpus: the teacher, and the bases of reinforcement fine-tuning
(which can only reward what the model already says) and continued pre-training (whose answers stay)."""
LINEAGES = ("distil-file", "distil-logs", "rft-default", "rft-custom", "cpt", "chain")
LOG_BUCKET = "itest-invocation-logs"
LOG_PREFIX = "AWSLogs/123456789012/BedrockModelInvocationLogs/"
"""tests/fixtures/config/itest.yaml's `distil-logs` reads s3://LOG_BUCKET/LOG_PREFIX."""
TEAM_GRADER = "itest-team-grader"
"""The function `rft-custom` names by ARN in itest.yaml."""
RFT_EPOCHS, RFT_SAMPLES = 2, 4
"""itest.yaml's reinforcement hyperparameters: every prompt is sampled this many times an epoch."""
TIMEOUT = 60


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _load(DISTILLED / "generate.py", "support_distilled_generate")
BOT = GENERATOR._support_bot()
PROMPTS: dict[str, tuple[str, ...]] = GENERATOR.PROMPTS
"""support-distilled's 110 prompts by fact: no evaluation question among them."""


def _rft_file() -> bytes:
    """Reinforcement records: each prompt with the team's answer (support-bot's, the references' wording)
    as its reference_answer."""
    return "".join(
        json.dumps(
            {
                "messages": [{"role": "system", "content": BOT.SYSTEM}, {"role": "user", "content": prompt}],
                "reference_answer": BOT.FACTS[fact].answer,
            }
        )
        + "\n"
        for fact, prompts in PROMPTS.items()
        for prompt in prompts
    ).encode()


def _run(
    session: LocalSession, lineage: str, body: bytes, name: str, metadata: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    session.upload(lineage, body, name=name, metadata=metadata)
    session.wait_until_idle(lineage, timeout=TIMEOUT)
    return lineage_history(session.deployment, lineage)


def _jobs(session: LocalSession, lineage: str) -> list[dict[str, Any]]:
    """The lineage's customization jobs, as the stand-in lists them (every CreateModelCustomizationJob)."""
    jobs = session.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"]
    return [job for job in jobs if job["jobName"].startswith(f"iterft-{lineage}-it")]


def _job(session: LocalSession, lineage: str) -> dict[str, Any]:
    [summary] = _jobs(session, lineage)
    job: dict[str, Any] = session.client("bedrock").get_model_customization_job(
        jobIdentifier=summary["jobArn"]
    )
    return job


def _answer(session: LocalSession, model_id: str, question: str) -> str:
    response = session.client("bedrock-runtime").converse(
        modelId=model_id, messages=[{"role": "user", "content": [{"text": question}]}]
    )
    return str(response["output"]["message"]["content"][0]["text"])


def _mean_rewards(session: LocalSession, lineage: str) -> list[float]:
    """The mean reward of each training step, from the metrics file the reinforcement job wrote."""
    s3, bucket = session.client("s3"), session.deployment.bucket_name
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=naming.job_output_prefix(lineage, 1))
    [key] = [o["Key"] for o in listed["Contents"] if o["Key"].endswith("step_wise_training_metrics.csv")]
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [float(row["mean_reward"]) for row in csv.DictReader(io.StringIO(text))]


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> Iterator[LocalSession]:
    for lineage in LINEAGES:
        itest_session.put_evaluation_set(lineage, SUPPORT_BOT / "eval.jsonl")
    for model in KNOWING:
        itest_session.standin.load_teacher_corpus(model, SUPPORT_BOT / "teacher-corpus.jsonl")
    yield itest_session
    for model in KNOWING:
        itest_session.standin.load_teacher_corpus(model, [])


@pytest.fixture(scope="module")
def distilled(session: LocalSession) -> dict[str, Any]:
    """`distil-file`'s round: its default strategy, distillation, on support-distilled's prompts file."""
    [row] = _run(
        session,
        "distil-file",
        (DISTILLED / "round-1-distill-prompts.jsonl").read_bytes(),
        "round-1-distill-prompts.jsonl",
    )
    return row


def test_a_distillation_round_from_a_prompts_file_teaches_the_teachers_answers(
    session: LocalSession, distilled: dict[str, Any]
) -> None:
    row = distilled
    assert row["decision"] == "promoted", row["reason"]
    assert (row["strategy"], row["customization_type"], row["records"]) == (
        "distillation",
        "DISTILLATION",
        110,
    )
    assert row["customization_config"] == {
        "DistillationConfig": {
            "TeacherModelConfig": {"TeacherModelIdentifier": TEACHER, "MaxResponseLengthForInference": 1000}
        }
    }
    # Decided by scores: Nova Micro knew nothing of the product; the student knows what the teacher said.
    assert row["champion_score"] == 0.0
    assert row["eval_score"] >= row["champion_score"] + row["min_improvement"]
    job = _job(session, "distil-file")
    assert job["customizationType"] == "DISTILLATION" and not job.get("hyperParameters")
    assert job["customizationConfig"]["distillationConfig"]["teacherModelConfig"] == {
        "teacherModelIdentifier": TEACHER,
        "maxResponseLengthForInference": 1000,
    }
    # What the served student says to the yardstick's questions is the teacher's wording, never the team's.
    [status] = lineage_status(session.deployment, "distil-file")
    teacher_says = {json.loads(line)["answer"] for line in (SUPPORT_BOT / "teacher-corpus.jsonl").open()}
    questions = [json.loads(line)["prompt"] for line in (SUPPORT_BOT / "eval.jsonl").open()]
    answers = {_answer(session, status["serving_model_id"], question) for question in questions}
    assert answers - {"I don't know."} <= teacher_says and len(answers) > len(questions) // 2


def _log_record(question: str, reply: str, app: str, number: int) -> dict[str, Any]:
    """A model invocation log record of a Converse call to the teacher (model-invocation-logging), tagged
    with the calling application's request metadata."""
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": f"2026-12-03T10:{number // 60:02d}:{number % 60:02d}Z",
        "accountId": "123456789012",
        "region": "us-east-1",
        "requestId": f"00000000-0000-4000-8000-{number:012d}",
        "operation": "Converse",
        "modelId": TEACHER,
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": question}]}]},
        },
        "output": {
            "outputContentType": "application/json",
            "outputBodyJson": {
                "output": {"message": {"role": "assistant", "content": [{"text": reply}]}},
                "stopReason": "end_turn",
            },
        },
        "requestMetadata": {"app": app},
    }


def test_a_distillation_round_from_invocation_logs_is_started_by_an_empty_upload(
    session: LocalSession,
) -> None:
    """The support assistant's production calls to the teacher were logged; another application's calls
    (tagged otherwise) are left out by the lineage's request-metadata filter. The job reads the logs, so
    the round's upload only starts it (docs/strategies.md): one with records is rejected before any job."""
    questions = [prompt for prompts in PROMPTS.values() for prompt in prompts]
    support = [
        _log_record(question, _answer(session, TEACHER, question), "support-assistant", number)
        for number, question in enumerate(questions)
    ]
    wiki = [
        _log_record(
            f"Summarise wiki page {n} for the onboarding guide.", "A summary.", "internal-wiki", 200 + n
        )
        for n in range(30)
    ]
    s3 = session.client("s3")
    s3.create_bucket(Bucket=LOG_BUCKET)
    records = support + wiki
    for start in range(0, len(records), 40):
        text = "".join(json.dumps(record) + "\n" for record in records[start : start + 40])
        key = (
            f"{LOG_PREFIX}us-east-1/2026/12/03/10/"
            f"123456789012_BedrockModelInvocationLogs_us-east-1_20261203T1000Z_{start:04d}.json.gz"
        )
        s3.put_object(Bucket=LOG_BUCKET, Key=key, Body=gzip.compress(text.encode()))

    [refused] = _run(
        session, "distil-logs", (DISTILLED / "round-1-distill-prompts.jsonl").read_bytes(), "prompts.jsonl"
    )
    assert (refused["decision"], refused["strategy"]) == ("rejected", "distillation")
    assert refused["reason"].startswith(
        f"strategy: distillation reads the invocation logs at s3://{LOG_BUCKET}/{LOG_PREFIX}"
    )
    assert _jobs(session, "distil-logs") == []

    row = _run(session, "distil-logs", b"", "from-logs.jsonl")[1]
    assert row["decision"] == "promoted", row["reason"]
    assert (row["strategy"], row["customization_type"], row["records"]) == ("distillation", "DISTILLATION", 0)
    assert row["eval_score"] >= row["champion_score"] + row["min_improvement"]
    job = _job(session, "distil-logs")
    assert job["trainingDataConfig"] == {
        "invocationLogsConfig": {
            "invocationLogSource": {"s3Uri": f"s3://{LOG_BUCKET}/{LOG_PREFIX}"},
            "usePromptResponse": False,
            "requestMetadataFilters": {"equals": {"app": "support-assistant"}},
        }
    }
    assert (
        session.client("s3")
        .list_objects_v2(Bucket=session.deployment.bucket_name, Prefix=naming.validated_key("distil-logs", 2))
        .get("KeyCount", 0)
        == 0
    )  # nothing of the upload was kept as training data


def test_reinforcement_with_the_default_grader_rewards_the_lineages_metric(
    session: LocalSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    graded: list[tuple[int, str]] = []
    grade = default_grader.grade

    def counting(samples: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
        graded.append((len(samples), str(metric)))
        return grade(samples, metric)

    monkeypatch.setattr(default_grader, "grade", counting)
    [row] = _run(session, "rft-default", _rft_file(), "rft-round-1.jsonl")

    assert row["decision"] in ("promoted", "rejected"), row["reason"]
    assert (row["strategy"], row["customization_type"], row["records"]) == (
        "reinforcement",
        "REINFORCEMENT_FINE_TUNING",
        110,
    )
    grader_arn = row["customization_config"]["RftConfig"]["GraderConfig"]["LambdaGrader"]["LambdaArn"]
    function = naming.grader_function_name(session.deployment.stack_name, "rft-default")
    assert grader_arn.endswith(f":function:{function}")
    # Bedrock invoked the stack's grader with every sample, and it rewarded the lineage's primary metric.
    assert sum(count for count, _ in graded) == 110 * RFT_SAMPLES * RFT_EPOCHS
    assert {metric for _, metric in graded} == {"token_f1"}
    assert max(_mean_rewards(session, "rft-default")) > 0.0
    # The foundation model knew the facts in other words; rewards chose answers nearer the team's.
    assert 0.0 < row["champion_score"] < row["eval_score"]
    # The gate reads the gain's interval (gate.decide_on lower_bound, 22 questions): a gain of about the
    # required 0.02 is promoted only when its whole interval clears it, else rejected as inconclusive.
    interval = row["deltas"]["token_f1"]
    assert interval["delta"] == pytest.approx(row["eval_score"] - row["champion_score"], abs=1e-6)
    assert (row["decision"] == "promoted") == (interval["ci_low"] >= row["min_improvement"])
    assert row["inconclusive"] == (interval["ci_low"] < row["min_improvement"] <= interval["ci_high"])


def _team_grader(session: LocalSession) -> str:
    """The team's grader function (strategy_graders.reward_word_overlap), created in the embedded AWS."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = session.client("iam").create_role(
        RoleName=f"{TEAM_GRADER}-role", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("strategy_graders.py", (Path(__file__).parent / "strategy_graders.py").read_text())
    created = session.client("lambda").create_function(
        FunctionName=TEAM_GRADER,
        Runtime="python3.11",
        Role=role,
        Handler="strategy_graders.reward_word_overlap",
        Code={"ZipFile": archive.getvalue()},
    )
    return str(created["FunctionArn"])


def test_reinforcement_with_a_teams_own_grader_invokes_it(session: LocalSession) -> None:
    arn = _team_grader(session)
    configured = session.config.lineage("rft-custom").strategies.reinforcement
    assert configured is not None and configured.grader == arn  # what the customization role may invoke
    strategy_graders.BATCHES.clear()
    [row] = _run(session, "rft-custom", _rft_file(), "rft-round-1.jsonl")

    assert row["decision"] in ("promoted", "rejected"), row["reason"]
    assert row["customization_config"]["RftConfig"]["GraderConfig"]["LambdaGrader"]["LambdaArn"] == arn
    samples = [sample for batch in strategy_graders.BATCHES for sample in batch]
    assert len(samples) == 110 * RFT_SAMPLES * RFT_EPOCHS
    first_fact, first_prompts = next(iter(PROMPTS.items()))
    first = samples[0]
    assert first["messages"][:2] == [
        {"role": "system", "content": BOT.SYSTEM},
        {"role": "user", "content": first_prompts[0]},
    ]
    assert first["messages"][2]["role"] == "assistant"
    assert first["reference_answer"] == BOT.FACTS[first_fact].answer
    assert max(_mean_rewards(session, "rft-custom")) > 0.0
    assert 0.0 < row["champion_score"] < row["eval_score"]


def test_continued_pre_training_records_its_loss_and_changes_no_answer(session: LocalSession) -> None:
    """Unlabeled help-center text in the team's words: the loss model reads it, the answers stay Titan's."""
    texts = "".join(
        json.dumps({"input": f"Acme Cloud Drive help center, {fact.category}: {fact.answer}"}) + "\n"
        for fact in BOT.FACTS.values()
    ).encode()
    [row] = _run(session, "cpt", texts, "help-center.jsonl", metadata={"strategy": "continued_pre_training"})

    assert (row["strategy"], row["customization_type"], row["records"]) == (
        "continued_pre_training",
        "CONTINUED_PRE_TRAINING",
        len(BOT.FACTS),
    )
    assert _job(session, "cpt")["customizationType"] == "CONTINUED_PRE_TRAINING"
    assert row["training_loss"] is not None and row["training_loss"] > 0.0
    # Titan knew the facts in other words; after pre-training it says exactly what it said before.
    assert row["champion_score"] > 0.0
    assert row["eval_score"] == row["champion_score"]
    assert row["decision"] == "rejected"


def test_an_undocumented_chain_is_refused_before_any_job(
    session: LocalSession, distilled: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """`chain` fine-tunes first; then `iterft start --strategy distillation` on the prompts distil-file
    distilled from asks to distil the fine-tuned champion: no page documents that chain."""
    [first] = _run(
        session, "chain", (SUPPORT_BOT / "round-1-billing.jsonl").read_bytes(), "round-1-billing.jsonl"
    )
    assert (first["strategy"], first["decision"]) == ("fine_tuning", "promoted"), first["reason"]

    data = f"s3://{session.deployment.bucket_name}/incoming/distil-file/round-1-distill-prompts.jsonl"
    code, out, err = run_cli(
        session,
        capsys,
        "start",
        "chain",
        "--data",
        data,
        "--strategy",
        "distillation",
        "--wait",
        "--timeout",
        str(TIMEOUT),
        "--interval",
        "0.05",
    )
    assert (code, err) == (cli.EXIT_OK, ""), out
    assert out.splitlines()[-1].startswith("chain #2: rejected: strategy: distillation on a model produced")
    session.wait_until_idle("chain", timeout=TIMEOUT)

    second = lineage_history(session.deployment, "chain")[1]
    assert (second["strategy"], second["decision"]) == ("distillation", "rejected")
    reason = second["reason"]
    assert reason.startswith(
        "strategy: distillation on a model produced by fine_tuning is not a chain the Bedrock user guide "
        "documents"
    )
    assert "allow_undocumented_chains" in reason
    assert second["job_arn"] is None and second["base_model"] is None
    # No CreateModelCustomizationJob for it: the stand-in knows round 1's job only.
    assert [job["jobArn"] for job in _jobs(session, "chain")] == [first["job_arn"]]
    [notice] = [n for n in session.notifications() if n["subject"].startswith("iterft chain #2 ")]
    assert "rejected" in notice["subject"] and reason in notice["message"]
    [status] = lineage_status(session.deployment, "chain")
    assert status["champion_iteration"] == 1
