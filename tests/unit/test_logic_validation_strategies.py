"""Each strategy's data, and Nova 2 Lite's, through the same validator: every problem with its line
(logic/validation_strategies.py; fine-tuning data of the other families: test_logic_validation*.py)."""

from __future__ import annotations

from typing import Any

import pytest
from family_params import ALL_FAMILIES
from iterft_runtime.logic.validation import validate_lines
from iterft_runtime.logic.validation_strategies import (
    DISTILLATION_PROMPTS,
    RFT_RECORDS,
    families_for,
    strategy_problem,
)
from iterft_runtime.models.families import (
    CLAUDE_HAIKU,
    LLAMA_CONVERSATION,
    LLAMA_PROMPT_COMPLETION,
    NOVA,
    NOVA_2_LITE,
    NOVA_MICRO,
    PROMPT_COMPLETION,
    ModelFamily,
    family_for_model,
)
from iterft_runtime.models.strategy_names import Strategy
from validation_support import conv, image, lines_of, problems, turn, video

DISTILLATION = Strategy.DISTILLATION
REINFORCEMENT = Strategy.REINFORCEMENT
CPT = Strategy.CONTINUED_PRE_TRAINING
FINE_TUNING = Strategy.FINE_TUNING


def prompt(*turns: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return conv(*turns, **extra)


def chat(*messages: tuple[str, Any], **extra: Any) -> dict[str, Any]:
    """A reinforcement record: (role, content) messages and, unless given, a reference answer."""
    record: dict[str, Any] = {"messages": [{"role": role, "content": content} for role, content in messages]}
    return {**record, **({"reference_answer": "4"} | extra)}


def reasoning(text: Any = "step by step") -> dict[str, Any]:
    return {"reasoningContent": {"reasoningText": {"text": text}}}


def answer(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks)}


def filler(strategy: Strategy, family: ModelFamily, index: int) -> Any:
    """A distinct valid record of `strategy`'s data for `family`."""
    if strategy is DISTILLATION:
        return prompt(turn("user", f"q{index}"))
    if strategy is REINFORCEMENT:
        return chat(("user", f"q{index}"), reference_answer=index)
    if strategy is CPT:
        return {"input": f"text {index}"}
    return prompt(turn("user", f"q{index}"), turn("assistant", f"a{index}"))


def padded(strategy: Strategy, family: ModelFamily, *records: Any, total: int | None = None) -> list[bytes]:
    """`records`, then valid ones up to `total` records (the minimum the strategy takes by default)."""
    fewest = {DISTILLATION: DISTILLATION_PROMPTS[0], REINFORCEMENT: RFT_RECORDS[0], CPT: 3}.get(
        strategy, family.min_records
    )
    count = (fewest if total is None else total) - len(records)
    return lines_of(*records, *[filler(strategy, family, index) for index in range(max(count, 0))])


def check(strategy: Strategy, family: ModelFamily, *records: Any) -> list[tuple[int | None, str]]:
    """The problems of `records` as `strategy`'s data for `family`, padded with valid ones to its minimum."""
    return problems(validate_lines(padded(strategy, family, *records), family, strategy=strategy))


