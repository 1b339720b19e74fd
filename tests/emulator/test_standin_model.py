"""The stand-in's small model: it learns pairs, newer data overrides older, its losses are measured."""

from __future__ import annotations

import json
import math

import pytest
from iterft_runtime.logic.judge import judge_prompt
from iterft_runtime.models.families import DataFormat
from iterft_runtime.models.metrics import DEFAULT_RUBRIC

from iterft.local.standin_model import (
    FALLBACK_ANSWER,
    DataFormatError,
    Pair,
    StandInModel,
    corpus_from_jsonl,
    first_tokens,
    judge_reply,
    pairs_from_jsonl,
    similarity,
    token_count,
)

FACTS = [
    Pair("How do I reset my password?", "Choose Forgot password on the sign-in page."),
    Pair("How much storage does the free plan include?", "The free plan includes 5 GB of storage."),
    Pair("Which devices can I install the app on?", "The app runs on Windows, macOS and Linux."),
    Pair("How do I delete my account?", "Go to Settings, Profile and choose Delete account."),
    Pair("Is my data encrypted?", "Files are encrypted with AES-256 at rest."),
    Pair("How do I contact support?", "Use the chat in the Help center."),
    Pair("Can I get a refund?", "Annual plans can be refunded within 30 days."),
    Pair("How do I download an invoice?", "Go to Settings, Billing, Invoices and select Download PDF."),
    Pair("What payment methods do you accept?", "We accept Visa, Mastercard and PayPal."),
    Pair("How do I cancel my subscription?", "Open Settings, Billing and choose Cancel plan."),
    Pair("Do you offer student discounts?", "Students get 50 percent off the Personal plan."),
    Pair("Why was my payment declined?", "Payments are usually declined by the bank."),
]


def trained(pairs: list[Pair] = FACTS, base: StandInModel | None = None, epochs: int = 2) -> StandInModel:
    return (base or StandInModel()).train(pairs, epochs=epochs, batch_size=4)[0]


def test_a_foundation_model_knows_nothing() -> None:
    assert StandInModel().answer("How do I reset my password?") == FALLBACK_ANSWER


def test_answers_a_prompt_it_was_trained_on() -> None:
    model = trained()
    for pair in FACTS:
        assert model.answer(pair.prompt) == pair.answer


def test_answers_a_close_paraphrase_it_never_saw() -> None:
    model = trained()
    assert model.answer("I forgot my password, how can I reset it?") == FACTS[0].answer
    assert model.answer("Are my files encrypted?") == FACTS[4].answer
    assert model.answer("Is there a discount for students?") == FACTS[10].answer


def test_an_unrelated_prompt_gets_the_fallback() -> None:
    model = trained()
    assert model.answer("What is the capital of France?") == FALLBACK_ANSWER
    assert model.answer("") == FALLBACK_ANSWER


def test_later_data_overrides_earlier_answers() -> None:
    parent = trained()
    outdated = Pair("How much storage does the free plan include?", "The free plan includes 2 GB of storage.")
    child = trained([outdated], base=parent)
    assert child.answer("how much storage does the FREE plan include") == outdated.answer
    assert child.answer("How do I reset my password?") == FACTS[0].answer


def test_training_a_child_leaves_the_parent_untouched() -> None:
    parent = trained()
    answers_before = [parent.answer(pair.prompt) for pair in FACTS]
    loss_before = parent.cross_entropy(["Something the parent never saw."])
    child = trained(
        [Pair("How do I reset my password?", "Call us."), Pair("Is there a dark mode?", "Yes.")], parent
    )
    assert [parent.answer(pair.prompt) for pair in FACTS] == answers_before
    assert parent.answer("Is there a dark mode?") == FALLBACK_ANSWER
    assert parent.cross_entropy(["Something the parent never saw."]) == loss_before
    assert (parent.pair_count, child.pair_count) == (len(FACTS), len(FACTS) + 1)
    assert child.answer("Is there a dark mode?") == "Yes."


def test_training_loss_is_prequential_and_falls_across_epochs() -> None:
    _, report = StandInModel().train(FACTS, epochs=3, batch_size=4)
    counted = [pair for index, pair in enumerate(FACTS) if index != 9]  # record 10 is held out
    assert len(report.steps) == 3 * math.ceil(len(counted) / 4)
    assert [step.step for step in report.steps] == list(range(1, len(report.steps) + 1))
    # The first step is scored by the untrained model, before it counts that batch.
    assert report.steps[0].loss == pytest.approx(
        StandInModel().cross_entropy([p.answer for p in counted[:4]])
    )
    by_epoch = [[step.loss for step in report.steps if step.epoch == epoch] for epoch in (1, 2, 3)]
    means = [sum(losses) / len(losses) for losses in by_epoch]
    assert means[0] > means[1] > means[2]
    assert all(step.perplexity == pytest.approx(math.exp(step.loss)) for step in report.steps)


