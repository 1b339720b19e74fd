"""The streaming dataset validator, record by record: each format's rules, media and the families' limits
on single records (the file as a whole: test_logic_validation_file.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from iterft_runtime.logic.validation import validate_lines
from iterft_runtime.models.families import (
    CLAUDE_HAIKU,
    LLAMA_CONVERSATION,
    LLAMA_PROMPT_COMPLETION,
    NOVA,
    NOVA_MICRO,
    PROMPT_COMPLETION,
    ModelFamily,
    family_for_model,
    family_named,
)
from validation_support import (
    CLAUDE_GOOD,
    GOOD_CONV,
    LITE,
    MICRO,
    asking,
    conv,
    image,
    padded,
    problems,
    turn,
    video,
)

from iterft import cli

CONVERSATION_CASES = [
    pytest.param(GOOD_CONV, [], id="valid"),
    pytest.param(b"{oops", [(1, "invalid_json")], id="invalid-json"),
    pytest.param(b"\xfe{}", [(1, "invalid_utf8")], id="invalid-utf8"),
    pytest.param(b"\xff\xfe{}", [(1, "wrong_encoding"), (1, "invalid_utf8")], id="utf16-bom"),
    pytest.param([GOOD_CONV], [(1, "not_object")], id="array"),
    pytest.param({"messages": GOOD_CONV["messages"]}, [(1, "missing_key")], id="no-schema-version"),
    pytest.param({**GOOD_CONV, "schemaVersion": "v2"}, [(1, "bad_schema_version")], id="bad-schema-version"),
    pytest.param(conv(), [(1, "no_messages")], id="no-messages"),
    pytest.param({"schemaVersion": "bedrock-conversation-2024"}, [(1, "missing_key")], id="messages-missing"),
    pytest.param({**GOOD_CONV, "messages": "hi"}, [(1, "wrong_type")], id="messages-not-list"),
    pytest.param(conv(turn("user", "hi"), turn("bot", "x")), [(1, "bad_role")], id="bad-role"),
    pytest.param(
        conv(turn("assistant", "x"), turn("user", "y")),
        [(1, "must_start_with_user"), (1, "must_end_with_assistant")],
        id="wrong-ends",
    ),
    pytest.param(
        conv(turn("user", "a"), turn("user", "b"), turn("assistant", "c")),
        [(1, "roles_not_alternating")],
        id="not-alternating",
    ),
    pytest.param(conv(turn("user", "  "), turn("assistant", "x")), [(1, "empty_text")], id="empty-text"),
    pytest.param(conv(turn("user", 3), turn("assistant", "x")), [(1, "wrong_type")], id="text-not-string"),
    pytest.param(
        conv({"role": "user", "content": [{"document": {"format": "pdf"}}]}, turn("assistant", "x")),
        [(1, "unsupported_content")],
        id="document-block",
    ),
    pytest.param(
        conv({"role": "user", "content": [{}]}, turn("assistant", "x")),
        [(1, "unsupported_content")],
        id="empty-block",
    ),
    pytest.param(
        conv({"role": "user", "content": []}, turn("assistant", "x")), [(1, "wrong_type")], id="no-blocks"
    ),
    pytest.param(conv(turn("user", "q"), "x"), [(1, "wrong_type")], id="message-not-object"),
    pytest.param(
        conv(turn("user", "q"), turn("assistant", "a"), system=[{"text": " "}]),
        [(1, "empty_text")],
        id="empty-system",
    ),
    pytest.param(
        conv(turn("user", "q"), turn("assistant", "a"), system=[{"text": "System: be nice"}]),
        [(1, "reserved_token")],
        id="reserved-in-system",
    ),
    pytest.param(
        conv(turn("user", "ASSISTANT: q"), turn("assistant", "<image> a")),
        [(1, "reserved_token"), (1, "reserved_token")],
        id="reserved-upper-case-and-image-tag",
    ),
    pytest.param(conv({"role": "user"}, turn("assistant", "x")), [(1, "missing_key")], id="content-missing"),
    pytest.param(
        conv(turn("user", "User: hi"), turn("assistant", "fine [EOS]")),
        [(1, "reserved_token"), (1, "reserved_token")],
        id="reserved-tokens",
    ),
    pytest.param({**GOOD_CONV, "system": "be nice"}, [(1, "wrong_type")], id="system-not-blocks"),
]


@pytest.mark.parametrize(("record", "expected"), CONVERSATION_CASES)
def test_conversation_records(record: Any, expected: list[tuple[int, str]]) -> None:
    report = validate_lines(padded(NOVA, record), NOVA)
    assert problems(report) == expected
    assert report.valid is (expected == [])


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(CLAUDE_GOOD, [], id="valid"),
        pytest.param({**CLAUDE_GOOD, "system": ["x"]}, [(1, "wrong_type")], id="system-not-string"),
        pytest.param(
            {
                "messages": [
                    {"role": "user", "content": [{"text": "q"}]},
                    {"role": "assistant", "content": "a"},
                ]
            },
            [(1, "wrong_type")],
            id="content-blocks",
        ),
        pytest.param(
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]},
            [(1, "empty_text")],
            id="empty",
        ),
        pytest.param(
            {"messages": [{"role": "user", "content": "q"}]}, [(1, "must_end_with_assistant")], id="one-turn"
        ),
        pytest.param(
            {"messages": [{"content": "q"}, {"role": "assistant", "content": "a"}]},
            [(1, "missing_key")],
            id="role-missing",
        ),
    ],
)
def test_claude_records(record: Any, expected: list[tuple[int, str]]) -> None:
    assert problems(validate_lines(padded(CLAUDE_HAIKU, record), CLAUDE_HAIKU)) == expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param({"prompt": "p", "completion": "c"}, [], id="valid"),
        pytest.param({"prompt": "p"}, [(1, "missing_key")], id="completion-missing"),
        pytest.param({"prompt": 1, "completion": "c"}, [(1, "wrong_type")], id="prompt-number"),
        pytest.param(
            {"prompt": "", "completion": ""}, [(1, "empty_text"), (1, "empty_text")], id="both-empty"
        ),
        pytest.param({"prompt": "User: p", "completion": "c"}, [], id="no-reserved-tokens-outside-nova"),
    ],
)
def test_prompt_completion_records(record: Any, expected: list[tuple[int, str]]) -> None:
    assert problems(validate_lines(padded(PROMPT_COMPLETION, record), PROMPT_COMPLETION)) == expected


@pytest.mark.parametrize(
    ("family", "record", "expected"),
    [
        pytest.param(LITE, asking(image()), [], id="lite-image"),
        pytest.param(
            LITE, asking(*[image(f) for f in ("jpeg", "png", "gif", "webp")]), [], id="lite-formats"
        ),
        pytest.param(LITE, asking(*[image()] * 10), [], id="lite-ten-images"),
        pytest.param(LITE, asking(*[image()] * 11), [(1, "too_many_images")], id="lite-eleven-images"),
        pytest.param(LITE, asking(*[video(f) for f in ("mov",)]), [], id="lite-video"),
        pytest.param(LITE, asking(video(), video("webm")), [(1, "too_many_videos")], id="lite-two-videos"),
        pytest.param(
            LITE,
            asking(image(), video()),
            [(1, "mixed_media"), (None, "mixed_media")],
            id="lite-image-and-video",
        ),
        pytest.param(LITE, asking(image("bmp")), [(1, "bad_media_format")], id="lite-bmp"),
        pytest.param(LITE, asking(image("PNG")), [(1, "bad_media_format")], id="lite-upper-case-format"),
        pytest.param(LITE, asking(video("avi")), [(1, "bad_media_format")], id="lite-avi"),
        pytest.param(
            LITE, asking(image(uri="https://x/a.png")), [(1, "bad_media_source")], id="lite-http-uri"
        ),
        pytest.param(
            LITE, asking({"image": {"format": "png"}}), [(1, "bad_media_source")], id="lite-no-source"
        ),
        pytest.param(LITE, asking({"image": "a.png"}), [(1, "wrong_type")], id="lite-image-not-object"),
        pytest.param(
            LITE,
            conv(turn("user", "draw a cat"), {"role": "assistant", "content": [image(), {"text": "here"}]}),
            [(1, "media_in_assistant_turn")],
            id="lite-image-from-assistant",
        ),
        pytest.param(MICRO, asking(image()), [(1, "unsupported_content")], id="micro-image"),
        pytest.param(MICRO, asking(video()), [(1, "unsupported_content")], id="micro-video"),
        pytest.param(MICRO, conv(turn("user", "q"), turn("assistant", "a")), [], id="micro-text"),
        pytest.param(LLAMA_CONVERSATION, asking(image()), [(1, "unsupported_content")], id="llama-3.2-image"),
    ],
)
def test_media_rules(family: ModelFamily, record: Any, expected: list[tuple[int | None, str]]) -> None:
    report = validate_lines(padded(family, record), family)
    assert problems(report) == expected
    assert report.valid is (expected == [])


def test_a_file_holds_images_or_videos_not_both() -> None:
    report = validate_lines(padded(LITE, asking(image()), asking(video())), LITE)
    assert problems(report) == [(None, "mixed_media")]
    assert "first on line 1" in report.problems[0].message and "first on line 2" in report.problems[0].message


def test_the_model_id_chooses_the_limits_and_the_family_name_the_defaults() -> None:
    assert MICRO is NOVA_MICRO and MICRO.media is None and MICRO.model == "amazon.nova-micro"
    assert MICRO.name == "nova" and MICRO.hyperparameters == NOVA.hyperparameters
    assert family_for_model("amazon.nova-pro-v1:0:300k") is NOVA is LITE and NOVA.media is not None
    assert family_named("nova") is NOVA
    assert family_for_model("meta.llama3-2-11b-instruct-v1:0:128k") is LLAMA_CONVERSATION
    assert family_for_model("meta.llama3-1-8b-instruct-v1:0:128k") is LLAMA_PROMPT_COMPLETION
    assert family_for_model("amazon.titan-text-express-v1:0:8k") is PROMPT_COMPLETION
    assert family_for_model("anthropic.claude-3-haiku-20240307-v1:0:200k") is CLAUDE_HAIKU


@pytest.mark.parametrize(
    ("arguments", "exit_code", "codes"),
    [
        (["--model", "amazon.nova-micro-v1:0:128k"], 1, ["unsupported_content"]),
        (["--model", "amazon.nova-lite-v1:0:300k"], 0, []),
        (["--family", "nova"], 0, []),
    ],
)
def test_cli_micro_refuses_media_while_the_nova_family_defaults_allow_it(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], arguments: list[str], exit_code: int, codes: list[str]
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"".join(padded(NOVA, asking(image()))))
    assert cli.main(["validate", str(path), *arguments, "--json"]) == exit_code
    report = json.loads(capsys.readouterr().out)
    assert [(p["line"], p["code"]) for p in report["problems"]] == [(1, code) for code in codes]
    assert report["model"] == ("amazon.nova-micro" if "micro" in arguments[1] else None)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param({**CLAUDE_GOOD, "prompt": "x"}, [(1, "unexpected_key")], id="extra-record-key"),
        pytest.param(
            {
                "messages": [
                    {"role": "user", "content": "q", "name": "x"},
                    {"role": "assistant", "content": "a"},
                ]
            },
            [(1, "unexpected_key")],
            id="extra-message-key",
        ),
        pytest.param({**CLAUDE_GOOD, "system": " "}, [(1, "empty_text")], id="empty-system"),
        pytest.param({"system": "s"}, [(1, "missing_key")], id="messages-missing"),
        pytest.param({"messages": []}, [(1, "no_messages")], id="no-messages"),
        pytest.param(
            {"messages": [{"role": "system", "content": "q"}, {"role": "assistant", "content": "a"}]},
            [(1, "bad_role")],
            id="system-role",
        ),
        pytest.param(
            {"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]},
            [(1, "must_start_with_user"), (1, "must_end_with_assistant")],
            id="reversed",
        ),
        pytest.param(
            {"messages": [{"role": "user", "content": 7}, {"role": "assistant", "content": "a"}]},
            [(1, "wrong_type")],
            id="content-number",
        ),
        pytest.param({**CLAUDE_GOOD, "system": "User: hi"}, [], id="no-reserved-tokens-for-claude"),
    ],
)
def test_more_claude_records(record: Any, expected: list[tuple[int, str]]) -> None:
    assert problems(validate_lines(padded(CLAUDE_HAIKU, record), CLAUDE_HAIKU)) == expected
