"""`iterft validate --strategy`: a file checked as a strategy's data on a laptop, as the Validate step checks
the round's upload (exit 0 valid, 1 invalid, 2 usage error)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iterft import cli

NOVA_MICRO = "amazon.nova-micro-v1:0:128k"
NOVA_2_LITE = "amazon.nova-2-lite-v1:0:256k"


def _file(tmp_path: Path, records: list[Any]) -> str:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return str(path)


def _prompts(count: int) -> list[Any]:
    return [
        {
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [{"role": "user", "content": [{"text": f"q{i}"}]}],
        }
        for i in range(count)
    ]


def _chats(count: int) -> list[Any]:
    return [{"messages": [{"role": "user", "content": f"q{i}"}], "reference_answer": i} for i in range(count)]


def _validate(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, dict[str, Any]]:
    code = cli.main(["validate", *arguments, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_user_only_prompts_are_a_valid_distillation_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, _prompts(100))
    code, report = _validate(capsys, path, "--model", NOVA_MICRO, "--strategy", "distillation")
    assert code == cli.EXIT_OK
    assert (report["valid"], report["strategy"], report["records"]) == (True, "distillation", 100)
    assert report["data_format"] == "bedrock-conversation-2024 (distillation prompts)"
    # The same file is no fine-tuning data: every record lacks its answer.
    code, report = _validate(capsys, path, "--model", NOVA_MICRO)
    assert code == cli.EXIT_FAILED and report["counts"] == {"must_end_with_assistant": 100}


def test_each_problem_is_printed_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    multi_turn = {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            {"role": role, "content": [{"text": text}]}
            for role, text in (("user", "a"), ("assistant", "b"), ("user", "c"))
        ],
    }
    path = _file(tmp_path, [multi_turn, *_prompts(49)])
    code = cli.main(
        ["validate", path, "--model", "meta.llama3-2-1b-instruct-v1:0:128k", "--strategy", "distillation"]
    )
    assert code == cli.EXIT_FAILED
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0]
        == f"{path}: invalid: 50 records, 2 errors, 0 warnings (multi_turn_prompt x1, too_few_records x1)"
    )
    assert out[1] == (
        "  line 1: error multi_turn_prompt: 2 user turns; a llama-conversation student takes single-turn "
        "prompts: one user turn, optionally followed by the answer (distillation-data-prep-option-1)"
    )
    assert out[2] == (
        "  file: error too_few_records: 50 prompts; at least 100 are needed: Bedrock fails a distillation "
        "job with fewer (custom-distill-prepare)"
    )


@pytest.mark.parametrize(
    ("arguments", "records", "exit_code", "codes"),
    [
        pytest.param(
            ["--model", NOVA_2_LITE, "--strategy", "reinforcement"], _chats(100), 0, [], id="rft-valid"
        ),
        pytest.param(
            ["--model", NOVA_2_LITE, "--strategy", "reinforcement"],
            [{"messages": [{"role": "user", "content": "q"}]}, *_chats(99)],
            1,
            [(1, "missing_key")],
            id="rft-without-reference",
        ),
        pytest.param(
            ["--family", "prompt-completion", "--strategy", "continued_pre_training"],
            [{"input": "AWS stands for Amazon Web Services"}, {"prompt": "q", "completion": "a"}],
            1,
            [(2, "unexpected_key"), (2, "missing_key")],
            id="cpt",
        ),
        pytest.param(
            ["--model", NOVA_2_LITE, "--validation"],
            _prompts(3),
            1,
            [(None, "no_validation_file")],
            id="nova-2-lite-validation-file",
        ),
    ],
)
def test_strategies_through_the_cli(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    records: list[Any],
    exit_code: int,
    codes: list[tuple[int | None, str]],
) -> None:
    code, report = _validate(capsys, _file(tmp_path, records), *arguments)
    assert code == exit_code
    assert [(p["line"], p["code"]) for p in report["problems"]] == codes


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        pytest.param(
            ["--family", "claude-haiku", "--strategy", "distillation"],
            "iterft validate: the claude-haiku family has no distillation data: distillation customizes "
            "models of the llama-conversation, llama-prompt-completion, nova families (docs/capabilities.md)",
            id="family-without-the-strategy",
        ),
        pytest.param(
            ["--model", "meta.llama3-2-11b-instruct-v1:0:128k", "--strategy", "distillation"],
            "iterft validate: Meta Llama 3.2 11B Instruct cannot be customized by distillation "
            "(docs/capabilities.md)",
            id="model-without-the-strategy",
        ),
        pytest.param(
            ["--model", NOVA_MICRO, "--strategy", "reinforcement"],
            "iterft validate: the nova family has no reinforcement data: reinforcement customizes models of "
            "the nova-2-lite family (docs/capabilities.md)",
            id="reinforcement-is-nova-2-lite's",
        ),
    ],
)
def test_a_strategy_the_model_cannot_take_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], error: str
) -> None:
    assert cli.main(["validate", _file(tmp_path, _prompts(100)), *arguments]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == error


def test_an_unknown_strategy_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["validate", _file(tmp_path, _prompts(1)), "--family", "nova", "--strategy", "magic"])
    assert exited.value.code == cli.EXIT_USAGE
    assert "invalid choice: 'magic'" in capsys.readouterr().err
