"""The judge metric on the embedded default: a foundation model grades each answer with a rubric.

The Bedrock stand-in's foundation models grade judge prompts from the similarity of the answer to
the reference they read in the prompt (a stand-in behaviour); the pipeline does the rest as on AWS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from iterft_runtime.dal.storage import split_uri
from iterft_runtime.logic.judge import judge_prompt, parse_grade
from iterft_runtime.models.metrics import DEFAULT_RUBRIC

from iterft.history import lineage_history
from iterft.local.session import LocalSession
from iterft.local.standin_model import judge_reply

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


def test_a_judged_lineage_promotes_on_the_judges_grades(itest_session: LocalSession) -> None:
    session = itest_session
    session.put_evaluation_set("judged", EXAMPLES / "eval.jsonl")
    session.upload("judged", (EXAMPLES / "round-1-billing.jsonl").read_bytes(), name="round-1.jsonl")
    session.wait_until_idle("judged", timeout=60)
    [row] = lineage_history(session.deployment, "judged")

    assert row["decision"] == "promoted", row["reason"]
    assert row["metric"] == "judge"
    assert (
        set(row["metrics"]) == set(row["champion_metrics"]) == {"exact_match", "judge", "rouge_l", "token_f1"}
    )
    assert row["eval_score"] == row["metrics"]["judge"]["overall"]
    assert row["deltas"]["judge"]["ci_low"] >= 0.02  # the whole interval clears min_improvement
    assert [verdict["rule"].split()[:2] for verdict in row["gate"]] == [
        ["primary", "judge"],
        ["guard", "token_f1"],
    ]

    bucket, key = split_uri(row["results_uri"])
    body = session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    results = [json.loads(line) for line in body.splitlines()]
    assert len(results) == 22
    # Each grade is the one the judge gave that very answer: they follow the answers, not a script.
    for result in results:
        for side in ("candidate", "champion"):
            graded = judge_reply(
                judge_prompt(DEFAULT_RUBRIC, result["prompt"], result["reference"], result[f"{side}_answer"])
            )
            assert graded is not None and result[f"{side}_metrics"]["judge"] == parse_grade(graded)
        assert result["candidate_score"] == result["candidate_metrics"]["judge"]
    # The starting point knows nothing; the candidate learned billing and gets some answers right.
    assert {result["champion_metrics"]["judge"] for result in results} == {0.0}
    assert 1.0 in {
        result["candidate_metrics"]["judge"] for result in results if result["category"] == "billing"
    }
