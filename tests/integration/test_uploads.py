"""Uploads on the embedded default: a burst of uploads runs in the order S3 saw it (two versions
of one key oldest first), files that are not datasets are recorded (not silently ignored), and an
upload withdrawn with `iterft withdraw` (or whose object version was deleted before its round) never
trains.

The lineage is paused first (converged, as `gate.pause_when_converged` pauses it), so the whole burst
is queued before anything runs; `iterft resume` then starts the queue.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cli_support import run_cli
from iterft_runtime.dal.registry import Registry

from iterft import cli
from iterft.history import deployed_config, lineage_history, lineage_status, lineage_uploads
from iterft.local.session import LocalSession

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
LINEAGE = "uploads"


def _wait_until(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def _file(uri: str) -> str:
    return uri.rsplit("/", 1)[-1].split("?")[0]


def test_a_burst_runs_in_s3_order_and_a_withdrawn_upload_never_trains(
    itest_session: LocalSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    session = itest_session
    session.put_evaluation_set(LINEAGE, EXAMPLES / "eval.jsonl")
    registry = Registry(session.deployment.table_name)
    config = deployed_config(session.deployment, LINEAGE)
    assert config is not None
    registry.ensure_state(config)
    assert registry.record_plateau(LINEAGE, 0, marginal_rounds=0, converged=True)  # paused

    first = (EXAMPLES / "round-1-billing.jsonl").read_bytes()
    second = (EXAMPLES / "round-2-storage-and-account.jsonl").read_bytes()
    # The burst, back to back (mostly inside one second): three keys, two versions of one key, non-datasets.
    for n in (9, 10, 11):
        session.upload(LINEAGE, first, name=f"round-{n}.jsonl")
    old = session.upload(LINEAGE, first, name="data.jsonl")
    new = session.upload(LINEAGE, second, name="data.jsonl")
    gone = session.upload(LINEAGE, first, name="gone.jsonl")
    for name in ("train.json", "data.csv", "train.jsonl.gz"):
        session.upload(LINEAGE, first, name=name)
    session.upload(LINEAGE, b"", name="")  # a folder marker, incoming/uploads/
    _wait_until(lambda: len(registry.uploads(LINEAGE)) == 10, "the burst was not recorded")

    [status] = lineage_status(session.deployment, LINEAGE)
    assert [_file(uri) for uri in status["queued"]] == [
        "round-9.jsonl",
        "round-10.jsonl",
        "round-11.jsonl",
        "data.jsonl",
        "data.jsonl",
        "gone.jsonl",
    ]
    assert [uri.rsplit("=", 1)[-1] for uri in status["queued"][3:5]] == [old, new]  # oldest version first
    refused = {upload["key"].rsplit("/", 1)[-1]: upload for upload in status["not_trained"]}
    assert {name: upload["status"] for name, upload in refused.items()} == {
        "train.json": "invalid_data",
        "data.csv": "invalid_data",
        "train.jsonl.gz": "invalid_data",
        "": "ignored",
    }
    assert ".jsonl.gz) are not accepted" in refused["train.jsonl.gz"]["reason"]
    subjects = [n["subject"] for n in session.notifications() if f"iterft {LINEAGE} upload" in n["subject"]]
    assert len(subjects) == 4

    # An empty reason is refused; then round-10 is withdrawn, with who and why.
    code, _, err = run_cli(
        session, capsys, "withdraw", LINEAGE, "--upload", "incoming/uploads/round-10.jsonl", "--reason", " "
    )
    assert code == cli.EXIT_USAGE and "must not be empty" in err
    code, out, err = run_cli(
        session,
        capsys,
        "withdraw",
        LINEAGE,
        "--upload",
        "incoming/uploads/round-10.jsonl",
        "--reason",
        "wrong export",
    )
    assert code == cli.EXIT_OK, err
    assert "withdrew s3://" in out and "round-10.jsonl?versionId=" in out
    code, _, err = run_cli(
        session, capsys, "withdraw", LINEAGE, "--upload", "incoming/uploads/data.jsonl", "--reason", "x"
    )
    assert code == cli.EXIT_FAILED and "2 queued versions" in err  # ambiguous without ?versionId=

    # An object version deleted before its round starts is withdrawn at dispatch, not trained.
    session.client("s3").delete_object(
        Bucket=session.deployment.bucket_name, Key=f"incoming/{LINEAGE}/gone.jsonl", VersionId=gone
    )
    code, _, err = run_cli(session, capsys, "resume", LINEAGE)
    assert code == cli.EXIT_OK, err
    session.wait_until_idle(LINEAGE, timeout=300)

    rows = lineage_history(session.deployment, LINEAGE)
    assert [_file(row["dataset"]) for row in rows] == [
        "round-9.jsonl",
        "round-11.jsonl",
        "data.jsonl",
        "data.jsonl",
    ]
    assert (rows[2]["dataset"].rsplit("=", 1)[-1], rows[3]["dataset"].rsplit("=", 1)[-1]) == (old, new)
    assert all(row["decision"] in ("promoted", "rejected") for row in rows)

    withdrawn = {
        _file(u["dataset"]): u
        for u in lineage_uploads(session.deployment, LINEAGE)
        if u["status"] == "withdrawn"
    }
    assert set(withdrawn) == {"round-10.jsonl", "gone.jsonl"}
    assert withdrawn["round-10.jsonl"]["reason"] == "wrong export"
    assert withdrawn["round-10.jsonl"]["by"].startswith("arn:aws:")
    assert (
        withdrawn["gone.jsonl"]["by"] == "s3"
        and f"object version {gone} was deleted" in withdrawn["gone.jsonl"]["reason"]
    )
    assert withdrawn["gone.jsonl"]["iteration"] is None
    code, out, _ = run_cli(session, capsys, "history", LINEAGE)
    assert code == cli.EXIT_OK
    assert "uploads that started no round (6" in out and "withdrawn: s3://" in out and "wrong export" in out
    code, out, _ = run_cli(session, capsys, "history", LINEAGE, "--uploads", "--json")
    statuses = sorted(upload["status"] for upload in json.loads(out))
    assert statuses == ["ignored", *["invalid_data"] * 3, *["started"] * 4, "withdrawn", "withdrawn"]
