"""The whole flywheel on the embedded default, in a process of its own (its own deployment of
config/dev.yaml): a round, live traffic logged by the invocation-logging stand-in, feedback, a dry run,
a curation, and the curated round through the trigger chain. Prints one JSON document (test_flywheel.py)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from iterft_runtime.logic.feedback import Feedback

from iterft.flywheel import ask, curate, put_feedback
from iterft.history import lineage_history
from iterft.local.iam import active_checker
from iterft.local.session import LocalSession

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
LINEAGE = "support-bot"


def main() -> dict[str, object]:
    with LocalSession.start("dev") as session:
        deployment = session.deployment
        session.put_evaluation_set(LINEAGE, EXAMPLES / "eval.jsonl")
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
        feedback_uri = put_feedback(deployment, LINEAGE, feedback)
        s3 = session.client("s3")
        bad = '{"request_id": "r-1", "rating": 5}\n{"request_id": "r-2", "rating": 7}\n'
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

        dry = curate(deployment, LINEAGE, dry_run=True)
        after_dry = s3.list_objects_v2(
            Bucket=session.stack.data_bucket, Prefix=f"incoming/{LINEAGE}/curated-"
        )
        real = curate(deployment, LINEAGE)
        session.wait_until_idle(LINEAGE, timeout=120)
        history = lineage_history(deployment, LINEAGE)
        checker = active_checker()
        return {
            "logging": logging,
            "log_objects": len(keys),
            "feedback_uri": feedback_uri,
            "dry_run": dry,
            "curated_before_real_run": after_dry.get("KeyCount", 0),
            "curation": real,
            "history": [
                {
                    k: row[k]
                    for k in ("iteration", "decision", "dataset", "eval_score", "champion_score", "strategy")
                }
                for row in history
            ],
            "iam_denials": [denial.describe() for denial in checker.take_denials()] if checker else [],
        }


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(main()))  # stdout carries the handlers' own logs
