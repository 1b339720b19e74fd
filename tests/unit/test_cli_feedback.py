"""`iterft feedback` checks feedback locally before anything is written: these cases never reach AWS
(`--check`, or a problem found first), so they run without a deployment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iterft import cli
from iterft.commands.flywheel import curation_lines

FIELDS = "request_id, rating, corrected_answer, category, comment"
LOGS = "s3://logs/AWSLogs/1/BedrockModelInvocationLogs/us-east-1/"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(["feedback", "support-bot", *args])
    except SystemExit as usage_error:
        code = int(usage_error.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_file_with_problems_lists_each_with_its_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reviews.jsonl"
    path.write_text(
        '{"request_id": "r-1", "rating": 5}\nnot json\n{"request_id": "r-1", "rating": 0, "tone": "x"}\n'
    )
    code, out, err = _run(capsys, "--file", str(path), "--endpoint-url", "http://127.0.0.1:9")
    assert code == cli.EXIT_FAILED and out == ""
    assert err.splitlines() == [
        f"{path} line 2: not JSON",
        f"{path} line 3: unknown field 'tone' (fields: {FIELDS})",
        f"{path} line 3: rating: required, a whole number from 1 to 5, not 0",
        f"{path} line 3: request_id 'r-1' already has feedback on line 1",
        "iterft feedback: 4 problem(s); nothing was written",
    ]


def test_check_only_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "reviews.jsonl"
    path.write_text(
        json.dumps({"request_id": "r-1", "rating": 2, "corrected_answer": "Open Settings."}) + "\n"
    )
    code, out, _ = _run(capsys, "--file", str(path), "--check")
    assert code == cli.EXIT_OK and out.strip() == "1 feedback records, valid (--check: nothing written)"
    code, out, err = _run(capsys, "--request-id", "r-2", "--rating", "9", "--check")
    assert code == cli.EXIT_FAILED
    assert err.splitlines()[0] == "the feedback: rating: required, a whole number from 1 to 5, not 9"


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--rating", "4")
    assert code == cli.EXIT_USAGE and "give --request-id and --rating (or --file)" in err
    code, _, err = _run(capsys, "--file", str(tmp_path / "x.jsonl"), "--request-id", "r", "--rating", "4")
    assert code == cli.EXIT_USAGE and "either --file or --request-id" in err
    code, _, err = _run(capsys, "--file", str(tmp_path / "missing.jsonl"))
    assert code == cli.EXIT_USAGE and "cannot read" in err
    code, _, err = _run(capsys, "--request-id", "r", "--rating", "four")
    assert code == cli.EXIT_USAGE and "'four' is not a whole number" in err


def test_what_curate_prints_for_a_real_run_that_wrote_nothing() -> None:
    result = {
        "lineage": "bot",
        "dry_run": False,
        "since": "2026-12-01",
        "until": "2026-12-04",
        "log_location": LOGS,
        "log_objects": 3,
        "logged_calls": 5,
        "lineage_calls": 2,
        "counts": {"fine_tuning": 2},
        "problems": ["k line 1: not JSON"],
        "problem_count": 3,
        "notes": ["fine-tuning: 2 record(s), under the model's minimum of 8: nothing starts"],
        "written": [],
    }
    assert curation_lines(result) == [
        f"bot: 5 logged calls in 3 log objects under {LOGS} (2026-12-01..2026-12-04), 2 of them the "
        "lineage's",
        "taken: 2 fine_tuning, 0 distillation, 0 dropped",
        "problem: k line 1: not JSON",
        "... 2 more problem(s)",
        "note: fine-tuning: 2 record(s), under the model's minimum of 8: nothing starts",
        "nothing written: no round starts",
    ]