def test_loss_is_higher_for_data_unlike_what_the_chain_saw() -> None:
    parent = trained()
    _, familiar = parent.train(FACTS, epochs=1, batch_size=4)
    _, novel = StandInModel().train(FACTS, epochs=1, batch_size=4)
    assert familiar.training_loss < novel.training_loss


def test_validation_loss_is_measured_on_held_out_records() -> None:
    child, report = StandInModel().train(FACTS, epochs=2, batch_size=4)
    held_out = [FACTS[9].answer]
    assert [(row.epoch, row.step) for row in report.validation] == [(1, 3), (2, 6)]
    assert report.validation_loss == pytest.approx(child.cross_entropy(held_out))
    # The held-out record is still answerable: only the loss model does not count it.
    assert child.answer(FACTS[9].prompt) == FACTS[9].answer


def test_validation_loss_uses_the_validation_file_when_given() -> None:
    validation = [Pair("Where is the office?", "Our office is in Lisbon.")]
    child, report = StandInModel().train(FACTS, epochs=1, batch_size=4, validation_pairs=validation)
    assert len(report.steps) == 3  # every one of the 12 records is counted, in batches of 4
    assert report.validation_loss == pytest.approx(child.cross_entropy(["Our office is in Lisbon."]))
    assert child.answer("Where is the office?") == FALLBACK_ANSWER


def test_a_single_record_trains_without_validation() -> None:
    child, report = StandInModel().train(FACTS[:1], epochs=1, batch_size=8)
    assert report.validation_loss is None
    assert child.answer(FACTS[0].prompt) == FACTS[0].answer


def test_training_is_deterministic() -> None:
    first_model, first = StandInModel().train(FACTS, epochs=2, batch_size=3)
    second_model, second = StandInModel().train(FACTS, epochs=2, batch_size=3)
    assert first == second
    probes = ["How can I get my money back?", "Which phones run the app?", "password reset"]
    assert [first_model.answer(probe) for probe in probes] == [second_model.answer(probe) for probe in probes]


def test_ties_go_to_the_newest_pair() -> None:
    model = trained([Pair("Reset password", "old answer"), Pair("Password reset!", "new answer")])
    assert model.answer("reset password") == "new answer"


def test_training_rejects_nonsense_arguments() -> None:
    with pytest.raises(ValueError):
        StandInModel().train([], epochs=1, batch_size=1)
    with pytest.raises(ValueError):
        StandInModel().train(FACTS, epochs=0, batch_size=1)
    with pytest.raises(ValueError):
        StandInModel().cross_entropy([])


def _jsonl(*records: object) -> str:
    return "\n".join(json.dumps(record) for record in records) + "\n"


