"""The invocation logging stand-in's records against the documented shape.

What the Bedrock user guide's "Monitor model invocation using CloudWatch Logs and Amazon S3" page
(https://docs.aws.amazon.com/bedrock/latest/userguide/model-invocation-logging.html; summarised in
/work/shared/notes/bedrock-facts.md, "Invocation logs") shows: objects under
`<keyPrefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/` as gzipped JSON lines,
each record `{schemaType: "ModelInvocationLog", schemaVersion, timestamp, accountId, region, requestId,
operation, modelId, input{inputContentType, inputBodyJson | inputBodyS3Path, inputTokenCount},
output{outputContentType, outputBodyJson | outputBodyS3Path, outputTokenCount}, requestMetadata?}`, large
bodies (over 100 KB) delivered as objects of their own. The records are read back with the parser
curation uses (logic/invocation_logs), so a shape the stand-in and the parser agreed on wrongly would
still have to match the page's field names here.
"""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import pytest
from bedrock_support import NOVA, REGION, Lineage, ask
from botocore.exceptions import ClientError
from iterft_runtime.logic.invocation_logs import parse_logs
from moto.core import DEFAULT_ACCOUNT_ID

from iterft.local.bedrock.invocation_logging import LARGE_BODY_BYTES

LOG_BUCKET = "iterft-invocation-logs"
PREFIX = "team-logs"
KEY = re.compile(
    rf"^{PREFIX}/AWSLogs/{DEFAULT_ACCOUNT_ID}/BedrockModelInvocationLogs/{REGION}/"
    r"\d{4}/\d{2}/\d{2}/\d{2}/[^/]+\.json\.gz$"
)
TOP_LEVEL = {
    "schemaType",
    "schemaVersion",
    "timestamp",
    "accountId",
    "region",
    "requestId",
    "operation",
    "modelId",
    "input",
    "output",
}
BASE_MODEL = NOVA.rsplit(":", 1)[0]
"""The on-demand id of the foundation model (what an application invokes before any promotion)."""


def _allow_delivery(lineage: Lineage) -> None:
    lineage.s3.create_bucket(Bucket=LOG_BUCKET)
    lineage.s3.put_bucket_policy(
        Bucket=LOG_BUCKET,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "bedrock.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{LOG_BUCKET}/{PREFIX}/AWSLogs/{DEFAULT_ACCOUNT_ID}/*",
                        "Condition": {"StringEquals": {"aws:SourceAccount": DEFAULT_ACCOUNT_ID}},
                    }
                ],
            }
        ),
    )


def _enable(lineage: Lineage) -> None:
    lineage.bedrock.put_model_invocation_logging_configuration(
        loggingConfig={
            "s3Config": {"bucketName": LOG_BUCKET, "keyPrefix": PREFIX},
            "textDataDeliveryEnabled": True,
        }
    )


def _log_lines(lineage: Lineage) -> tuple[list[str], list[bytes]]:
    listed = lineage.s3.list_objects_v2(Bucket=LOG_BUCKET, Prefix=f"{PREFIX}/")
    keys = sorted(item["Key"] for item in listed.get("Contents", []))
    records = [
        line
        for key in keys
        if "/data/" not in key
        for line in gzip.decompress(
            lineage.s3.get_object(Bucket=LOG_BUCKET, Key=key)["Body"].read()
        ).splitlines()
    ]
    return keys, records


def test_logging_is_refused_where_bedrock_could_not_deliver(lineage: Lineage) -> None:
    lineage.s3.create_bucket(Bucket=LOG_BUCKET)
    with pytest.raises(ClientError) as refused:
        _enable(lineage)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "bucket policy must allow bedrock.amazonaws.com s3:PutObject" in str(refused.value)


def test_each_call_is_logged_in_the_documented_shape(lineage: Lineage) -> None:
    _allow_delivery(lineage)
    ask(lineage.runtime, BASE_MODEL, "Before logging is on: not logged.")
    _enable(lineage)
    first = ask(lineage.runtime, BASE_MODEL, "How do I reset my password?", requestMetadata={"app": "bot"})
    second = ask(lineage.runtime, BASE_MODEL, "Untagged question?")

    keys, lines = _log_lines(lineage)
    assert keys and all(KEY.match(key) for key in keys), keys
    records: dict[str, dict[str, Any]] = {json.loads(line)["requestId"]: json.loads(line) for line in lines}
    ids = [first["ResponseMetadata"]["RequestId"], second["ResponseMetadata"]["RequestId"]]
    assert sorted(records) == sorted(ids) and len(lines) == 2  # the call before logging was on: none
    tagged, untagged = (records[request_id] for request_id in ids)
    assert set(tagged) >= TOP_LEVEL and set(tagged) - TOP_LEVEL == {"requestMetadata"}
    assert set(untagged) == TOP_LEVEL  # requestMetadata only when the call passed one
    assert tagged["schemaType"] == "ModelInvocationLog"
    assert (tagged["accountId"], tagged["region"], tagged["operation"], tagged["modelId"]) == (
        DEFAULT_ACCOUNT_ID,
        REGION,
        "Converse",
        BASE_MODEL,
    )
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", tagged["timestamp"])
    assert tagged["requestMetadata"] == {"app": "bot"}
    assert set(tagged["input"]) == {"inputContentType", "inputBodyJson", "inputTokenCount"}
    assert set(tagged["output"]) == {"outputContentType", "outputBodyJson", "outputTokenCount"}
    assert tagged["input"]["inputBodyJson"]["messages"][0]["content"][0]["text"] == (
        "How do I reset my password?"
    )
    # Curation's parser reads them: every line a call, nothing skipped.
    objects = [(key, lineage.s3.get_object(Bucket=LOG_BUCKET, Key=key)["Body"].read()) for key in keys]
    parsed = parse_logs(objects, lambda uri: None)
    questions = {call.question for call in parsed.calls}
    assert questions == {"How do I reset my password?", "Untagged question?"}
    assert parsed.skipped == 0 and not parsed.problems


def test_a_large_body_is_delivered_apart_and_named_by_its_s3_path(lineage: Lineage) -> None:
    _allow_delivery(lineage)
    _enable(lineage)
    question = "Please read this. " + "x" * LARGE_BODY_BYTES
    response = ask(lineage.runtime, BASE_MODEL, question)

    keys, lines = _log_lines(lineage)
    [record] = [json.loads(line) for line in lines]
    path = record["input"]["inputBodyS3Path"]
    assert "inputBodyJson" not in record["input"] and "outputBodyJson" in record["output"]
    assert path.startswith(f"s3://{LOG_BUCKET}/{PREFIX}/AWSLogs/") and path.split("/", 3)[3] in keys
    body = json.loads(
        gzip.decompress(lineage.s3.get_object(Bucket=LOG_BUCKET, Key=path.split("/", 3)[3])["Body"].read())
    )
    assert body["messages"][0]["content"][0]["text"] == question
    assert record["requestId"] == response["ResponseMetadata"]["RequestId"]

    def read_body(uri: str) -> bytes | None:
        return bytes(lineage.s3.get_object(Bucket=LOG_BUCKET, Key=uri.split("/", 3)[3])["Body"].read())

    objects = [(key, read_body(f"s3://{LOG_BUCKET}/{key}") or b"") for key in keys if "/data/" not in key]
    [call] = parse_logs(objects, read_body).calls
    assert call.question == question