DISTILLATION_CASES = [
    pytest.param(prompt(turn("user", "why is the sky blue?")), [], id="user-only"),
    pytest.param(prompt(turn("user", "q"), turn("assistant", "a")), [], id="with-answer"),
    pytest.param(prompt(turn("user", "q"), system=[{"text": "be brief"}]), [], id="with-system"),
    pytest.param(
        prompt(turn("user", "q"), turn("assistant", "a"), turn("user", "and then?")), [], id="nova-multi-turn"
    ),
    pytest.param(b"{oops", [(1, "invalid_json")], id="invalid-json"),
    pytest.param([prompt(turn("user", "q"))], [(1, "not_object")], id="array"),
    pytest.param({"messages": [turn("user", "q")]}, [(1, "missing_key")], id="no-schema-version"),
    pytest.param(
        {**prompt(turn("user", "q")), "schemaVersion": "bedrock-conversion-2024"},
        [(1, "bad_schema_version")],
        id="the-guide-typo-is-not-the-format",
    ),
    pytest.param(prompt(), [(1, "no_messages")], id="no-messages"),
    pytest.param({"schemaVersion": "bedrock-conversation-2024"}, [(1, "missing_key")], id="messages-missing"),
    pytest.param(prompt(turn("assistant", "a")), [(1, "must_start_with_user")], id="answer-only"),
    pytest.param(
        prompt(turn("user", "q"), turn("user", "q2")), [(1, "roles_not_alternating")], id="two-user-turns"
    ),
    pytest.param(prompt(turn("user", "q"), turn("bot", "a")), [(1, "bad_role")], id="bad-role"),
    pytest.param(prompt(turn("user", " ")), [(1, "empty_text")], id="blank-prompt"),
    pytest.param(prompt(turn("user", 7)), [(1, "wrong_type")], id="text-not-string"),
    pytest.param(
        prompt({"role": "user", "content": [image(), {"text": "what is this?"}]}),
        [(1, "unsupported_content")],
        id="image-text-only",
    ),
    pytest.param(prompt(turn("user", "User: hi")), [(1, "reserved_token")], id="nova-reserved-token"),
]


@pytest.mark.parametrize(("record", "expected"), DISTILLATION_CASES)
def test_distillation_prompts(record: Any, expected: list[tuple[int | None, str]]) -> None:
    assert check(DISTILLATION, NOVA, record) == expected


def test_distillation_problems_say_why() -> None:
    report = validate_lines(
        padded(DISTILLATION, NOVA, prompt({"role": "user", "content": [video()]})),
        NOVA,
        strategy=DISTILLATION,
    )
    assert (
        report.problems[0].message == "messages[1].content[1].video: distillation takes text only, no videos"
    )
    assert (report.strategy, report.data_format) == (
        "distillation",
        "bedrock-conversation-2024 (distillation prompts)",
    )


@pytest.mark.parametrize("family", [LLAMA_CONVERSATION, LLAMA_PROMPT_COMPLETION], ids=lambda f: f.name)
@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(prompt(turn("user", "q")), [], id="one-prompt"),
        pytest.param(prompt(turn("user", "q"), turn("assistant", "a")), [], id="prompt-and-answer"),
        pytest.param(
            prompt(turn("user", "q"), turn("assistant", "a"), turn("user", "q2")),
            [(1, "multi_turn_prompt")],
            id="two-prompts",
        ),
        pytest.param(prompt(turn("user", "User: hi")), [], id="no-reserved-tokens-outside-nova"),
    ],
)
def test_llama_students_take_single_turn_prompts(
    family: ModelFamily, record: Any, expected: list[tuple[int | None, str]]
) -> None:
    assert check(DISTILLATION, family, record) == expected


def test_a_llama_prompts_file_is_conversations_whatever_the_family_fine_tunes_on() -> None:
    """Llama 3.1 fine-tunes on prompt/completion records, but its distillation prompts are conversations."""
    assert check(DISTILLATION, LLAMA_PROMPT_COMPLETION, {"prompt": "q", "completion": "a"}) == [
        (1, "missing_key"),
        (1, "missing_key"),
    ]