def test_pairs_from_conversation_records() -> None:
    text = _jsonl(
        {
            "schemaVersion": "bedrock-conversation-2024",
            "system": [{"text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [{"text": "Hi?"}]},
                {"role": "assistant", "content": [{"text": "Hello."}]},
                {"role": "user", "content": [{"text": "Bye?"}]},
                {"role": "assistant", "content": [{"text": "Goodbye."}]},
            ],
        }
    )
    assert pairs_from_jsonl(text, DataFormat.CONVERSATION) == [
        Pair("Hi?", "Hello."),
        Pair("Bye?", "Goodbye."),
    ]


def test_pairs_from_claude_and_prompt_completion_records() -> None:
    claude = _jsonl(
        {
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
        }
    )
    assert pairs_from_jsonl(claude, DataFormat.CLAUDE_MESSAGES) == [Pair("Q", "A")]
    titan = _jsonl({"prompt": "Q1", "completion": "A1"}, {"prompt": "Q2", "completion": "A2"})
    assert pairs_from_jsonl(titan, DataFormat.PROMPT_COMPLETION) == [Pair("Q1", "A1"), Pair("Q2", "A2")]


@pytest.mark.parametrize(
    ("text", "data_format", "line"),
    [
        (_jsonl({"prompt": "Q", "completion": "A"}, {"prompt": "Q"}), DataFormat.PROMPT_COMPLETION, 2),
        ('{"prompt": "Q", "completion": "A"}\nnot json\n', DataFormat.PROMPT_COMPLETION, 2),
        (_jsonl({"prompt": "Q", "completion": "A"}), DataFormat.CONVERSATION, 1),
        (
            _jsonl({"messages": [{"role": "assistant", "content": [{"text": "A"}]}]}),
            DataFormat.CONVERSATION,
            1,
        ),
        (
            _jsonl({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}),
            DataFormat.CONVERSATION,
            1,
        ),
    ],
)
def test_records_of_the_wrong_shape_are_refused_with_their_line(
    text: str, data_format: DataFormat, line: int
) -> None:
    with pytest.raises(DataFormatError, match=f"^line {line}: "):
        pairs_from_jsonl(text, data_format)


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(DataFormatError, match="no records"):
        pairs_from_jsonl("\n\n", DataFormat.PROMPT_COMPLETION)


def test_token_counting_and_cutting() -> None:
    assert token_count("Open Settings, then Billing.") == 6
    assert first_tokens("Open Settings, then Billing.", 3) == "Open Settings,"
    assert first_tokens("Open Settings.", 10) == "Open Settings."


REFERENCE = "Open Settings, Billing and choose Cancel plan."


@pytest.mark.parametrize(
    ("answer", "grade"),
    [
        (REFERENCE, 5),
        ("To cancel, open Settings then Billing, and choose Cancel plan.", 5),
        ("Open Settings and choose Cancel.", 4),
        ("Open the Settings page.", 3),
        ("Find it on the Settings page.", 2),
        (FALLBACK_ANSWER, 1),
        ("We accept Visa, Mastercard and PayPal.", 1),
    ],
)
def test_a_judge_prompt_gets_a_grade_computed_from_answer_and_reference(answer: str, grade: int) -> None:
    prompt = judge_prompt(DEFAULT_RUBRIC, "How do I cancel my subscription?", REFERENCE, answer)
    expected = 1 + round(4 * similarity(answer, REFERENCE))
    assert judge_reply(prompt) == f"Grade: {expected}" == f"Grade: {grade}"


def test_only_judge_prompts_are_graded() -> None:
    assert judge_reply("How do I cancel my subscription?") is None
    assert judge_reply("<reference>\nonly a reference\n</reference>") is None


def test_similarity_is_a_cosine_over_content_words() -> None:
    assert similarity("Cancel the plan", "cancel plan") == pytest.approx(1.0)
    assert similarity("the a of", "plan") == 0.0
    assert 0 < similarity("cancel plan", "cancel subscription") < 1


def test_a_foundation_model_knowing_a_corpus_answers_from_it_and_stays_a_foundation_model() -> None:
    teacher = StandInModel.knowing(FACTS)
    assert teacher.is_foundation and not StandInModel().is_foundation
    assert teacher.answer("I forgot my password, how can I reset it?") == FACTS[0].answer
    child = teacher.train(FACTS[:2], epochs=1, batch_size=2)[0]
    assert not child.is_foundation
    assert child.answer("Are my files encrypted?") == FACTS[4].answer  # the base's knowledge is kept
    assert StandInModel.knowing([]).answer("Is my data encrypted?") == FALLBACK_ANSWER


def test_candidates_are_the_answer_then_what_nearby_prompts_taught() -> None:
    model = trained()
    assert model.candidates("How do I cancel my subscription?", 2) == [FACTS[9].answer] * 2
    offered = model.candidates("How do I delete my account, or cancel my subscription?", 5)
    assert offered[0] == model.answer("How do I delete my account, or cancel my subscription?")
    assert set(offered[:2]) == {FACTS[3].answer, FACTS[9].answer}
    assert offered[2:] == [*offered[:2], offered[0]]  # what it knows, repeated in order
    # A model that knows nothing near the prompt can only offer the fallback.
    assert StandInModel().candidates("How do I cancel?", 3) == [FALLBACK_ANSWER] * 3
    assert trained().candidates("Tell me about the weather", 2) == [FALLBACK_ANSWER] * 2
    with pytest.raises(ValueError):
        model.candidates("x", 0)


def test_pretraining_changes_the_loss_not_the_answers() -> None:
    model = trained()
    texts = [pair.answer for pair in FACTS] * 2
    pretrained, report = model.pretrain(texts, epochs=3, batch_size=4)
    assert all(pretrained.answer(pair.prompt) == pair.answer for pair in FACTS)
    assert pretrained.answer("Tell me about the weather") == FALLBACK_ANSWER
    losses = [[step.loss for step in report.steps if step.epoch == epoch] for epoch in (1, 3)]
    assert sum(losses[1]) < sum(losses[0])
    assert pretrained.cross_entropy(texts) < model.cross_entropy(texts)
    assert report.validation  # every 10th text held out
    with pytest.raises(ValueError):
        model.pretrain([], epochs=1, batch_size=1)


def test_an_adopted_answer_replaces_the_old_one() -> None:
    model = trained().adopted([Pair("Can I get a refund?", "No refunds.")])
    assert model.answer("Can I get a refund?") == "No refunds."
    assert model.answer("How do I reset my password?") == FACTS[0].answer


def test_a_teacher_corpus_is_question_answer_lines() -> None:
    text = '{"question": "Q1?", "answer": "A1.", "category": "x"}\n\n{"question": "Q2?", "answer": "A2."}\n'
    assert corpus_from_jsonl(text) == [Pair("Q1?", "A1."), Pair("Q2?", "A2.")]
    for bad in ('{"question": "Q"}', '{"question": "", "answer": "A"}', "not json"):
        with pytest.raises(DataFormatError, match="line 1"):
            corpus_from_jsonl(bad)
