"""Evaluation set parsing, its content version, scoring and the champion's model id."""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest
from iterft_runtime.logic import evaluation
from iterft_runtime.logic.evaluation import (
    ChampionSource,
    EvaluationItem,
    EvaluationSetError,
    champion_source,
    parse_evaluation_set,
    result_rows,
    reusable_champion_metrics,
    score_answers,
)
from iterft_runtime.models.lineage import EvaluationConfig, JudgeConfig, LineageConfig
from iterft_runtime.models.records import LineageState

from stacks.workflow import LONG_RUNNING_STEPS, LONG_TIMEOUT

BODY = (
    b'{"prompt": "capital of france?", "referenceResponse": "Paris", "category": "geo"}\n'
    b"\n"
    b'{"prompt": "2+2?", "referenceResponse": "four"}\n'
)


def test_parse_keeps_line_numbers_and_versions_by_content() -> None:
    parsed = parse_evaluation_set([BODY[:17], BODY[17:60], BODY[60:]], "s3://b/eval.jsonl")
    assert parsed.items == (
        EvaluationItem(line=1, prompt="capital of france?", reference="Paris", category="geo"),
        EvaluationItem(line=3, prompt="2+2?", reference="four", category=None),
    )
    assert parsed.version == hashlib.sha256(BODY).hexdigest()[:16]
    assert parse_evaluation_set([BODY], "x").version == parsed.version  # chunking does not matter
    assert parse_evaluation_set([BODY + b"\n"], "x").version != parsed.version  # any byte does


def test_every_bad_line_is_named() -> None:
    body = b'{"prompt": "p"}\n[1]\nnot json\n{"prompt": "p", "referenceResponse": "r", "category": 3}\n'
    with pytest.raises(EvaluationSetError) as raised:
        parse_evaluation_set([body], "s3://b/eval.jsonl")
    message = str(raised.value)
    assert message.startswith(
        "s3://b/eval.jsonl: 4 bad line(s): line 1: referenceResponse must be a non-empty string"
    )
    assert "line 2: not a JSON object" in message and "line 3: not a UTF-8 JSON object" in message
    assert "line 4: category must be a string" in message


def test_an_empty_set_is_refused() -> None:
    with pytest.raises(EvaluationSetError, match="no records"):
        parse_evaluation_set([b"\n\n"], "s3://b/eval.jsonl")


def test_long_lists_of_bad_lines_are_cut() -> None:
    with pytest.raises(EvaluationSetError, match=r"25 bad line\(s\).*\(and 15 more\)$"):
        parse_evaluation_set([b"x\n" * 25], "src")


ITEMS = [
    EvaluationItem(1, "a?", "the cat sat", category="pets"),
    EvaluationItem(2, "b?", "blue"),
    EvaluationItem(3, "c?", "a dog ran", category="pets"),
]


def test_score_answers_every_metric_per_item_overall_and_per_category() -> None:
    scored = score_answers(ITEMS, ["the cat sat", "red", "the dog ran"])
    assert scored.scores["exact_match"] == (1.0, 0.0, 0.0)
    # "the dog ran" vs "a dog ran": 2 common tokens of 3 each, LCS 2 -> P = R = F = 2/3.
    assert scored.scores["token_f1"] == pytest.approx((1.0, 0.0, 2 / 3))
    assert scored.scores["rouge_l"] == pytest.approx((1.0, 0.0, 2 / 3))
    assert scored.metrics["exact_match"] == {"overall": pytest.approx(1 / 3), "by_category": {"pets": 0.5}}
    assert scored.metrics["token_f1"] == {
        "overall": pytest.approx(5 / 9),
        "by_category": {"pets": pytest.approx(5 / 6)},  # the uncategorized item counts overall only
    }
    assert scored.overall("token_f1") == pytest.approx(5 / 9)
    with pytest.raises(ValueError, match="1 answers for 3"):
        score_answers(ITEMS, ["x"])
    with pytest.raises(ValueError, match="empty"):
        score_answers([], [])


