"""The whole flywheel on the embedded default, in a process of its own (its own deployment of
config/dev.yaml, with support-bot redacting personal data and a curation schedule for support-distilled):
a round, live traffic logged by the invocation-logging stand-in, feedback through `iterft feedback`, a dry
run and a curation through `iterft curate`, the curated round through the trigger chain, the schedule
fired on command, and `iterft doctor`'s invocation logging check as the region's configuration changes.
Writes one JSON document (test_flywheel.py)."""

from __future__ import annotations

import gzip
import io
import json
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import yaml
from iterft_runtime.logic.feedback import Feedback

from iterft import cli
from iterft.flywheel import ask
from iterft.history import lineage_history
from iterft.local.iam import active_checker
from iterft.local.session import LocalSession

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "support-bot"
LINEAGE = "support-bot"
SCHEDULED = "support-distilled"
PII_QUESTION = "I am locked out, my email is jane.doe@example.com and my phone 555-010-4477: what now?"
HANDLER_OUTPUT = ('{"level":', '{"_aws":')


def loop_config(directory: Path) -> Path:
    """config/dev.yaml, with support-bot redacting personal data and support-distilled curated daily."""
    config = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    for lineage in config["lineages"]:
        set_file = lineage.get("evaluation", {}).get("set_file")
        if set_file:  # relative to the config file, which moves
            lineage["evaluation"]["set_file"] = str((ROOT / "config" / set_file).resolve())
        if lineage["name"] == LINEAGE:
            lineage["traffic"]["curation"]["redact_pii"] = True
        if lineage["name"] == SCHEDULED:
            lineage["traffic"]["curation"]["schedule"] = "rate(1 day)"
    (directory / "dev.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


def run_cli(session: LocalSession, *args: str) -> dict[str, Any]:
    """`iterft ARGS` against the session's stack, in this process: exit code, stdout (without the
    in-process handlers' log lines) and stderr."""
    out, err = io.StringIO(), io.StringIO()
    target = ["--endpoint-url", session.endpoint, "--stack", session.deployment.stack_name]
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main([*args, *target])
        except SystemExit as usage_error:
            code = int(usage_error.code or 0)
    text = "".join(line for line in out.getvalue().splitlines(True) if not line.startswith(HANDLER_OUTPUT))
    return {"code": code, "out": text, "err": err.getvalue()}


def doctor_logging(session: LocalSession) -> dict[str, Any]:
    done = run_cli(session, "doctor", LINEAGE, "--json")
    return dict(next(check for check in json.loads(done["out"]) if check["name"] == "invocation logging"))


def feedback_reports(session: LocalSession, names: list[str], timeout: float = 60) -> dict[str, Any]:
    """The trigger's arrival checks of these feedback files (feedback-reports/<lineage>/<name>.report.json),
    once all exist: the trigger reads the upload queue in the background."""
    s3, bucket = session.client("s3"), session.stack.data_bucket
    deadline = time.monotonic() + timeout
    while True:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"feedback-reports/{LINEAGE}/").get("Contents", [])
        keys = {item["Key"].rsplit("/", 1)[1].removesuffix(".report.json"): item["Key"] for item in listed}
        if set(names) <= set(keys) or time.monotonic() > deadline:
            return {
                name: json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                for name, key in keys.items()
            }
        time.sleep(0.2)


