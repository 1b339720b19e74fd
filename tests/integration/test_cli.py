"""The operator CLI against the embedded default: every command's output and its error cases.

Output is captured from a pipe (not a terminal), so it is plain text: no colour codes, and `start
--wait` prints one line per step instead of a status line updated in place. The tests are one
operator's session, in file order: `operate`'s rounds wait for review (status, reject, approve) and
`manual` is trained by hand on `operate`'s uploads (start, then history and report).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from iterft_runtime.dal.registry import Registry

from iterft import cli
from iterft.charts import training_label
from iterft.history import lineage_status, report_data
from iterft.local.session import LocalSession
from iterft.report import CHART_FILES, report_figures

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
TIMEOUT = 60
"""The Lambda handlers run in this process and write JSON logs and metrics to stdout: not the CLI's."""


@pytest.fixture(scope="module")
def session(itest_session: LocalSession) -> LocalSession:
    for lineage in ("operate", "manual"):
        itest_session.put_evaluation_set(lineage, EXAMPLES / "eval.jsonl")
    return itest_session


@pytest.fixture(autouse=True)
def pipe_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 80 columns a pipe is given: tables are printed at their natural width instead, unfolded."""
    monkeypatch.setenv("COLUMNS", "80")


def _wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def _data_uri(session: LocalSession, key: str) -> str:
    return f"s3://{session.deployment.bucket_name}/{key}"


SHARED_KEY = "incoming/operate/round-1-billing.jsonl"
"""Uploaded for `operate` (whose round then waits for review); `manual` is started on it by hand."""


@pytest.fixture(scope="module")
def review_pending(session: LocalSession) -> Registry:
    """`operate` #1 running and waiting for its review."""
    registry = Registry(session.deployment.table_name)
    session.upload("operate", EXAMPLES / "round-1-billing.jsonl")
    _wait_until(
        lambda: (
            (record := registry.get_iteration("operate", 1)) is not None
            and record.approval.get("status") == "pending"
        ),
        "operate #1 never asked for approval",
    )
    return registry


def test_status_shows_the_round_waiting_for_review_and_the_uploads_queued_behind_it(
    session: LocalSession, capsys: pytest.CaptureFixture[str], review_pending: Registry
) -> None:
    registry = review_pending
    session.upload("operate", EXAMPLES / "round-2-storage-and-account.jsonl")
    _wait_until(lambda: len(registry.queued_uploads("operate")) == 1, "the second upload was not queued")

    code, out, _ = run_cli(session, capsys, "status", "operate")
    assert code == cli.EXIT_OK
    [row] = [line for line in out.splitlines() if line.startswith("│ operate")]
    assert "it 1: Wait for approval (" in row
    assert "amazon.nova-micro-v1:0:128k (starting model)" in out
    assert "on_demand: -" in row  # the serving mode; nothing serves before the first promotion
    assert "operate queued: s3://" in out and "round-2-storage-and-account.jsonl" in out

    code, out, _ = run_cli(session, capsys, "status", "operate", "--json")
    [status] = json.loads(out)
    assert (status["running_iteration"], status["running_step"]) == (1, "Wait for approval")
    assert len(status["queued"]) == 1 and status["converged"] is False

    # Every lineage of the stack, one row each.
    code, out, _ = run_cli(session, capsys, "status")
    assert code == cli.EXIT_OK
    lineages = {line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│ ")}
    assert {"operate", "manual", "promote", "silence"} <= lineages


def test_reject_and_approve_answer_the_waiting_rounds_in_turn(
    session: LocalSession, capsys: pytest.CaptureFixture[str], review_pending: Registry
) -> None:
    registry = review_pending
    code, out, _ = run_cli(session, capsys, "reject", "operate", "1", "--reason", "answers leak ticket ids")
    assert code == cli.EXIT_OK and "operate #1: rejected" in out
    _wait_until(
        lambda: (
            (record := registry.get_iteration("operate", 2)) is not None
            and record.approval.get("status") == "pending"
        ),
        "operate #2 never asked for approval",
    )
    code, out, _ = run_cli(session, capsys, "approve", "operate", "2", "--reason", "spot-checked")
    assert code == cli.EXIT_OK and "operate #2: approved" in out
    session.wait_until_idle("operate", timeout=TIMEOUT)

    code, out, _ = run_cli(session, capsys, "history", "operate")
    assert code == cli.EXIT_OK
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│ ")
    ]
    assert {int(cells[0]): cells[-2] for cells in rows} == {1: "rejected", 2: "promoted"}
    assert {int(cells[0]): cells[-1] for cells in rows} == {1: "-", 2: "champion"}  # rollback to
    [why] = [line for line in out.splitlines() if line.startswith("  1: ")]
    assert "answers leak ticket ids" in why  # why round 1 was rejected