def test_a_metrics_summary_lists_at_most_a_few_short_named_categories_the_weakest_first() -> None:
    by_category = {f"c{index:03d}": index / 100 for index in range(50)}
    by_category["x" * (evaluation.SUMMARY_CATEGORY_CHARS + 1)] = 0.0  # too long a name for a summary
    metrics = {
        "token_f1": {"overall": 0.5, "by_category": by_category},
        "judge": {"overall": 0.25, "by_category": {"a": 1.0}, "judge": "model#rubric-x"},
    }

    summary = evaluation.metrics_summary(metrics)

    assert summary["token_f1"] == {
        "overall": 0.5,
        "by_category": {f"c{index:03d}": index / 100 for index in range(evaluation.SUMMARY_CATEGORIES)},
        "categories": 51,
    }
    assert summary["judge"] == {
        "overall": 0.25,
        "by_category": {"a": 1.0},
        "judge": "model#rubric-x",
        "categories": 1,
    }
    assert evaluation.metrics_summary(summary) == summary
    assert metrics["token_f1"]["by_category"] is by_category and len(by_category) == 51  # left as it was


def test_result_rows_add_champion_columns_only_when_it_answered() -> None:
    answers = ["the cat sat", "red", "a dog ran"]
    candidate = score_answers(ITEMS, answers)
    rows = list(result_rows(ITEMS, answers, candidate, "exact_match"))
    assert rows[1] == {
        "line": 2,
        "category": None,
        "prompt": "b?",
        "reference": "blue",
        "candidate_answer": "red",
        "candidate_score": 0.0,
        "candidate_metrics": {"exact_match": 0.0, "rouge_l": 0.0, "token_f1": 0.0},
    }
    champion = score_answers(ITEMS, ["no", "blue", "dog"])
    rows = list(result_rows(ITEMS, answers, candidate, "token_f1", ["no", "blue", "dog"], champion))
    assert (rows[1]["champion_answer"], rows[1]["champion_score"]) == ("blue", 1.0)
    assert rows[2]["champion_score"] == pytest.approx(0.5)
    assert rows[2]["champion_metrics"]["exact_match"] == 0.0
    json.dumps(rows)


STATE = LineageState(lineage="bot", champion_model="amazon.nova-micro-v1:0:128k")
FULL = {name: {"overall": 0.4, "by_category": {}} for name in ("exact_match", "rouge_l", "token_f1")}


def scored_state(metrics: dict | None, version: str = "v1") -> LineageState:
    return LineageState(
        "bot", "m", champion_score=0.4, champion_eval_set_version=version, champion_metrics=metrics
    )


@pytest.mark.parametrize(
    ("state", "version", "reused"),
    [
        (STATE, "v1", False),  # never scored
        (scored_state(FULL), "v1", True),
        (scored_state(FULL), "v2", False),  # the set changed
        (scored_state(None), "v1", False),  # a score from before metrics were recorded
        (scored_state({"token_f1": FULL["token_f1"]}), "v1", False),  # another metric set
        (scored_state({**FULL, "bleu": FULL["token_f1"]}), "v1", False),
    ],
)
def test_reusable_champion_metrics(state: LineageState, version: str, reused: bool) -> None:
    assert reusable_champion_metrics(state, version, NOVA.evaluation) == (
        state.champion_metrics if reused else None
    )


def test_a_judge_added_removed_or_changed_is_another_yardstick() -> None:
    judged = EvaluationConfig(judge=JudgeConfig(model="amazon.nova-pro-v1:0"))
    assert judged.metric_names() == {"exact_match", "rouge_l", "token_f1", "judge"}
    assert reusable_champion_metrics(scored_state(FULL), "v1", judged) is None
    assert judged.judge is not None
    graded = score_answers(ITEMS, ["x", "y", "z"], [1.0, 0.5, 0.0], judged.judge.identity()).metrics
    with_judge = scored_state(graded)
    assert reusable_champion_metrics(with_judge, "v1", judged) == graded
    assert reusable_champion_metrics(with_judge, "v1", NOVA.evaluation) is None
    other_rubric = EvaluationConfig(judge=JudgeConfig(model="amazon.nova-pro-v1:0", rubric="5: perfect"))
    other_model = EvaluationConfig(judge=JudgeConfig(model="anthropic.claude-3-haiku-20240307-v1:0"))
    assert reusable_champion_metrics(with_judge, "v1", other_rubric) is None
    assert reusable_champion_metrics(with_judge, "v1", other_model) is None


