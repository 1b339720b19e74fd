"""The leakage check: training prompts that duplicate evaluation prompts, exactly or nearly, per format."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iterft_runtime.logic.leakage import (
    SEPARATOR,
    LeakageCheck,
    LeakageIndex,
    normalised_words,
    record_prompts,
    without_lines,
)
from iterft_runtime.logic.lines import split_lines
from iterft_runtime.logic.validation import validate_lines
from iterft_runtime.logic.validation_report import ValidationReport
from iterft_runtime.models.families import CLAUDE_HAIKU, LLAMA_PROMPT_COMPLETION, NOVA
from iterft_runtime.models.leakage import LeakageAction, LeakageConfig
from iterft_runtime.models.strategy_names import Strategy

EVALUATION = [
    (1, "How can I change the credit card I pay with?"),
    (2, "On which day of the month am I charged?"),
    (3, "Is it possible to get my money back?"),
    (5, "Where can I download my invoices?"),
    (6, "Hi"),
]
"""(evaluation line, prompt); line 4 of the set was blank."""


def index(threshold: float = 0.6, shingle_words: int = 3, **config: Any) -> LeakageIndex:
    settings_ = LeakageConfig(threshold=threshold, shingle_words=shingle_words, **config)
    return LeakageIndex(EVALUATION, settings_)


def trigrams(text: str) -> set[tuple[bytes, ...]]:
    words = normalised_words(text)
    return {tuple(words[at : at + 3]) for at in range(len(words) - 2)} or {tuple(words)}


def jaccard(a: str, b: str) -> float:
    """Computed here from word tuples, not the module's hashes."""
    x, y = trigrams(a), trigrams(b)
    return len(x & y) / len(x | y)


def conversation(question: str, answer: str = "An answer.") -> dict[str, Any]:
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "You are a support assistant."}],
        "messages": [
            {"role": "user", "content": [{"text": question}]},
            {"role": "assistant", "content": [{"text": answer}]},
        ],
    }


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


# Normalisation


def test_case_punctuation_and_spacing_do_not_matter() -> None:
    assert normalised_words("  How can I CHANGE the credit-card,\tI pay with?!") == [
        b"how",
        b"can",
        b"i",
        b"change",
        b"the",
        b"credit",
        b"card",
        b"i",
        b"pay",
        b"with",
    ]


def test_unicode_is_normalised_and_case_folded() -> None:
    # NFKC makes the full-width letters and the ligature plain; casefold makes É é and ß ss.
    full_width_c, ligature = "\uff23", "\ufb01"
    text = f"{full_width_c}afé \u201cÉTÉ\u201d \u2014 Straße {ligature}le"
    assert normalised_words(text) == normalised_words("café été strasse file")
    assert normalised_words("café été") == ["café".encode(), "été".encode()]


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_an_ascii_text_normalises_as_the_unicode_path_would(text: str) -> None:
    # The ASCII path (bytes translate) and the Unicode one (NFKC, casefold, regex) agree on ASCII text:
    # a word "é" after it sends the text down the Unicode path.
    assert normalised_words(text + " \u00e9") == [*normalised_words(text), "\u00e9".encode()]


# Exact and near duplicates


def test_an_exact_duplicate_after_normalisation_names_its_evaluation_line() -> None:
    found = index().match("how can i change the credit card, i pay with")

    assert found is not None and found.exact and found.evaluation_line == 1 and found.similarity == 1.0
    assert found.evaluation_prompt == EVALUATION[0][1]


def test_a_near_duplicate_above_the_threshold_matches_with_its_jaccard() -> None:
    text = "Hello there: how can I change the credit card I pay with? Thanks"
    expected = jaccard(text, EVALUATION[0][1])  # 8 shared trigrams of 11 in all
    assert expected == pytest.approx(8 / 11)

    found = index(threshold=0.6).match(text)

    assert found is not None and not found.exact
    assert found.evaluation_line == 1 and found.similarity == pytest.approx(expected)


def test_a_paraphrase_below_the_threshold_does_not_match() -> None:
    text = "How can I change the card that I pay with?"
    assert jaccard(text, EVALUATION[0][1]) == pytest.approx(4 / 12)

    assert index(threshold=0.6).match(text) is None
    assert index(threshold=0.3).match(text) is not None  # the threshold is the lineage's