REINFORCEMENT_CASES = [
    pytest.param(
        chat(("system", "You are a math tutor"), ("user", "Solve: 2x + 5 = 13")), [], id="system-user"
    ),
    pytest.param(
        chat(("user", "q"), reference_answer={"solution": "x = 4", "steps": ["2x = 8"]}), [], id="object"
    ),
    pytest.param(chat(("user", "q"), reference_answer=42), [], id="number-reference"),
    pytest.param(chat(("user", "q"), reference_answer=["a", "b"]), [], id="list-reference"),
    pytest.param(chat(("user", "q"), id="sample-001", tools=[], rubric="exact"), [], id="grader-fields"),
    pytest.param(chat(("user", "q"), ("assistant", "a"), ("user", "q2")), [], id="few-shot-turns"),
    pytest.param({"messages": [{"role": "user", "content": "q"}]}, [(1, "missing_key")], id="no-reference"),
    pytest.param(chat(("user", "q"), reference_answer=None), [(1, "missing_key")], id="null-reference"),
    pytest.param(chat(("user", "q"), reference_answer=" "), [(1, "empty_text")], id="blank-reference"),
    pytest.param({"reference_answer": "4"}, [(1, "missing_key")], id="no-messages-key"),
    pytest.param(chat(), [(1, "no_messages")], id="no-messages"),
    pytest.param(chat(("user", "q"), ("assistant", "a")), [(1, "must_end_with_user")], id="ends-with-answer"),
    pytest.param(chat(("system", "s")), [(1, "must_end_with_user")], id="system-only"),
    pytest.param(
        chat(("user", "q"), ("system", "s"), ("user", "q2")), [(1, "system_not_first")], id="late-system"
    ),
    pytest.param(chat(("tool", "{}"), ("user", "q")), [(1, "bad_role")], id="tool-role"),
    pytest.param({**chat(), "messages": [{"content": "q"}]}, [(1, "missing_key")], id="role-missing"),
    pytest.param({**chat(), "messages": [{"role": "user"}]}, [(1, "missing_key")], id="content-missing"),
    pytest.param(chat(("user", [{"type": "text", "text": "q"}])), [(1, "wrong_type")], id="content-parts"),
    pytest.param(chat(("user", "  ")), [(1, "empty_text")], id="blank-content"),
    pytest.param(
        {**chat(), "messages": [{"role": "user", "content": "q", "name": "x"}]},
        [(1, "unexpected_key")],
        id="extra-message-key",
    ),
    pytest.param({**chat(), "messages": ["q"]}, [(1, "wrong_type")], id="message-not-object"),
    pytest.param(chat(("user", "Assistant: q")), [(1, "reserved_token")], id="reserved-token"),
    pytest.param(
        {"prompt": "q", "reference_answer": "4"}, [(1, "missing_key")], id="prompt-completion-record"
    ),
]


@pytest.mark.parametrize(("record", "expected"), REINFORCEMENT_CASES)
def test_reinforcement_records(record: Any, expected: list[tuple[int | None, str]]) -> None:
    assert check(REINFORCEMENT, NOVA_2_LITE, record) == expected


CPT_CASES = [
    pytest.param({"input": "AWS stands for Amazon Web Services"}, [], id="valid"),
    pytest.param({"input": "x", "source": "wiki"}, [(1, "unexpected_key")], id="extra-key"),
    pytest.param({"text": "x"}, [(1, "unexpected_key"), (1, "missing_key")], id="text-not-input"),
    pytest.param(
        {"prompt": "q", "completion": "a"},
        [(1, "unexpected_key"), (1, "missing_key")],
        id="fine-tuning-record",
    ),
    pytest.param({"input": 3}, [(1, "wrong_type")], id="number"),
    pytest.param({"input": " "}, [(1, "empty_text")], id="blank"),
    pytest.param({"input": "x" * (3 * 4_096 + 3)}, [(1, "too_many_tokens")], id="over-4096-tokens"),
    pytest.param({"input": "x" * (3 * 3_800)}, [(1, "near_token_limit")], id="near-the-limit"),
    pytest.param(b"", [(1, "blank_line")], id="blank-line"),
]


@pytest.mark.parametrize(("record", "expected"), CPT_CASES)
def test_continued_pre_training_records(record: Any, expected: list[tuple[int | None, str]]) -> None:
    assert check(CPT, PROMPT_COMPLETION, record) == expected