def test_judge_grades_are_the_judge_metric_and_travel_through_shard_rows() -> None:
    rows = list(
        evaluation.answer_rows(ITEMS, ["x", "blue", "y"], ["a", "b", "c"], [1.0, 0.5, 0.0], [0.25] * 3)
    )
    assert (rows[0]["candidate_judge"], rows[2]["champion_judge"]) == (1.0, 0.25)
    collected = evaluation.collect_answers(rows)
    assert collected.candidate_judge == (1.0, 0.5, 0.0) and collected.champion_judge == (0.25,) * 3
    scored = score_answers(collected.items, collected.candidate, collected.candidate_judge)
    assert scored.metrics["judge"] == {"overall": 0.5, "by_category": {"pets": 0.5}}
    assert set(score_answers(ITEMS, ["x", "y", "z"]).metrics) == {"exact_match", "rouge_l", "token_f1"}
    with pytest.raises(ValueError, match="2 judge grades for 3"):
        score_answers(ITEMS, ["x", "y", "z"], [1.0, 1.0])
    with pytest.raises(ValueError, match="the judge graded the candidate on 2 of 3"):
        evaluation.collect_answers(
            [rows[0], {k: v for k, v in rows[1].items() if k != "candidate_judge"}, rows[2]]
        )


NOVA = LineageConfig(name="bot", base_model="amazon.nova-micro-v1:0:128k")
CUSTOM = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abc"
DEPLOYMENT = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/x"


def test_the_champion_answers_through_what_serves_it() -> None:
    assert champion_source(NOVA, STATE) == ChampionSource(invoke="amazon.nova-micro-v1:0")
    configured = NOVA.model_copy(update={"evaluation_invoke_model": "us.amazon.nova-micro-v1:0"})
    assert champion_source(configured, STATE) == ChampionSource(invoke="us.amazon.nova-micro-v1:0")
    serving = LineageState("bot", CUSTOM, champion_iteration=2, serving_model_id=DEPLOYMENT)
    assert champion_source(configured, serving) == ChampionSource(invoke=DEPLOYMENT)


def test_a_champion_nothing_serves_is_deployed_for_evaluation() -> None:
    custom_start = LineageConfig(name="bot", base_model=CUSTOM, family="nova")
    assert champion_source(custom_start, LineageState("bot", CUSTOM)) == ChampionSource(deploy=CUSTOM)
    unserved = LineageState("bot", CUSTOM, champion_iteration=3, champion_model_arn=CUSTOM)
    assert champion_source(NOVA, unserved) == ChampionSource(deploy=CUSTOM)


@pytest.mark.parametrize(
    ("records", "sizes"),
    [
        (1, [1]),
        (25, [25]),
        (26, [25, 1]),
        (1000, [25] * 40),
        (20_001, [25] * 800 + [1]),  # past the inline Map's limit: more shards, never larger ones
    ],
)
def test_shards_cover_every_record_once_in_order(records: int, sizes: list[int]) -> None:
    record = b'{"prompt": "p?", "referenceResponse": "r"}\n'
    shards = evaluation.plan_shards(parse_evaluation_set([record * records], "src"))
    assert [shard.end - shard.start for shard in shards] == sizes
    assert [(shard.byte_start, shard.byte_end) for shard in shards] == [
        (shard.start * len(record), shard.end * len(record)) for shard in shards
    ]
    assert [shard.first_line for shard in shards] == [shard.start + 1 for shard in shards]
    assert [shard.index for shard in shards] == list(range(len(shards)))
    assert shards[0].start == 0 and shards[-1].end == records
    assert all(a.end == b.start for a, b in itertools.pairwise(shards))


@pytest.mark.parametrize(("records", "inline"), [(25 * 400, True), (25 * 400 + 1, False)])
def test_the_plan_lists_shards_inline_only_up_to_the_inline_map_limit(records: int, inline: bool) -> None:
    record = b'{"prompt": "p?", "referenceResponse": "r"}\n'
    shards = evaluation.plan_shards(parse_evaluation_set([record * records], "src"))
    listed = evaluation.inline_shards(shards)
    assert len(shards) == evaluation.INLINE_MAX_SHARDS + (0 if inline else 1)
    assert listed == ([shard.to_dict() for shard in shards] if inline else None)


JUDGE = "amazon.nova-pro-v1:0"


@pytest.mark.parametrize(
    ("evaluation_config", "champion_answers", "per_shard"),
    [
        ({}, False, 25),  # 512 tokens: 22.5 s a call at worst; 25 is the cap
        ({}, True, 13),  # two answers a record: 45 s
        ({"judge": {"model": JUDGE}}, True, 11),  # and two 64-token grades: 53.1 s
        ({"max_answer_tokens": 4096}, False, 3),  # 165.8 s
        (
            {"max_answer_tokens": 4096, "judge": {"model": "amazon.nova-pro-v1:0", "max_tokens": 1024}},
            True,
            1,
        ),
    ],
)
def test_a_shard_holds_what_its_worst_case_lets_finish_well_inside_the_timeout(
    evaluation_config: dict[str, object], champion_answers: bool, per_shard: int
) -> None:
    config = EvaluationConfig.model_validate(evaluation_config)
    assert evaluation.shard_records(config, champion_answers) == per_shard