def test_approve_and_reject_errors_are_one_line(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(session, capsys, "approve", "operate", "2")
    assert code == cli.EXIT_FAILED and out == ""
    assert err.strip() == "iterft approve: operate #2 is not waiting for approval (approval: approved)"
    code, _, err = run_cli(session, capsys, "reject", "operate", "99", "--reason", "x")
    assert code == cli.EXIT_FAILED and err.strip() == "iterft reject: operate has no iteration 99"


def test_start_wait_runs_a_manual_round_on_another_lineages_data_and_shows_its_steps(
    session: LocalSession, capsys: pytest.CaptureFixture[str], review_pending: Registry
) -> None:
    key = SHARED_KEY
    code, out, err = run_cli(
        session,
        capsys,
        "start",
        "manual",
        "--data",
        _data_uri(session, key),
        "--wait",
        "--timeout",
        "60",
        "--interval",
        "0.05",
    )
    assert (code, err) == (cli.EXIT_OK, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"manual: round requested on {_data_uri(session, key)}?versionId=")
    steps = [line for line in lines if line.startswith("manual #1: ") and line.endswith(")")]
    # Progress lines: the iteration, the workflow state it entered (a capitalised state name) and
    # how long the round has run.
    named = [line for line in steps if re.fullmatch(r"manual #1: [A-Z][\w ]+ \((\d+m )?\d+s\)", line)]
    assert named, out
    assert lines[-1].startswith("manual #1: promoted: token_f1: candidate")

    [status] = lineage_status(session.deployment, "manual")
    assert status["champion_iteration"] == 1 and status["running_iteration"] is None
    round_one = Registry(session.deployment.table_name).get_iteration("manual", 1)
    assert round_one is not None
    assert (round_one.strategy, round_one.customization_type) == ("fine_tuning", "FINE_TUNING")

    # The same object version again: refused before anything is sent (one version, one round).
    code, out, err = run_cli(session, capsys, "start", "manual", "--data", _data_uri(session, key))
    assert code == cli.EXIT_FAILED and out == ""
    assert "was already recorded for manual" in err and len(err.strip().splitlines()) == 1


def test_start_without_wait_returns_at_once_and_the_round_runs(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "incoming/operate/round-2-storage-and-account.jsonl"
    code, out, _ = run_cli(session, capsys, "start", "manual", "--data", _data_uri(session, key))
    assert code == cli.EXIT_OK
    assert "follow it with: iterft status manual" in out
    _wait_until(
        lambda: (
            (record := Registry(session.deployment.table_name).get_iteration("manual", 2)) is not None
            and record.decision != "running"
        ),
        "manual #2 did not run",
    )
    session.wait_until_idle("manual", timeout=TIMEOUT)


def _champion_results(session: LocalSession, lineage: str) -> tuple[int, list[dict[str, Any]]]:
    """The champion's iteration and the per-record results of the round that promoted it, read from S3
    on their own (the test's hand computation of the gaps)."""
    registry = Registry(session.deployment.table_name)
    state = registry.get_state(lineage)
    assert state is not None and state.champion_iteration > 0
    record = registry.get_iteration(lineage, state.champion_iteration)
    assert record is not None and record.results_uri
    bucket, key = record.results_uri[len("s3://") :].split("/", 1)
    body = session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return state.champion_iteration, [json.loads(line) for line in body.splitlines() if line.strip()]


def test_gaps_names_the_weakest_category_with_the_records_the_champion_fails_worst(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    champion, rows = _champion_results(session, "manual")
    scores: dict[str, list[tuple[float, int, dict[str, Any]]]] = {}
    for row in rows:
        scores.setdefault(row["category"], []).append(
            (row["candidate_metrics"]["token_f1"], row["line"], row)
        )
    means = {category: sum(s for s, _, _ in values) / len(values) for category, values in scores.items()}
    weakest = min(means, key=lambda category: (means[category], category))
    worst_score, _, worst = min(scores[weakest], key=lambda item: item[:2])
    assert worst_score < 1.0

    code, out, _ = run_cli(session, capsys, "gaps", "manual", "--json", "--examples", "2")
    assert code == cli.EXIT_OK
    analysis = json.loads(out)
    assert analysis["champion_iteration"] == champion
    assert analysis["answers_from"] == {"iteration": champion, "role": "candidate"}
    assert analysis["categories"][0]["category"] == weakest
    assert {gap["category"]: gap["score"] for gap in analysis["categories"]} == pytest.approx(means)
    first = analysis["categories"][0]
    assert first["records"] == len(scores[weakest]) and len(first["worst"]) <= 2
    assert first["worst"][0] == {
        "line": worst["line"],
        "prompt": worst["prompt"],
        "reference": worst["reference"],
        "answer": worst["candidate_answer"],
        "score": worst_score,
    }
    assert [point["iteration"] for point in first["trend"]] == [1, 2]  # both rounds on the same set
    assert first["traffic_share"] is None and analysis["traffic_share_given"] is False

    code, out, _ = run_cli(session, capsys, "gaps", "manual", "--weakest", "1")
    assert code == cli.EXIT_OK
    lines = out.splitlines()
    assert lines[0].startswith(
        f"lineage manual after iteration 2: champion iteration {champion}'s model, token_f1 "
    )
    assert f"Weakest: {weakest} ({means[weakest]:.4f})" in lines
    assert f"    prompt:    {' '.join(worst['prompt'].split())}" in lines
    assert any(re.match(rf"│ {re.escape(weakest)} +│ {len(scores[weakest])} ", line) for line in lines), out
    # The round's notification named it first among the champion's weakest categories.
    [notice] = [n for n in session.notifications() if n["subject"].startswith("iterft manual #2 ")]
    named = f"Weakest categories of the champion (token_f1): {weakest} {means[weakest]:.4f}"
    assert any(line.startswith(named) for line in notice["message"].splitlines()), notice["message"]


def test_gaps_before_any_evaluated_round_and_of_an_unknown_lineage(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    lineage = next(
        name
        for name in (lineage.name for lineage in session.config.lineages)
        if not Registry(session.deployment.table_name).list_iterations(name)
    )
    code, out, _ = run_cli(session, capsys, "gaps", lineage)
    assert (code, out.strip()) == (cli.EXIT_OK, f"lineage {lineage}: no evaluated round yet")
    code, out, _ = run_cli(session, capsys, "gaps", lineage, "--json")
    assert (code, json.loads(out)) == (cli.EXIT_OK, None)
    code, out, err = run_cli(session, capsys, "gaps", "nobody")
    assert code == cli.EXIT_FAILED and out == "" and "unknown lineage 'nobody'" in err


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ("s3://someone-elses-bucket/incoming/x.jsonl", "the data must be in the stack's data bucket"),
        ("{bucket}/validated/manual/000001/train.jsonl", "must be a .jsonl file under s3://"),
        ("{bucket}/incoming/operate/notes.txt", "must be a .jsonl file under s3://"),
        ("{bucket}/incoming/operate/missing.jsonl", "no such object"),
        ("/tmp/local.jsonl", "is not an s3://BUCKET/KEY URI"),
    ],
)
def test_start_refuses_data_the_round_could_not_read(
    session: LocalSession, capsys: pytest.CaptureFixture[str], data: str, error: str
) -> None:
    uri = data.format(bucket=f"s3://{session.deployment.bucket_name}")
    code, out, err = run_cli(session, capsys, "start", "manual", "--data", uri)
    assert code == cli.EXIT_FAILED and out == ""
    assert err.startswith("iterft start: ") and error in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("strategy", "error"),
    [
        ("magic", "unknown strategy 'magic'; known: fine_tuning, distillation, reinforcement"),
        (
            "distillation",
            "manual: distillation needs strategies.distillation settings in the lineage's config",
        ),
    ],
)
def test_start_refuses_a_strategy_the_round_would_refuse(
    session: LocalSession, capsys: pytest.CaptureFixture[str], strategy: str, error: str
) -> None:
    key = "incoming/operate/round-2-storage-and-account.jsonl"
    code, out, err = run_cli(
        session, capsys, "start", "manual", "--data", _data_uri(session, key), "--strategy", strategy
    )
    assert code == cli.EXIT_FAILED and out == ""
    assert err.startswith("iterft start: ") and error in err


def test_report_writes_the_page_with_every_iterations_loss_curve(
    session: LocalSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_cli(session, capsys, "report", "manual", "--out", str(tmp_path / "report"))
    assert code == cli.EXIT_OK
    page = tmp_path / "report" / "index.html"
    assert out.strip() == f"wrote {page}"
    text = page.read_text()
    for name in CHART_FILES:
        assert (tmp_path / "report" / name).stat().st_size > 0
        assert f'id="{name}"' in text
    assert re.findall(r'<tr id="iteration-(\d+)">', text) == ["1", "2"]
    # The gaps table: every category of the evaluation set, weakest first, as `iterft gaps` has them.
    gaps = json.loads(run_cli(session, capsys, "gaps", "manual", "--json")[1])
    assert re.findall(r'<tr id="gaps-(\w+)">', text) == [gap["category"] for gap in gaps["categories"]]

    # The curves come from the CSVs the stand-in wrote where Bedrock writes them, one per job.
    data = report_data(session.deployment, "manual")
    assert [curve.iteration for curve in data.curves] == [1, 2]
    assert all(curve.training for curve in data.curves)
    labels = {line.get_label() for line in report_figures(data)["loss-curves.png"].axes[0].get_lines()}
    assert {training_label(1), training_label(2)} <= labels


def test_history_through_a_pipe_folds_no_cell_and_has_json(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(session, capsys, "history", "manual")
    assert code == cli.EXIT_OK
    rows = [line for line in out.splitlines() if re.match(r"│ \d+ ", line)]
    assert len(rows) == 2 and max(len(line) for line in out.splitlines()) > 80
    assert SHARED_KEY.rsplit("/", 1)[-1] in rows[0]  # the dataset's file name, whole, on its row
    assert all("amazon.nova-micro-v1:0:128k" in row or "iteration 1's model" in row for row in rows)
    code, out, _ = run_cli(session, capsys, "history", "manual", "--json")
    assert [row["iteration"] for row in json.loads(out)] == [1, 2]


def test_report_into_a_file_is_one_line_and_exit_2(
    session: LocalSession, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    existing = tmp_path / "index.html"
    existing.write_text("kept")
    code, out, err = run_cli(session, capsys, "report", "manual", "--out", str(existing))
    assert code == cli.EXIT_USAGE and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(f"iterft report: --out {existing} cannot be a directory")
    assert existing.read_text() == "kept"


def test_an_endpoint_without_its_scheme_is_one_line_and_exit_2(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = session.endpoint.split("://", 1)[1]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["status", "--endpoint-url", endpoint, "--stack", session.deployment.stack_name])
    out, err = capsys.readouterr()
    assert exit_info.value.code == cli.EXIT_USAGE and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(f"iterft status: argument --endpoint-url: '{endpoint}' is not an http(s) URL")


@pytest.mark.parametrize(
    "command",
    [
        ["history", "nope"],
        ["status", "nope"],
        ["resume", "nope"],
        ["approve", "nope", "1"],
        ["reject", "nope", "1", "--reason", "x"],
        ["report", "nope", "--out", "unused"],
        ["start", "nope", "--data", "s3://bucket/incoming/x.jsonl"],
    ],
)
def test_an_unknown_lineage_is_one_line_naming_the_known_ones(
    session: LocalSession, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code, out, err = run_cli(session, capsys, *command)
    assert code == cli.EXIT_FAILED and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(
        f"iterft {command[0]}: unknown lineage 'nope' in stack {session.deployment.stack_name}"
    )
    assert "manual" in line and "operate" in line
    assert not Path("unused").exists()


@pytest.mark.parametrize("command", [["status"], ["history", "manual"], ["report", "manual", "--out", "x"]])
def test_a_missing_stack_is_one_line(
    session: LocalSession, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code = cli.main([*command, "--endpoint-url", session.endpoint, "--stack", "iterft-nowhere"])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_FAILED and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(f"iterft {command[0]}: no stack 'iterft-nowhere' found in ")


def test_start_wait_gives_up_after_its_timeout_with_one_line(
    session: LocalSession, capsys: pytest.CaptureFixture[str]
) -> None:
    """Last in the file: it adds a third round to `manual` (the report above shows two)."""
    session.upload("operate", EXAMPLES / "round-3-legacy-helpdesk-export.jsonl")  # waits for review there
    key = "incoming/operate/round-3-legacy-helpdesk-export.jsonl"
    code, out, err = run_cli(
        session, capsys, "start", "manual", "--data", _data_uri(session, key), "--wait", "--timeout", "0.001"
    )
    assert code == cli.EXIT_FAILED
    assert out.startswith("manual: round requested on ")
    [line] = err.strip().splitlines()
    assert re.fullmatch(
        r"iterft start: manual #(-|3) still (queued|running) after 0.001 s; "
        r"follow it with: iterft status manual",
        line,
    ), line
    session.wait_until_idle("manual", timeout=TIMEOUT)