def test_the_threshold_is_inclusive() -> None:
    text = "Hello there: how can I change the credit card I pay with? Thanks"  # exactly 8/11

    assert index(threshold=8 / 11).match(text) is not None
    assert index(threshold=0.728).match(text) is None


def test_shingle_words_change_the_measure() -> None:
    text = "How can I change the credit card I pay with today?"  # one word added at the end
    assert index(threshold=0.9, shingle_words=1).match(text) is not None  # 10 of 11 words
    assert index(threshold=0.9, shingle_words=3).match(text) is None  # 8 of 9 trigrams


def test_a_prompt_shorter_than_a_shingle_matches_only_exactly() -> None:
    assert index().match("hi!") is not None
    assert index().match("hi there") is None


def test_the_most_similar_evaluation_prompt_is_named_then_the_earliest() -> None:
    same = LeakageIndex([(7, "where is my parcel today"), (3, "where is my parcel today")], LeakageConfig())
    found = same.match("Where is my parcel today, please?")
    assert found is not None and found.evaluation_line == 3
    closer = LeakageIndex(
        [(1, "where is my parcel today at noon"), (2, "where is my parcel today please")], LeakageConfig()
    )
    found = closer.match("Where is my parcel today, please?")
    assert found is not None and found.exact and found.evaluation_line == 2


def test_texts_with_nothing_to_compare_match_nothing() -> None:
    assert index().match("") is None
    assert index().match("?!") is None
    assert LeakageIndex([], LeakageConfig()).match("How can I change the credit card I pay with?") is None


def test_a_long_text_is_ruled_out_by_its_head() -> None:
    question = EVALUATION[0][1]
    long_text = question + " " + " ".join(f"word{n}" for n in range(5000))
    assert index().match(long_text) is None
    # ... but not a long text of few distinct shingles: it is read whole.
    repeated = " ".join([question] * 400)
    assert jaccard(repeated, question) >= 0.6
    assert index().match(repeated) is not None


# The batch filter and the index agree with a brute-force comparison.

WORDS = st.sampled_from(["a", "b", "c", "d", "e", "f"])
PROMPT = st.lists(WORDS, min_size=0, max_size=9).map(" ".join)
# Words the Unicode path changes (composed, case-folded, split, widened, dropped) and separators.
UNICODE_WORDS = st.sampled_from(
    ["a", "B", "é", "E\u0301", "Straße", "don\u2019t", "\uff23af", "=\u0338", "İx", "½"]
)
UNICODE_PROMPT = st.lists(
    st.one_of(UNICODE_WORDS, st.sampled_from([" ", ", ", "?!", " \u2014 ", "\t", "-", SEPARATOR])),
    max_size=16,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    evaluation=st.lists(PROMPT, min_size=1, max_size=12),
    texts=st.lists(PROMPT, min_size=1, max_size=12),
    threshold=st.sampled_from([0.2, 0.5, 0.6, 0.75, 1.0]),
    shingle_words=st.integers(1, 3),
)
@pytest.mark.parametrize("use_native", [True, False], ids=["iterft_sieve", "python"])
def test_matches_are_exactly_the_brute_force_ones(
    use_native: bool, evaluation: list[str], texts: list[str], threshold: float, shingle_words: int
) -> None:
    brute_force_agrees(use_native, evaluation, texts, threshold, shingle_words)


@settings(max_examples=300, deadline=None)
@given(
    evaluation=st.lists(UNICODE_PROMPT, min_size=1, max_size=8),
    texts=st.lists(st.one_of(UNICODE_PROMPT, st.text(max_size=30)), min_size=1, max_size=8),
    threshold=st.sampled_from([0.2, 0.6, 1.0]),
    shingle_words=st.integers(1, 3),
)
@pytest.mark.parametrize("use_native", [True, False], ids=["iterft_sieve", "python"])
def test_unicode_texts_match_as_brute_force_says(
    use_native: bool, evaluation: list[str], texts: list[str], threshold: float, shingle_words: int
) -> None:
    brute_force_agrees(use_native, evaluation, texts, threshold, shingle_words)


