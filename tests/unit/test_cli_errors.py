"""The CLI's failures that need no deployment: AWS credential, region and endpoint errors are one line
on stderr and exit 1 (never a traceback), and every command's --help ends with an example."""

from __future__ import annotations

import gzip
import io
import os
import sys
from pathlib import Path

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    TokenRetrievalError,
)
from rich.console import Console

from iterft import cli, control, history, target
from iterft.commands.common import print_table
from iterft.commands.read import history_table


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
    monkeypatch.setattr(history, "lineage_status", failing_status)
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


def _one_line(capsys: pytest.CaptureFixture[str], starts: str) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith(starts), line
    return line


def _usage(capsys: pytest.CaptureFixture[str], argv: list[str], starts: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == cli.EXIT_USAGE
    return _one_line(capsys, starts)


@pytest.mark.parametrize("url", ["127.0.0.1:5000", "localhost", "ftp://host"])
def test_an_endpoint_without_a_scheme_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    line = _usage(capsys, ["status", "--endpoint-url", url], "iterft status: argument --endpoint-url: ")
    assert "e.g. http://127.0.0.1:PORT" in line
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)  # the same check for the environment's endpoint
    _usage(capsys, ["history", "bot"], "iterft history: argument --endpoint-url: ")


START = ["start", "bot", "--data", "s3://b/k"]


@pytest.mark.parametrize(
    ("argv", "starts"),
    [
        (["reject", "bot", "7", "--reason", ""], "iterft reject: argument --reason: must not be empty"),
        (["reject", "bot", "7", "--reason", "  "], "iterft reject: argument --reason: must not be empty"),
        (["approve", "bot", "7", "--reason", ""], "iterft approve: argument --reason: must not be empty"),
        (["rollback", "bot", "--to", "3", "--reason", ""], "iterft rollback: argument --reason: must not"),
        (
            ["withdraw", "bot", "--upload", "k", "--reason", ""],
            "iterft withdraw: argument --reason: must not",
        ),
        ([*START, "--timeout", "-5"], "iterft start: argument --timeout: must be"),
        ([*START, "--timeout", "nan"], "iterft start: argument --timeout: must be"),
        ([*START, "--interval", "0"], "iterft start: argument --interval: must be"),
        ([*START, "--timeout", "soon"], "iterft start: argument --timeout: 'soon'"),
        (
            ["rollback", "bot", "--to", "0", "--reason", "r"],
            "iterft rollback: argument --to: must be positive",
        ),
        (["approve", "bot", "-1"], "iterft approve: argument iteration: must be positive"),
        (["reject", "bot", "0", "--reason", "r"], "iterft reject: argument iteration: must be positive"),
        (["start", "bot"], "iterft start: the following arguments are required: --data"),
        ([], "iterft: the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], starts: str
) -> None:
    monkeypatch.setattr(target, "resolve", lambda *_, **__: pytest.fail("nothing is read"))
    line = _usage(capsys, argv, starts)
    assert line.endswith("--help)")


@pytest.fixture
def report_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(target, "resolve", lambda *_, **__: object())
    monkeypatch.setattr(history, "report_data", lambda *_: object())


def test_report_into_an_existing_file_is_a_usage_error(
    report_reads_nothing: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    existing = tmp_path / "report.html"
    existing.write_text("kept")
    for out in (existing, existing / "inside"):
        assert cli.main(["report", "bot", "--out", str(out)]) == cli.EXIT_USAGE
        line = _one_line(capsys, f"iterft report: --out {out} cannot be a directory")
        assert "give a directory" in line
    assert existing.read_text() == "kept"


def test_report_into_a_folder_that_cannot_be_written_is_one_line(
    report_reads_nothing: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # /proc takes no new folders, even from root; a read-only folder (root writes into any) is refused
    # before anything is read.
    outs = [Path("/proc/iterft-report")]
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        outs.append(locked / "report")
    for out in outs:
        assert cli.main(["report", "bot", "--out", str(out)]) == cli.EXIT_FAILED
        _one_line(capsys, "iterft report: cannot write ")


VALID_RECORD = (
    '{"schemaVersion": "bedrock-conversation-2024", '
    '"messages": [{"role": "user", "content": [{"text": "q"}]}, '
    '{"role": "assistant", "content": [{"text": "a"}]}]}\n'
)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/nowhere/data.jsonl", "iterft validate: no such file: /nowhere/data.jsonl"),
        ("/dev/null", "iterft validate: /dev/null is a device or socket, not a file"),
        ("{tmp}", "iterft validate: {tmp} is a directory, not a file"),
    ],
)
def test_validate_refuses_what_is_not_a_readable_file_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, path: str, says: str
) -> None:
    path, says = path.format(tmp=tmp_path), says.format(tmp=tmp_path)
    assert cli.main(["validate", path, "--family", "nova"]) == cli.EXIT_USAGE
    _one_line(capsys, says)


def test_validate_of_an_unreadable_file_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(VALID_RECORD)
    if os.geteuid() == 0:  # root reads a file whatever its mode: refuse the open as the kernel would
        monkeypatch.setattr(
            Path, "open", lambda *_, **__: (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
        )
    else:
        data.chmod(0)
    assert cli.main(["validate", str(data), "--family", "nova"]) == cli.EXIT_USAGE
    _one_line(capsys, f"iterft validate: cannot read {data}: Permission denied")


def test_validate_dash_reads_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(VALID_RECORD.encode() * 3)))
    assert cli.main(["validate", "-", "--family", "nova"]) == cli.EXIT_FAILED  # too few records
    out = capsys.readouterr().out
    assert out.startswith("<stdin>: invalid: 3 records")
    assert "too_few_records" in out