NOVA_2_CASES = [
    pytest.param(prompt(turn("user", "q"), turn("assistant", "a")), [], id="nova-1-record"),
    pytest.param(prompt(turn("user", "q"), answer(reasoning(), {"text": "a"})), [], id="reasoning"),
    pytest.param(
        prompt(
            turn("user", "q"), answer(reasoning(), {"text": "a"}), turn("user", "q2"), answer({"text": "b"})
        ),
        [],
        id="reasoning-in-one-of-two-turns",
    ),
    pytest.param(
        prompt({"role": "user", "content": [reasoning(), {"text": "q"}]}, turn("assistant", "a")),
        [(1, "reasoning_in_user_turn")],
        id="reasoning-from-the-user",
    ),
    pytest.param(
        prompt(turn("user", "q"), answer(reasoning())), [(1, "reasoning_without_answer")], id="reasoning-only"
    ),
    pytest.param(
        prompt(turn("user", "q"), answer({"reasoningContent": {"redactedContent": "eA=="}}, {"text": "a"})),
        [(1, "wrong_type")],
        id="redacted-reasoning",
    ),
    pytest.param(
        prompt(turn("user", "q"), answer(reasoning(" "), {"text": "a"})),
        [(1, "empty_text")],
        id="blank-reasoning",
    ),
    pytest.param(
        prompt(turn("user", "q"), answer(reasoning("Thought: x"), {"text": "a"})),
        [(1, "reserved_token")],
        id="reserved-token-in-reasoning",
    ),
    pytest.param(
        prompt(turn("user", "q"), answer({"toolUse": {"toolUseId": "1", "name": "f", "input": {}}})),
        [(1, "tool_use_unsupported")],
        id="tool-use",
    ),
    pytest.param(
        prompt(
            {"role": "user", "content": [{"toolResult": {"toolUseId": "1", "content": [{"text": "r"}]}}]},
            turn("assistant", "a"),
        ),
        [(1, "tool_use_unsupported")],
        id="tool-result",
    ),
    pytest.param(
        prompt(turn("user", "q"), turn("assistant", "a"), toolConfig={"tools": []}),
        [(1, "tool_use_unsupported")],
        id="tool-config",
    ),
    pytest.param(
        prompt({"role": "user", "content": [image("png"), {"text": "q"}]}, turn("assistant", "a")),
        [],
        id="png",
    ),
    pytest.param(
        prompt({"role": "user", "content": [image("webp"), {"text": "q"}]}, turn("assistant", "a")),
        [(1, "bad_media_format")],
        id="webp-is-nova-1-only",
    ),
    pytest.param(
        prompt({"role": "user", "content": [video("mkv"), {"text": "q"}]}, turn("assistant", "a")),
        [],
        id="mkv",
    ),
    pytest.param(
        prompt({"role": "user", "content": [video("webm"), {"text": "q"}]}, turn("assistant", "a")),
        [(1, "bad_media_format")],
        id="webm-is-nova-1-only",
    ),
    pytest.param(
        prompt(turn("user", "q"), answer(image(), {"text": "a"})),
        [(1, "media_in_assistant_turn")],
        id="image-from-the-assistant",
    ),
    pytest.param(prompt(turn("user", "q")), [(1, "must_end_with_assistant")], id="unanswered"),
    pytest.param(
        prompt(turn("user", "System: q"), turn("assistant", "a")), [(1, "reserved_token")], id="reserved"
    ),
]


@pytest.mark.parametrize(("record", "expected"), NOVA_2_CASES)
def test_nova_2_lite_fine_tuning_records(record: Any, expected: list[tuple[int | None, str]]) -> None:
    assert check(FINE_TUNING, NOVA_2_LITE, record) == expected