def brute_force_agrees(
    use_native: bool, evaluation: list[str], texts: list[str], threshold: float, shingle_words: int
) -> None:
    config = LeakageConfig(threshold=threshold, shingle_words=shingle_words)
    built = LeakageIndex(list(enumerate(evaluation, start=1)), config, use_native=use_native)

    def shingles(text: str) -> set[tuple[bytes, ...]]:
        words = normalised_words(text)
        if len(words) < shingle_words:
            return {tuple(words)} if words else set()
        return {tuple(words[at : at + shingle_words]) for at in range(len(words) - shingle_words + 1)}

    suspects = built.suspects(texts)
    for at, text in enumerate(texts):
        x = shingles(text)
        best = max(
            (
                (len(x & shingles(prompt)) / len(x | shingles(prompt)), -line)
                for line, prompt in enumerate(evaluation, start=1)
                if x and shingles(prompt)
            ),
            default=(0.0, 0),
        )
        exact = [
            line
            for line, prompt in enumerate(evaluation, start=1)
            if x and normalised_words(prompt) == normalised_words(text)
        ]
        found = built.match(text)
        if exact:
            assert found is not None and found.exact and found.evaluation_line == exact[0]
        elif best[0] >= threshold - 1e-12:
            assert found is not None and not found.exact
            assert (found.similarity, found.evaluation_line) == pytest.approx((best[0], -best[1]))
        else:
            assert found is None
        if found is not None:
            assert at in suspects  # the batch filter never rules out a match


# Prompts of each format


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(
            {
                "schemaVersion": "bedrock-conversation-2024",
                "system": [{"text": "not a prompt"}],
                "messages": [
                    {
                        "role": "user",
                        "content": [{"text": "first"}, {"image": {"format": "png"}}, {"text": "x"}],
                    },
                    {"role": "assistant", "content": [{"text": "not a prompt"}]},
                    {"role": "user", "content": [{"text": "second"}]},
                    {"role": "assistant", "content": [{"reasoningContent": {}}, {"text": "no"}]},
                ],
            },
            [("user turn 1", "first\nx"), ("user turn 2", "second")],
            id="nova-conversation",
        ),
        pytest.param(
            {
                "system": "no",
                "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
            },
            [("user turn 1", "q")],
            id="claude-messages",
        ),
        pytest.param({"prompt": "p", "completion": "c"}, [("prompt", "p")], id="prompt-completion"),
        pytest.param(
            {
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
                "reference_answer": {"any": ["json"]},
            },
            [("user turn 1", "q")],
            id="reinforcement",
        ),
        pytest.param({"input": "a document"}, [("input", "a document")], id="continued-pre-training"),
        pytest.param({"messages": [{"role": "robot", "content": "q"}]}, [], id="unknown-role"),
    ],
)
def test_the_prompts_of_each_format(record: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert record_prompts(json.dumps(record).encode()) == expected


def test_a_line_that_is_no_record_has_no_prompts() -> None:
    assert record_prompts(b"{not json\n") == []
    assert record_prompts(b'{"prompt": 3}') == []
    assert record_prompts(b"\xff\n") == []


# A file: every matching line once, with the line numbers the validator gives


def leaky_file(count: int = 300) -> tuple[bytes, dict[int, int]]:
    """`count` records of distinct questions, some of them evaluation prompts (line -> evaluation line)."""
    records = [
        conversation(f"Question number {n} about topic {n * 7} and item {n * 13}?") for n in range(count)
    ]
    planted = {5: 1, 120: 2, 121: 3, 298: 5}  # odd lines exact (upper case), even ones near ("Thanks!")
    planted = {line: evaluation_line for line, evaluation_line in planted.items() if line <= count}
    for line, evaluation_line in planted.items():
        prompt = dict(EVALUATION)[evaluation_line]
        records[line - 1] = conversation(prompt.upper() if line % 2 else f"{prompt} Thanks!")
    return jsonl(records), planted


def found_lines(check: LeakageCheck) -> dict[int, int]:
    return {finding.line: finding.match.evaluation_line for finding in check.findings}


def test_the_validator_pass_and_a_pass_of_its_own_find_the_same_lines() -> None:
    body, planted = leaky_file()
    beside = LeakageCheck(index())
    report = validate_lines(split_lines([body]), NOVA, leakage=beside)
    alone = LeakageCheck(index())
    alone.check(split_lines([body[:1000], body[1000:]]))

    assert report.valid
    assert found_lines(beside) == found_lines(alone) == planted
    assert [finding.line for finding in beside.findings] == sorted(planted)


@pytest.mark.parametrize(
    ("family", "make"),
    [
        (
            CLAUDE_HAIKU,
            lambda q: {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "a"}]},
        ),
        (LLAMA_PROMPT_COMPLETION, lambda q: {"prompt": q, "completion": "a"}),
    ],
    ids=["claude", "prompt-completion"],
)
def test_other_formats_on_the_fast_path(family: Any, make: Any) -> None:
    records = [make(f"Unrelated question {n} on subject {n * 3}") for n in range(150)]
    records[40] = make("Where can I download my invoices")
    check = LeakageCheck(index())

    validate_lines(split_lines([jsonl(records)]), family, leakage=check)

    assert found_lines(check) == {41: 5}