def test_validate_names_a_gzip_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl.gz"
    data.write_bytes(gzip.compress(VALID_RECORD.encode() * 10))
    assert cli.main(["validate", str(data), "--family", "nova"]) == cli.EXIT_FAILED
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(
        "  line 1: error compressed_file: the file is gzip-compressed (it starts with 1f 8b)"
    )


def test_tables_through_a_pipe_fold_no_word(capsys: pytest.CaptureFixture[str]) -> None:
    """A pipe is given 80 columns: the table is printed at its natural width instead, no cell folded."""
    rows = [
        {
            "iteration": n,
            "base_model": "amazon.nova-micro-v1:0:128k",
            "dataset": f"s3://bucket/incoming/bot/round-{n}-legacy-helpdesk-export.jsonl",
            "training_loss": 0.123456,
            "eval_score": 0.654321,
            "champion_score": 0.5,
            "decision": "promoted",
            "rollback": "possible",
        }
        for n in (1, 2)
    ]
    console = Console(file=io.StringIO(), width=80, soft_wrap=True, highlight=False)
    assert not console.is_terminal
    print_table(console, history_table("support-bot", rows))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[" not in text
    for cell in (
        "round-2-legacy-helpdesk-export.jsonl",
        "amazon.nova-micro-v1:0:128k",
        "training loss (last-epoch mean)",
    ):
        assert cell in text


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    # `iterft gaps bot --json | head -c 1`: the pipe closes while iterft still writes (here a stand-in
    # for the command that writes 2 MB, more than a pipe holds).
    import subprocess

    script = (
        "import sys\n"
        "from iterft import cli\n"
        "from iterft.commands import read\n"
        "def flood(args, console):\n"
        "    for _ in range(20000):\n"
        "        print('x' * 100)\n"
        "    return 0\n"
        "read._gaps = flood\n"
        "sys.exit(cli.main(['gaps', 'bot', '--stack', 'iterft-dev']))\n"
    )
    done = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.stdout is not None and done.stderr is not None
    assert done.stdout.read(1) == b"x"
    done.stdout.close()
    stderr = done.stderr.read().decode()
    assert done.wait(timeout=60) == 1
    assert stderr == "", stderr