def test_one_record_at_the_longest_answers_fits_the_shard_budget_and_the_budget_the_timeout() -> None:
    """The worst record the config allows (4,096-token answers from both models, each graded by a judge
    allowed 1,024 tokens) fits one shard's budget; the budget leaves a third of the Lambda timeout."""
    longest = 2 * (evaluation.worst_call_seconds(4096) + evaluation.worst_call_seconds(1024))
    assert longest <= evaluation.SHARD_TIME_BUDGET_SECONDS
    assert LONG_TIMEOUT.to_seconds() * 2 / 3 >= evaluation.SHARD_TIME_BUDGET_SECONDS
    assert "score_shard" in LONG_RUNNING_STEPS


def test_a_set_needing_more_than_the_most_shards_is_refused() -> None:
    evaluation.check_shard_count(evaluation.MAX_SHARDS * 3, 3, "s3://b/eval.jsonl")
    with pytest.raises(evaluation.TooManyShardsError, match=r"30,001 records need 10,001 shards of 3"):
        evaluation.check_shard_count(evaluation.MAX_SHARDS * 3 + 1, 3, "s3://b/eval.jsonl")


def test_an_empty_set_has_no_shards() -> None:
    with pytest.raises(ValueError, match="empty"):
        evaluation.plan_shards(evaluation.EvaluationSet(items=(), version="v"))


def test_a_shard_reads_back_its_own_records_with_their_line_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blank lines inside and between shards keep the file's numbering."""
    monkeypatch.setattr(evaluation, "SHARD_RECORDS", 2)
    lines = [b'{"prompt": "q%d?", "referenceResponse": "r%d"}\n' % (n, n) for n in range(5)]
    body = lines[0] + b"\n" + lines[1] + lines[2] + b"\n\n" + lines[3] + lines[4]
    parsed = parse_evaluation_set([body], "src")
    shards = evaluation.plan_shards(parsed)
    read_back = [
        evaluation.parse_shard([body[shard.byte_start : shard.byte_end]], shard, "src") for shard in shards
    ]
    assert [item for items in read_back for item in items] == list(parsed.items)
    assert [item.line for item in parsed.items] == [1, 3, 4, 7, 8]
    assert evaluation.Shard.from_dict(shards[1].to_dict()) == shards[1]


def test_a_shard_whose_bytes_hold_other_records_is_refused() -> None:
    body = b'{"prompt": "a?", "referenceResponse": "r"}\n{"prompt": "b?", "referenceResponse": "r"}\n'
    (shard,) = evaluation.plan_shards(parse_evaluation_set([body], "src"))
    with pytest.raises(EvaluationSetError, match="should hold shard 0's 2 records from line 1: 1 records"):
        evaluation.parse_shard([body[: shard.byte_end // 2]], shard, "src")  # one whole line of two
    with pytest.raises(EvaluationSetError, match="line 2: not a UTF-8 JSON object"):
        evaluation.parse_shard([body[: shard.byte_end // 2 + 1]], shard, "src")  # and a cut one


def test_answer_rows_come_back_as_the_items_and_answers() -> None:
    items = [evaluation.EvaluationItem(3, "p", "r", "geo"), evaluation.EvaluationItem(4, "q", "s")]
    rows = list(evaluation.answer_rows(items, ["a", "b"], ["c", "d"]))
    collected = evaluation.collect_answers(json.loads(json.dumps(row)) for row in rows)
    assert collected == evaluation.CollectedAnswers(tuple(items), ("a", "b"), ("c", "d"))
    without_champion = evaluation.collect_answers(evaluation.answer_rows(items, ["a", "b"], None))
    assert without_champion.champion is None


def test_a_champion_answer_missing_for_some_items_is_refused() -> None:
    items = [evaluation.EvaluationItem(1, "p", "r"), evaluation.EvaluationItem(2, "q", "s")]
    rows = list(evaluation.answer_rows(items, ["a", "b"], ["c", "d"]))
    del rows[1]["champion_answer"]
    with pytest.raises(ValueError, match="answered 1 of 2"):
        evaluation.collect_answers(rows)