def test_nova_2_lite_is_one_media_kind_a_dataset() -> None:
    with_image = prompt({"role": "user", "content": [image(), {"text": "q"}]}, turn("assistant", "a"))
    with_video = prompt({"role": "user", "content": [video(), {"text": "q"}]}, turn("assistant", "a"))
    report = validate_lines(padded(FINE_TUNING, NOVA_2_LITE, with_image, with_video), NOVA_2_LITE)
    assert problems(report) == [(None, "mixed_media")]
    assert "first on line 1" in report.problems[0].message and "first on line 2" in report.problems[0].message


def test_nova_2_lite_problems_say_why() -> None:
    record = prompt(turn("user", "q"), answer({"toolUse": {}}, {"text": "a"}))
    report = validate_lines(padded(FINE_TUNING, NOVA_2_LITE, record), NOVA_2_LITE)
    assert report.problems[0].message == (
        "messages[2].content[1]: toolUse: Nova 2 Lite fine-tuning does not support tool use yet, and tool "
        "sections might cause the job to fail (nova-2-sft-data-prep)"
    )


def test_the_model_id_chooses_nova_2_lite() -> None:
    assert family_for_model("amazon.nova-2-lite-v1:0:256k") is NOVA_2_LITE
    assert family_for_model("amazon.nova-2-lite-v1:0") is NOVA_2_LITE
    assert NOVA_2_LITE.hyperparameters == NOVA.hyperparameters  # Nova 1's ranges: no page gives its own
    assert NOVA_2_LITE.media is not None and NOVA_2_LITE.media.image_formats == ("png", "jpeg", "gif")


@pytest.mark.parametrize(
    ("strategy", "family", "count", "expected"),
    [
        pytest.param(DISTILLATION, NOVA, 99, "too_few_records", id="distillation-99"),
        pytest.param(DISTILLATION, NOVA, 100, None, id="distillation-100"),
        pytest.param(DISTILLATION, NOVA, 15_000, None, id="distillation-15000"),
        pytest.param(DISTILLATION, NOVA, 15_001, "too_many_records", id="distillation-15001"),
        pytest.param(REINFORCEMENT, NOVA_2_LITE, 99, "too_few_records", id="reinforcement-99"),
        pytest.param(REINFORCEMENT, NOVA_2_LITE, 100, None, id="reinforcement-100"),
        pytest.param(REINFORCEMENT, NOVA_2_LITE, 20_001, "too_many_records", id="reinforcement-20001"),
        pytest.param(CPT, PROMPT_COMPLETION, 1, None, id="cpt-1"),
        pytest.param(CPT, PROMPT_COMPLETION, 10_001, "too_many_records", id="cpt-10001-the-family's-bound"),
        pytest.param(FINE_TUNING, NOVA_2_LITE, 199, "too_few_records", id="nova-2-lite-199"),
        pytest.param(FINE_TUNING, NOVA_2_LITE, 200, None, id="nova-2-lite-200"),
        pytest.param(DISTILLATION, NOVA, 0, "empty_file", id="distillation-empty"),
    ],
)
def test_record_counts(strategy: Strategy, family: ModelFamily, count: int, expected: str | None) -> None:
    report = validate_lines(padded(strategy, family, total=count), family, strategy=strategy)
    assert problems(report) == ([] if expected is None else [(None, expected)])


def test_fifty_distillation_prompts_are_refused_saying_why() -> None:
    report = validate_lines(padded(DISTILLATION, NOVA, total=50), NOVA, strategy=DISTILLATION)
    assert not report.valid
    assert report.problems[0].message == (
        "50 prompts; at least 100 are needed: Bedrock fails a distillation job with fewer "
        "(custom-distill-prepare)"
    )


