"""The operator side of the flywheel (docs/flywheel.md): record feedback, run a curation.

`iterft feedback` checks records with the same code curation uses (iterft_runtime.logic.feedback) and
writes them to `feedback/<lineage>/<when>-<hash>.jsonl` only when every record is valid; `iterft curate`
invokes the stack's curate function (the one each lineage's curation schedule invokes) and returns its
result: what it selected and why, and what it wrote under incoming/<lineage>/.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from iterft_runtime.logic.feedback import Feedback, FeedbackReport, check_feedback, feedback_prefix

from iterft.target import Deployment, TargetError

CURATE_OUTPUT = "CurateFunctionName"


class FeedbackError(ValueError):
    """Feedback with problems: every problem with its line, nothing written."""

    def __init__(self, report: FeedbackReport) -> None:
        self.report = report
        super().__init__("; ".join(f"line {line}: {message}" for line, message in report.problems))


def check_lines(lines: Iterable[str | bytes]) -> FeedbackReport:
    return check_feedback(lines)


def put_feedback(
    deployment: Deployment, lineage: str, records: list[Feedback], now: datetime | None = None
) -> str:
    """Write valid feedback records as one file; its s3:// URI."""
    body = "".join(json.dumps(record.to_dict(), ensure_ascii=False) + "\n" for record in records)
    report = check_feedback(body.splitlines())
    if not report.valid:
        raise FeedbackError(report)
    when = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    key = f"{feedback_prefix(lineage)}{when}-{hashlib.sha256(body.encode()).hexdigest()[:8]}.jsonl"
    deployment.client("s3").put_object(Bucket=deployment.bucket_name, Key=key, Body=body.encode())
    return f"s3://{deployment.bucket_name}/{key}"


def curate_function(deployment: Deployment) -> str:
    cloudformation = deployment.client("cloudformation")
    stack = cloudformation.describe_stacks(StackName=deployment.stack_name)["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    if CURATE_OUTPUT not in outputs:
        raise TargetError(
            f"stack {deployment.stack_name} has no curate function (output {CURATE_OUTPUT}): set "
            "invocation_logs and a lineage's traffic in the config, and deploy"
        )
    return str(outputs[CURATE_OUTPUT])


def curate(
    deployment: Deployment,
    lineage: str,
    *,
    since: str | None = None,
    dry_run: bool = False,
    prefer: list[str] | None = None,
    requested_by: str = "iterft curate",
) -> dict[str, Any]:
    """Invoke the curate function for `lineage`; its result (models/curation.CurateResult as JSON)."""
    request: dict[str, Any] = {"lineage": lineage, "dry_run": dry_run, "requested_by": requested_by}
    if since is not None:
        request["since"] = since
    if prefer is not None:
        request["prefer"] = prefer
    response = deployment.client("lambda").invoke(
        FunctionName=curate_function(deployment),
        InvocationType="RequestResponse",
        Payload=json.dumps(request).encode(),
    )
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise TargetError(f"curation of {lineage} failed: {message}")
    return dict(payload)


def serving_model(deployment: Deployment, lineage: str) -> str:
    """What the lineage's serving pointer names (what applications invoke)."""
    from iterft_runtime import naming

    name = naming.serving_parameter_name(deployment.stack_name, lineage)
    return str(deployment.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])


def ask(deployment: Deployment, lineage: str, question: str, metadata: dict[str, str]) -> tuple[str, str]:
    """One live call as an application makes it: Converse on the serving model, tagged with request
    metadata; (its request id, the answer)."""
    response = deployment.client("bedrock-runtime").converse(
        modelId=serving_model(deployment, lineage),
        messages=[{"role": "user", "content": [{"text": question}]}],
        requestMetadata=metadata,
    )
    answer = "".join(block.get("text", "") for block in response["output"]["message"]["content"])
    return str(response["ResponseMetadata"]["RequestId"]), answer
