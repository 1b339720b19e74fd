"""The default reinforcement grader: its lineage from its own function name, its reward the lineage's
primary metric (the gate's scoring code), in Bedrock's Lambda grader contract."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from iterft_runtime import naming
from iterft_runtime.handlers import grade
from iterft_runtime.logic.scoring import METRICS
from runtime_support import LINEAGE, LINEAGE_CONFIG, STACK_NAME, Aws

pytest_plugins = ("runtime_fixtures",)

ANSWER, REFERENCE = "open settings then billing", "open settings and choose billing"


def _samples() -> list[dict[str, object]]:
    return [
        {
            "id": "s1",
            "messages": [
                {"role": "user", "content": "how do I see invoices?"},
                {"role": "assistant", "content": ANSWER},
            ],
            "reference_answer": REFERENCE,
        }
    ]


def test_the_grader_rewards_with_its_lineages_primary_metric(aws: Aws) -> None:
    aws.put_lineage({**LINEAGE_CONFIG, "evaluation": {"metric": "rouge_l"}})
    context = SimpleNamespace(function_name=naming.grader_function_name(STACK_NAME, LINEAGE))
    (reward,) = grade.handler(_samples(), context)
    expected = METRICS["rouge_l"](ANSWER, REFERENCE)
    assert 0 < expected < 1
    assert reward == {
        "id": "s1",
        "aggregate_reward_score": expected,
        "metrics_list": [{"name": "rouge_l", "value": expected, "type": "Reward"}],
    }


def test_a_function_that_is_no_lineages_grader_refuses_to_grade(aws: Aws) -> None:
    for name in ("some-other-function", naming.grader_function_name(STACK_NAME, "no-such-lineage")):
        with pytest.raises(
            grade.GraderConfigError, match="is not the default grader of a configured lineage"
        ):
            grade.handler(_samples(), SimpleNamespace(function_name=name))