def test_data_of_another_strategy_is_checked_too() -> None:
    prompts = [
        {
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [{"role": "user", "content": [{"text": q}]}],
        }
        for q in [f"Distil this question {n} of {n * 11}" for n in range(120)]
    ]
    prompts[99]["messages"][0]["content"][0]["text"] = "on which day of the month am i charged"
    check = LeakageCheck(index())

    validate_lines(split_lines([jsonl(prompts)]), NOVA, strategy=Strategy.DISTILLATION, leakage=check)

    assert found_lines(check) == {100: 2}


def test_a_blank_or_broken_line_does_not_hide_the_others() -> None:
    body, _ = leaky_file(50)
    lines = body.splitlines(keepends=True)
    lines[9] = b"\n"
    lines[19] = b"{broken\n"
    check = LeakageCheck(index())

    report = validate_lines(lines, NOVA, leakage=check)

    assert not report.valid
    assert found_lines(check) == {5: 1}


# What each action does to the report


def report_for(
    action: LeakageAction, body: bytes, fewest: int = 8
) -> tuple[ValidationReport, frozenset[int]]:
    check = LeakageCheck(index(action=action))
    report = validate_lines(split_lines([body]), NOVA, leakage=check)
    return report, check.apply(report, fewest)


def test_reject_makes_every_match_an_error_on_its_line() -> None:
    body, _ = leaky_file()

    report, dropped = report_for(LeakageAction.REJECT, body)

    assert not report.valid and dropped == frozenset()
    assert report.counts == {"evaluation_prompt": 4}
    [first, *_] = [problem for problem in report.problems if problem.code == "evaluation_prompt"]
    assert first.line == 5
    assert first.message == (
        "the user turn 1 is the prompt of evaluation line 1 (exact, after normalisation): "
        "'How can I change the credit card I pay with?'"
    )
    near = next(problem for problem in report.problems if problem.line == 120)
    assert near.message == (
        "the user turn 1 is a near duplicate of evaluation line 2's prompt (Jaccard 0.88 over word "
        "3-shingles, threshold 0.6): 'On which day of the month am I charged?'"
    )


def test_drop_leaves_the_matching_lines_out_and_warns() -> None:
    body, planted = leaky_file()

    report, dropped = report_for(LeakageAction.DROP, body)

    assert report.valid and report.counts == {"evaluation_prompt_dropped": 4}
    assert dropped == frozenset(planted)
    kept = list(without_lines(split_lines([body]), dropped))
    assert len(kept) == 296
    assert b"credit card" not in b"".join(kept).lower()


def test_drop_refuses_the_round_when_too_few_records_would_be_left() -> None:
    body, _ = leaky_file()

    report, dropped = report_for(LeakageAction.DROP, body, fewest=297)

    assert not report.valid and dropped == frozenset()
    assert report.counts["too_few_records"] == 1
    assert report.problems[-1].message == (
        "296 records once the 4 whose prompt duplicates an evaluation prompt are dropped "
        "(leakage.action drop); at least 297 are needed"
    )


def test_warn_keeps_everything_and_says_so() -> None:
    body, _ = leaky_file()

    report, dropped = report_for(LeakageAction.WARN, body)

    assert report.valid and dropped == frozenset()
    assert report.counts == {"evaluation_prompt_kept": 4}
    assert all(problem.message.endswith("; record kept (action warn)") for problem in report.problems)


def test_the_summary_counts_and_lists_the_first_matches() -> None:
    body, _ = leaky_file()
    check = LeakageCheck(index(action=LeakageAction.DROP))
    check.check(split_lines([body]))

    summary = check.summary()

    assert {key: summary[key] for key in ("action", "matched", "exact", "near", "dropped")} == {
        "action": "drop",
        "matched": 4,
        "exact": 2,
        "near": 2,
        "dropped": 4,
    }
    assert summary["first"][0] == {
        "line": 5,
        "where": "user turn 1",
        "evaluation_line": 1,
        "exact": True,
        "similarity": 1.0,
    }
