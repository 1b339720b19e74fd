"""A throwaway stack's whole life, in a process of its own (tests/integration/test_lifecycle.py): deploy
with `destroy_data_on_delete: true`, promote once, delete the stack, print what is left as one JSON line."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from iterft.history import lineage_history, lineage_status
from iterft.local.iam import active_checker
from iterft.local.session import LocalSession

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
CONFIG = """environment: throwaway
region: us-east-1
retention: {log_days: 1, destroy_data_on_delete: true}
lineages:
  - {name: scratch, base_model: "amazon.nova-micro-v1:0:128k", gate: {min_improvement: 0.02}}
"""


def _left(session: LocalSession) -> dict[str, list[str]]:
    s3, stack = session.client("s3"), session.stack
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"] in stack.physical_ids.values()]
    tables = [t for t in session.client("dynamodb").list_tables()["TableNames"] if t == stack.registry_table]
    parameters = [
        p["Name"]
        for p in session.client("ssm").describe_parameters()["Parameters"]
        if p["Name"].startswith(f"/iterft/{stack.stack_name}/")
    ]
    machines = [
        m["stateMachineArn"]
        for m in session.client("stepfunctions").list_state_machines()["stateMachines"]
        if m["stateMachineArn"] == stack.state_machine_arn
    ]
    capacity = [item["arn"] for item in session.bedrock_inventory()]
    return {
        "buckets": buckets,
        "tables": tables,
        "parameters": parameters,
        "capacity": capacity,
        "state_machines": machines,
    }


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as config_dir:
        (Path(config_dir) / "throwaway.yaml").write_text(CONFIG)
        with LocalSession.start("throwaway", config_dir=Path(config_dir)) as session:
            session.put_evaluation_set("scratch", EXAMPLES / "eval.jsonl")
            session.upload("scratch", EXAMPLES / "round-1-billing.jsonl")
            session.wait_until_idle("scratch", timeout=90)
            [row] = lineage_history(session.deployment, "scratch")
            [status] = lineage_status(session.deployment, "scratch")
            s3 = session.client("s3")
            objects = len(s3.list_object_versions(Bucket=session.stack.data_bucket).get("Versions", []))
            session.delete_stack()
            checker = active_checker()
            denials = [denial.describe() for denial in checker.take_denials()] if checker else []
            return {
                "promoted": row["decision"] == "promoted",
                "serving_capacity_before": status["serving_capacity"],
                "objects_before": objects,
                "iam_denials": denials,
                "left": _left(session),
            }


if __name__ == "__main__":
    print(json.dumps(main(), default=str))
