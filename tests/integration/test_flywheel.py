"""The whole flywheel on the embedded default (tests/integration/flywheel_loop.py, in its own process with
its own deployment of config/dev.yaml, support-bot redacting personal data and support-distilled curated on
a schedule): logging enabled by the stack, live Converse calls logged by the stand-in, feedback through
`iterft feedback` (a bad file refused with its lines), a dry run through `iterft curate --dry-run` that
writes nothing, a curation whose dataset starts a round through the trigger chain, decided by real scores
and recorded with where its data came from, the schedule fired on command, `iterft doctor` on the region's
logging configuration; every request allowed by the template's IAM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    script = Path(__file__).with_name("flywheel_loop.py")
    out = tmp_path_factory.mktemp("flywheel") / "loop.json"
    done = subprocess.run(
        [sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads(out.read_text()))


def test_the_stack_enabled_invocation_logging_into_its_data_bucket(loop: dict[str, Any]) -> None:
    assert loop["logging"]["s3Config"]["keyPrefix"] == "invocation-logs"
    assert loop["logging"]["textDataDeliveryEnabled"] is True
    assert loop["log_objects"] > 36  # every live call (and the rounds' evaluation calls) logged


def test_only_the_lineages_tagged_calls_are_its_traffic(loop: dict[str, Any]) -> None:
    dry = loop["dry_run"]
    assert dry["lineage_calls"] == 46  # 44 traffic rows, the evaluation prompt, the one with personal data
    dropped = [c for c in dry["choices"] if c["outcome"] == "dropped"]
    # An evaluation prompt asked live, and a near one (the leakage check Validate applies, similarity 0.67).
    assert [c["question"] for c in dropped] == [
        "How are my files encrypted?",
        "Which payment methods can I use?",
    ]
    assert all("evaluation set" in c["reason"] for c in dropped)
    assert dropped[0]["reason"].startswith("near (similarity 0.67)")


def test_problems_are_reported_with_their_place_and_the_rest_is_used(loop: dict[str, Any]) -> None:
    problems = loop["dry_run"]["problems"]
    assert any(p.endswith("malformed.json.gz line 1: not JSON") for p in problems)
    assert any("zz-bad.jsonl line 2: rating" in p for p in problems)
    assert [f["valid"] for f in loop["dry_run"]["feedback_files"]] == [True, False]


def test_feedback_through_the_cli_is_checked_whole_before_anything_is_written(loop: dict[str, Any]) -> None:
    bad, good, one = (loop["feedback_cli"][name] for name in ("bad", "good", "one"))
    assert bad["code"] == 1 and bad["out"] == ""
    assert bad["err"].splitlines() == [
        f"{bad['err'].split(' line ')[0]} line 2: rating: required, a whole number from 1 to 5, not 7",
        "iterft feedback: 1 problem(s); nothing was written",
    ]
    assert one["code"] == 1 and one["err"].startswith("the feedback: rating: required")
    assert good["code"] == 0 and "wrote 31 feedback records to s3://" in good["out"]
    written = [f for f in loop["dry_run"]["feedback_files"] if f["valid"]]
    assert [f["uri"] for f in written] == [good["out"].split(" to ")[1].split(";")[0]]


def test_a_dry_run_selects_with_reasons_and_writes_nothing(loop: dict[str, Any]) -> None:
    dry = loop["dry_run"]
    assert dry["written"] == [] and loop["curated_before_real_run"] == 0
    assert dry["counts"] == {"fine_tuning": 30, "distillation": 14, "dropped": 2}
    # The gap analysis's order (logic/gaps.weakest_categories): after round 1 (billing data only) the
    # champion knows billing best, so the other categories come first.
    assert dry["prefer"][-1] == "billing" and set(dry["prefer"]) == {"account", "storage", "billing"}
    tuned = [c for c in dry["choices"] if c["outcome"] == "fine_tuning"]
    ranks = [dry["prefer"].index(c["category"]) for c in tuned if c["category"] in dry["prefer"]]
    assert ranks == sorted(ranks)  # weakest categories first
    assert any("no strategies.distillation" in note for note in dry["notes"])
    text = loop["dry_run_text"]
    assert text["code"] == 0 and text["out"].rstrip().endswith("dry run: nothing was written")
    assert "taken: 30 fine_tuning, 14 distillation, 2 dropped" in text["out"]
    assert "categories preferred (weakest first): " + ", ".join(dry["prefer"]) in text["out"]
    assert "  dropped      [billing] 'Which payment methods can I use?': " in text["out"]


def test_the_curated_round_runs_through_the_trigger_chain_and_is_decided_by_scores(
    loop: dict[str, Any],
) -> None:
    [written] = loop["curation"]["written"]
    assert written["strategy"] == "fine_tuning" and written["records"] == 30
    last = loop["history"][-1]
    assert "/incoming/support-bot/curated-" in last["dataset"]
    assert last["decision"] == "promoted"
    assert last["eval_score"] > last["champion_score"] + 0.02
    assert loop["iam_denials"] == []


def test_the_round_records_where_its_data_came_from(loop: dict[str, Any]) -> None:
    first, last = loop["history"][0], loop["history"][-1]
    assert first["source"] is None  # an upload that does not say
    assert last["source"].startswith("curated ")
    assert "30 fine_tuning records from invocation logs" in last["source"]
    assert last["source"].endswith("(22 corrected, 8 well-rated)")
    assert f"  {last['iteration']}: data: {last['source']}" in loop["history_text"]


def test_personal_data_is_redacted_before_the_dataset_is_written(loop: dict[str, Any]) -> None:
    texts = [
        block["text"]
        for record in loop["curated_records"]
        for message in record["messages"]
        for block in message["content"]
    ]
    assert not any("jane.doe@example.com" in text or "555-010-4477" in text for text in texts)
    assert "I am locked out, my email is [EMAIL] and my phone [PHONE]: what now?" in texts
    assert "Use Forgot password; we write to [EMAIL], or call [PHONE] back." in texts
    # Every text in which the stand-in's DetectPiiEntities found something is counted.
    assert loop["curation"]["redacted"] == sum("[EMAIL]" in t or "[PHONE]" in t for t in texts)


def test_the_curation_schedule_fires_and_too_little_data_starts_nothing(loop: dict[str, Any]) -> None:
    [scheduled] = loop["scheduled"]  # only support-distilled's schedule was asked for
    assert scheduled["lineage"] == "support-distilled" and scheduled["dry_run"] is False
    assert scheduled["lineage_calls"] == 0  # its tagged call went to support-bot's model
    assert scheduled["written"] == []
    assert scheduled["notes"] == ["fine-tuning: no corrected or well-rated answer: no fine-tuning round"]


def test_doctor_reports_the_regions_invocation_logging_against_the_stacks(loop: dict[str, Any]) -> None:
    doctor, bucket = loop["doctor"], loop["data_bucket"]
    assert doctor["enabled"]["status"] == "passed"
    assert doctor["enabled"]["detail"] == (
        f"the region logs to s3://{bucket}/invocation-logs/, enabled by this stack (enable_if_absent), "
        "text data delivered"
    )
    assert doctor["deleted"]["status"] == "failed"
    assert "the region has no S3 invocation logging" in doctor["deleted"]["detail"]
    assert "deploy again" in doctor["deleted"]["fix"]
    assert doctor["elsewhere"]["status"] == "failed"
    assert doctor["elsewhere"]["detail"].startswith("the region logs to s3://team-invocation-logs/all/, ")
    assert doctor["elsewhere"]["fix"].startswith("set invocation_logs.s3_uri: s3://team-invocation-logs/all/")


def test_feedback_files_are_checked_as_they_arrive(loop: dict[str, Any]) -> None:
    """Through the trigger chain (S3 -> EventBridge -> SQS -> trigger): each file under feedback/<lineage>/
    is checked at once and its report recorded; a file with problems is notified with its lines."""
    reports = loop["arrival_reports"]
    good, bad = reports[loop["feedback_good_name"]], reports["zz-bad.jsonl"]
    assert good["valid"] is True and good["records"] == 31 and good["problems"] == []
    assert bad["valid"] is False and bad["records"] == 1 and bad["problem_count"] == 1
    assert bad["problems"] == [{"line": 2, "message": "rating: required, a whole number from 1 to 5, not 7"}]
    assert bad["source"].startswith(f"s3://{loop['data_bucket']}/feedback/support-bot/zz-bad.jsonl")
    [notified] = loop["arrival_notifications"]  # only the bad file
    assert notified["subject"] == "iterft support-bot feedback refused: zz-bad.jsonl"
    assert "  line 2: rating: required, a whole number from 1 to 5, not 7" in notified["message"]
    assert "feedback-reports/support-bot/zz-bad.jsonl.report.json" in notified["message"]


def test_curating_an_unknown_lineage_is_one_line(loop: dict[str, Any]) -> None:
    unknown = loop["curate_unknown"]
    assert unknown["code"] == 1 and unknown["out"] == ""
    assert (
        unknown["err"].strip()
        == "iterft curate: curation of no-such-bot failed: lineage 'no-such-bot' is not curated by this "
        "stack (lineages with traffic settings: support-bot, support-distilled; docs/flywheel.md)"
    )


def test_gaps_show_each_categorys_share_of_the_lineages_recent_calls(loop: dict[str, Any]) -> None:
    # Read by a dry run of the curate function; after the curation, the same 46 calls.
    analysis, dry = loop["gaps"]["json"], loop["dry_run"]
    assert analysis["traffic_share_given"] is True
    shares = {gap["category"]: gap["traffic_share"] for gap in analysis["categories"]}
    measured = {name: share for name, share in dry["traffic_share"].items() if name in shares}
    assert shares == pytest.approx(measured) and sum(dry["traffic_share"].values()) == pytest.approx(1.0)
    assert all(round(share * 46, 6).is_integer() for share in dry["traffic_share"].values())
    assert analysis["untested_traffic"] == {
        name: share for name, share in dry["traffic_share"].items() if name not in shares and share > 0
    }
    assert analysis["traffic_from"].startswith("traffic share of 46 of the lineage's calls ")
    assert "traffic share" in loop["gaps"]["text"] and analysis["traffic_from"] in loop["gaps"]["text"]
    without = loop["gaps"]["no_traffic"]
    assert without["traffic_share_given"] is False and without["traffic_from"] is None
