"""The CLI's failures that need no deployment: AWS credential, region and endpoint errors are one line
on stderr and exit 1 (never a traceback), and every command's --help ends with an example."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    TokenRetrievalError,
)

from iterft import cli, control, target


def _client_error(code: str, message: str = "the message") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeStacks")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            NoCredentialsError(),
            "no AWS credentials found: set AWS_PROFILE (or run `aws configure`) and retry",
        ),
        (
            TokenRetrievalError(provider="sso", error_msg="expired"),
            "AWS credentials expired (SSO session): run `aws sso login` and retry",
        ),
        (
            _client_error("ExpiredTokenException"),
            "AWS credentials expired or invalid (ExpiredTokenException): refresh them (e.g. `aws sso login`) "
            "and retry",
        ),
        (
            _client_error("InvalidClientTokenId"),
            "AWS credentials expired or invalid (InvalidClientTokenId): refresh them (e.g. `aws sso login`) "
            "and retry",
        ),
        (NoRegionError(), "no AWS region configured: pass --region or set AWS_REGION"),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
            "cannot reach http://127.0.0.1:1: check --endpoint-url",
        ),
        (_client_error("AccessDenied", "not allowed"), "access denied: not allowed"),
        (_client_error("Throttling", "slow down"), "DescribeStacks failed (Throttling): slow down"),
    ],
)
def test_aws_errors_are_described_in_one_actionable_line(error: Exception, expected: str) -> None:
    assert target.describe_aws_error(error) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NoCredentialsError(), "iterft status: no AWS credentials found"),
        (_client_error("ExpiredToken"), "iterft status: AWS credentials expired or invalid (ExpiredToken)"),
    ],
)
def test_a_credentials_error_while_reading_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: Exception, expected: str
) -> None:
    """Credentials that expire after the stack was found: the registry read fails mid-command."""

    def failing_status(*_: object) -> None:
        raise error

    monkeypatch.setattr(target, "resolve", lambda *_, **__: object())
    monkeypatch.setattr(cli, "lineage_status", failing_status)
    assert cli.main(["status"]) == cli.EXIT_FAILED
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(expected)


def test_missing_credentials_when_finding_the_stack_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    """No credentials anywhere (no profile, no environment, no instance role): the first call fails."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", f"{tmp_path}/none")
    monkeypatch.setenv("AWS_CONFIG_FILE", f"{tmp_path}/none")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    # The CLI exports the endpoint and region for the runtime's clients; monkeypatch restores them.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert cli.main(["history", "bot"]) == cli.EXIT_FAILED
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        "iterft history: cannot read stack 'iterft-dev': no AWS credentials found: set AWS_PROFILE "
        "(or run `aws configure`) and retry"
    )


COMMANDS = ["validate", "history", "status", "start", "report", "resume", "approve", "reject"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    examples = out.split("examples:\n", 1)[1].splitlines()
    assert examples and all(line.startswith(f"  iterft {command} ") for line in examples if line.strip())


def test_the_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(f"    {command} " in out for command in COMMANDS)


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["start", "bot"])  # --data is required
    assert exit_info.value.code == cli.EXIT_USAGE
    assert "--data" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [["reject", "bot", "7"], ["approve", "bot", "7"], ["rollback", "bot", "--to", "3"]],
)
def test_a_reason_longer_than_a_sentence_is_refused_before_anything_is_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """It would travel in the workflow's state (256 KiB at most), the registry and the notification."""
    monkeypatch.setattr(target, "resolve", lambda *_, **__: object())  # reading it would fail: nothing is
    reason = "x" * (control.MAX_REASON_CHARS + 1)
    assert cli.main([*command, "--reason", reason]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert f"the reason is 1,001 characters; at most {control.MAX_REASON_CHARS:,} are kept" in err