def main() -> dict[str, object]:
    with (
        tempfile.TemporaryDirectory() as config_dir,
        LocalSession.start("dev", config_dir=loop_config(Path(config_dir))) as session,
    ):
        deployment = session.deployment
        session.put_evaluation_set(LINEAGE, EXAMPLES / "eval.jsonl")
        session.put_evaluation_set(SCHEDULED, EXAMPLES / "eval.jsonl")
        session.upload(LINEAGE, EXAMPLES / "round-1-billing.jsonl")
        session.wait_until_idle(LINEAGE, timeout=90)
        logging = session.client("bedrock").get_model_invocation_logging_configuration()["loggingConfig"]

        rows = [json.loads(line) for line in (EXAMPLES / "traffic.jsonl").read_text().splitlines()]
        feedback = []
        for row in rows:
            request_id, _ = ask(deployment, LINEAGE, row["question"], {"lineage": LINEAGE})
            if row["feedback"] is not None:
                feedback.append(Feedback(request_id=request_id, **row["feedback"]))
        # Another lineage's call to the same model, and an evaluation prompt asked live: neither is taken.
        ask(deployment, LINEAGE, "How much free storage do I get?", {"lineage": "support-distilled"})
        ask(deployment, LINEAGE, "Which payment methods can I use?", {"lineage": LINEAGE})
        # A caller's personal data in the question and in the team's correction: redacted when curated.
        pii_request, _ = ask(deployment, LINEAGE, PII_QUESTION, {"lineage": LINEAGE})
        pii_answer = "Use Forgot password; we write to jane.doe@example.com, or call 555-010-4477 back."
        work = Path(config_dir)
        good_file = work / "feedback.jsonl"
        good_file.write_text(
            "".join(json.dumps(record.to_dict()) + "\n" for record in feedback)
            + json.dumps({"request_id": pii_request, "rating": 2, "corrected_answer": pii_answer})
            + "\n"
        )
        bad = '{"request_id": "r-1", "rating": 5}\n{"request_id": "r-2", "rating": 7}\n'
        (work / "bad.jsonl").write_text(bad)
        feedback_cli = {
            "bad": run_cli(session, "feedback", LINEAGE, "--file", str(work / "bad.jsonl")),
            "good": run_cli(session, "feedback", LINEAGE, "--file", str(good_file)),
            "one": run_cli(session, "feedback", LINEAGE, "--request-id", "r-9", "--rating", "6", "--check"),
        }
        s3 = session.client("s3")
        # Written past the CLI, as a team's tooling may: curation reports it and does not use it.
        s3.put_object(
            Bucket=session.stack.data_bucket, Key=f"feedback/{LINEAGE}/zz-bad.jsonl", Body=bad.encode()
        )
        # A log object with a malformed line, where the logs are: reported with its line, the rest read.
        root = logging["s3Config"]["keyPrefix"] + "/AWSLogs/"
        keys = [
            o["Key"] for o in s3.list_objects_v2(Bucket=session.stack.data_bucket, Prefix=root)["Contents"]
        ]
        day = keys[0].rsplit("/", 2)[0]
        s3.put_object(
            Bucket=session.stack.data_bucket,
            Key=f"{day}/00/malformed.json.gz",
            Body=gzip.compress(b"{not json\n"),
        )

        good_name = feedback_cli["good"]["out"].split(f"/feedback/{LINEAGE}/")[1].split(";")[0]
        arrival = feedback_reports(session, [good_name, "zz-bad.jsonl"])
        deadline = time.monotonic() + 30  # the report is recorded before the notification goes out
        while not (
            refused := [n for n in session.notifications() if "feedback refused" in (n["subject"] or "")]
        ):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        dry_text = run_cli(session, "curate", LINEAGE, "--dry-run")
        dry_cli = run_cli(session, "curate", LINEAGE, "--dry-run", "--json")
        dry = json.loads(dry_cli["out"])
        after_dry = s3.list_objects_v2(
            Bucket=session.stack.data_bucket, Prefix=f"incoming/{LINEAGE}/curated-"
        )
        unknown = run_cli(session, "curate", "no-such-bot", "--dry-run")
        real_cli = run_cli(session, "curate", LINEAGE, "--json")
        real = json.loads(real_cli["out"])
        session.wait_until_idle(LINEAGE, timeout=120)
        history = lineage_history(deployment, LINEAGE)
        history_cli = run_cli(session, "history", LINEAGE)
        gaps = {
            "json": json.loads(run_cli(session, "gaps", LINEAGE, "--json")["out"]),
            "text": run_cli(session, "gaps", LINEAGE)["out"],
            "no_traffic": json.loads(run_cli(session, "gaps", LINEAGE, "--no-traffic", "--json")["out"]),
        }
        curated = [
            json.loads(line)
            for written in real["written"]
            for line in s3.get_object(Bucket=session.stack.data_bucket, Key=written["uri"].split("/", 3)[3])[
                "Body"
            ]
            .read()
            .decode()
            .splitlines()
        ]
        scheduled = session.run_schedule(f"Curation-{SCHEDULED}")
        doctor = {"enabled": doctor_logging(session)}
        bedrock = session.client("bedrock")
        bedrock.delete_model_invocation_logging_configuration()
        doctor["deleted"] = doctor_logging(session)
        other = "team-invocation-logs"
        s3.create_bucket(Bucket=other)
        s3.put_bucket_policy(
            Bucket=other,
            Policy=json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "bedrock.amazonaws.com"},
                            "Action": "s3:PutObject",
                            "Resource": f"arn:aws:s3:::{other}/*",
                        }
                    ]
                }
            ),
        )
        bedrock.put_model_invocation_logging_configuration(
            loggingConfig={
                "s3Config": {"bucketName": other, "keyPrefix": "all"},
                "textDataDeliveryEnabled": True,
            }
        )
        doctor["elsewhere"] = doctor_logging(session)
        checker = active_checker()
        return {
            "logging": logging,
            "log_objects": len(keys),
            "feedback_cli": feedback_cli,
            "feedback_good_name": good_name,
            "arrival_reports": arrival,
            "arrival_notifications": refused,
            "dry_run": dry,
            "dry_run_text": dry_text,
            "curate_unknown": unknown,
            "curated_before_real_run": after_dry.get("KeyCount", 0),
            "curation": real,
            "curated_records": curated,
            "history_text": history_cli["out"],
            "gaps": gaps,
            "scheduled": scheduled,
            "doctor": doctor,
            "data_bucket": session.stack.data_bucket,
            "history": [
                {
                    k: row[k]
                    for k in (
                        "iteration",
                        "decision",
                        "dataset",
                        "eval_score",
                        "champion_score",
                        "strategy",
                        "source",
                    )
                }
                for row in history
            ],
            "iam_denials": [denial.describe() for denial in checker.take_denials()] if checker else [],
        }


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(main()))  # stdout carries the handlers' own logs