@pytest.mark.parametrize(
    ("strategy", "family", "limit"),
    [
        pytest.param(DISTILLATION, NOVA, 1024**3, id="distillation-1-gb"),
        pytest.param(CPT, PROMPT_COMPLETION, 10 * 1024**3, id="cpt-10-gb"),
        pytest.param(REINFORCEMENT, NOVA_2_LITE, NOVA_2_LITE.max_file_bytes, id="reinforcement-the-family's"),
    ],
)
def test_file_size_limits(strategy: Strategy, family: ModelFamily, limit: int) -> None:
    lines = padded(strategy, family)
    assert validate_lines(lines, family, strategy=strategy, declared_size=limit).valid
    report = validate_lines(lines, family, strategy=strategy, declared_size=limit + 1)
    assert problems(report) == [(None, "file_too_large")]
    assert f"at most {limit:,}" in report.problems[0].message


@pytest.mark.parametrize(
    ("strategy", "family"),
    [
        pytest.param(DISTILLATION, NOVA, id="distillation"),
        pytest.param(REINFORCEMENT, NOVA_2_LITE, id="reinforcement"),
        pytest.param(FINE_TUNING, NOVA_2_LITE, id="nova-2-lite-fine-tuning"),
    ],
)
def test_a_validation_file_is_refused_with_the_reason(strategy: Strategy, family: ModelFamily) -> None:
    report = validate_lines(padded(strategy, family), family, strategy=strategy, validation_file=True)
    assert problems(report) == [(None, "no_validation_file")]
    assert report.records == 0  # refused unread


def test_a_continued_pre_training_validation_file_is_checked() -> None:
    report = validate_lines(
        padded(CPT, PROMPT_COMPLETION, {"input": ""}, total=3),
        PROMPT_COMPLETION,
        strategy=CPT,
        validation_file=True,
    )
    assert problems(report) == [(1, "empty_text")]
    big = validate_lines(
        [], PROMPT_COMPLETION, strategy=CPT, validation_file=True, declared_size=100 * 1024**2 + 1
    )
    assert problems(big) == [(None, "file_too_large")]


def test_the_families_each_strategy_customizes_come_from_the_capability_table() -> None:
    assert families_for(DISTILLATION) == {"nova", "llama-conversation", "llama-prompt-completion"}
    assert families_for(REINFORCEMENT) == {"nova-2-lite"}
    assert families_for(CPT) == {"prompt-completion"}


@pytest.mark.parametrize("family", [*ALL_FAMILIES, pytest.param(NOVA_2_LITE, id="nova-2-lite")])
@pytest.mark.parametrize("strategy", [DISTILLATION, REINFORCEMENT, CPT], ids=str)
def test_a_family_without_the_strategy_is_refused_unread(family: ModelFamily, strategy: Strategy) -> None:
    report = validate_lines(padded(strategy, NOVA), family, strategy=strategy)
    if family.name in families_for(strategy):
        assert strategy_problem(family, strategy) is None
        assert "unsupported_strategy" not in report.counts
    else:
        assert problems(report) == [(None, "unsupported_strategy")]
        assert report.problems[0].message == strategy_problem(family, strategy)
        assert f"the {family.name} family has no {strategy} data" in report.problems[0].message


def test_nova_micro_distils_with_the_nova_family_rules() -> None:
    assert (
        check(DISTILLATION, NOVA_MICRO, prompt(turn("user", "q"), turn("assistant", "a"), turn("user", "b")))
        == []
    )


@pytest.mark.parametrize(
    ("strategy", "family"),
    [
        (DISTILLATION, NOVA),
        (REINFORCEMENT, NOVA_2_LITE),
        (CPT, PROMPT_COMPLETION),
        (FINE_TUNING, NOVA_2_LITE),
    ],
    ids=str,
)
def test_duplicates_are_warned_for_every_strategy(strategy: Strategy, family: ModelFamily) -> None:
    record = filler(strategy, family, 0)
    report = validate_lines(padded(strategy, family, record), family, strategy=strategy)
    assert problems(report) == [(2, "duplicate_record")] and report.valid


def test_fine_tuning_reports_say_so() -> None:
    report = validate_lines(padded(FINE_TUNING, CLAUDE_HAIKU, total=0), CLAUDE_HAIKU)
    assert report.to_dict()["strategy"] == "fine_tuning"
