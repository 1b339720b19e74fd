"""Shared by the Lambda runtime's tests: names, sample data, handles on the mocked account, and a
fake for the Bedrock calls moto lacks (Converse, custom model deployments), injected at the dal
boundary. The fixtures themselves are in runtime_fixtures.py (a plugin: `pytest_plugins`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import pytest
from iterft_runtime import naming
from iterft_runtime.dal import bedrock as real_bedrock
from iterft_runtime.dal.registry import Registry
from iterft_runtime.models.capacity import Capacity, CapacityKind, CapacityStatus

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "iterft-test-registry"
BUCKET = "iterft-test-data"
PARAMETER_PREFIX = naming.lineage_parameter_prefix("iterft-test")
STACK_NAME = "iterft-test"
SERVING_PREFIX = naming.serving_parameter_prefix(STACK_NAME)
LINEAGE = "support-bot"
BASE_MODEL = "amazon.nova-micro-v1:0:128k"
LINEAGE_CONFIG: dict[str, Any] = {
    "name": LINEAGE,
    "base_model": BASE_MODEL,
    "hyperparameters": {"epochCount": 2, "learningRate": 0.00001},
    "evaluation": {"metric": "token_f1", "max_answer_tokens": 64},
    "gate": {"min_improvement": 0.02},
}


def conversation(user: str, assistant: str) -> dict[str, Any]:
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            {"role": "user", "content": [{"text": user}]},
            {"role": "assistant", "content": [{"text": assistant}]},
        ],
    }


def jsonl(records: list[Any]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def valid_dataset(count: int = 10) -> bytes:
    return jsonl([conversation(f"question {i}?", f"answer number {i}") for i in range(count)])


_session: list[boto3.session.Session] = []


def aws_client(service: str) -> Any:
    """Test-side clients from one session kept for the whole run: service models are parsed once
    (moto resets boto3's default session on every mock, which would reparse them per test)."""
    if not _session:
        _session.append(boto3.session.Session(region_name=REGION))
    return _session[0].client(service)


@dataclass
class Aws:
    """Handles on the mocked account's resources, and helpers the tests share."""

    table: str
    bucket: str
    topic_arn: str
    state_machine_arn: str
    notification_queue_url: str

    @property
    def registry(self) -> Registry:
        return Registry(self.table)

    def client(self, service: str) -> Any:
        return aws_client(service)

    def put_lineage(self, config: Mapping[str, Any]) -> None:
        self.client("ssm").put_parameter(
            Name=PARAMETER_PREFIX + str(config["name"]),
            Value=json.dumps(config),
            Type="String",
            Overwrite=True,
        )

    def upload(self, key: str, body: bytes, metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Put an object; the result's `VersionId` and `ETag` are what an event would name."""
        return dict(
            self.client("s3").put_object(
                Bucket=self.bucket, Key=key, Body=body, Metadata=dict(metadata or {})
            )
        )

    def read(self, key: str, version_id: str | None = None) -> bytes:
        extra = {"VersionId": version_id} if version_id else {}
        return bytes(self.client("s3").get_object(Bucket=self.bucket, Key=key, **extra)["Body"].read())

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.client("s3").list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def notifications(self) -> list[dict[str, str]]:
        """Every SNS message published so far (Subject, Message), drained from a subscribed queue."""
        sqs = self.client("sqs")
        found = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.notification_queue_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return found
            for message in messages:
                envelope = json.loads(message["Body"])
                found.append({"Subject": envelope.get("Subject", ""), "Message": envelope["Message"]})
                sqs.delete_message(
                    QueueUrl=self.notification_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def executions(self) -> list[dict[str, Any]]:
        """Started executions, oldest first, each with its parsed input."""
        sfn = self.client("stepfunctions")
        listed = sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        described = [sfn.describe_execution(executionArn=item["executionArn"]) for item in listed]
        return sorted(
            (
                {"name": d["name"], "arn": d["executionArn"], "input": json.loads(d["input"])}
                for d in described
            ),
            key=lambda item: item["name"],
        )


@dataclass
class FakeBedrock:
    """Stands in for dal.bedrock where moto has nothing (Converse, deployments, provisioned throughput,
    evaluation jobs).

    `models` maps a model id to a function from prompt to answer; `capacity` holds the deployments and
    throughputs that exist (ARN -> the model each serves), always in service. Attributes it does not
    define (the customization-job calls moto implements, constants) fall through to the real module.
    """

    models: dict[str, Callable[[str], str]] = field(default_factory=dict)
    capacity: dict[str, str] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    evaluation_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Evaluation jobs by name: `request`, `arn`, `status`, `failure_messages`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(real_bedrock, name)

    def converse(self, model_id: str, prompt: str, max_tokens: int) -> str:
        self.calls.append((model_id, prompt))
        return self.models[model_id](prompt)

    @staticmethod
    def arn_of(kind: CapacityKind, name: str) -> str:
        resource = "custom-model-deployment" if kind is CapacityKind.DEPLOYMENT else "provisioned-model"
        return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:{resource}/{name}"

    def create_capacity(self, capacity: Capacity, tags: Mapping[str, str]) -> str:
        arn = self.arn_of(capacity.kind, capacity.name)
        self.capacity[arn] = capacity.model_arn
        return arn

    def describe_capacity(self, kind: CapacityKind, identifier: str) -> CapacityStatus | None:
        arn = identifier if identifier.startswith("arn:") else self.arn_of(kind, identifier)
        if arn not in self.capacity:
            return None
        status = "Active" if kind is CapacityKind.DEPLOYMENT else "InService"
        return CapacityStatus(status=status, model_arn=self.capacity[arn], arn=arn)

    def swap_model(self, capacity: Capacity) -> None:
        self.capacity[capacity.arn] = capacity.model_arn

    def delete_capacity(self, kind: CapacityKind, identifier: str) -> bool:
        arn = identifier if identifier.startswith("arn:") else self.arn_of(kind, identifier)
        if self.capacity.pop(arn, None) is None:
            return False
        self.deleted.append(arn)
        return True

    def release_capacities(self, capacities: Iterable[Capacity]) -> list[str]:
        return [item.name for item in capacities if self.delete_capacity(item.kind, item.arn)]

    def create_evaluation_job(self, request: Mapping[str, Any]) -> str:
        """Like Bedrock with the job name as client token: the same name returns the same job."""
        name = str(request["jobName"])
        job_id = hashlib.sha256(name.encode()).hexdigest()[:12]
        arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:evaluation-job/{job_id}"
        job = self.evaluation_jobs.setdefault(
            name, {"request": dict(request), "arn": arn, "status": "InProgress", "failure_messages": []}
        )
        return str(job["arn"])

    def get_evaluation_job(self, job_arn: str) -> real_bedrock.EvaluationJob:
        [(name, job)] = [(name, job) for name, job in self.evaluation_jobs.items() if job["arn"] == job_arn]
        return real_bedrock.EvaluationJob(name, job["arn"], job["status"], tuple(job["failure_messages"]))

    def find_evaluation_job(self, job_name: str) -> real_bedrock.EvaluationJob | None:
        job = self.evaluation_jobs.get(job_name)
        return None if job is None else self.get_evaluation_job(job["arn"])

    def stop_evaluation_job(self, job_arn: str) -> bool:
        [job] = [job for job in self.evaluation_jobs.values() if job["arn"] == job_arn]
        if job["status"] != "InProgress":
            return False
        job["status"] = "Stopping"
        return True


def install_fake_bedrock(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> FakeBedrock:
    """Replace the `bedrock` dal module that each handler module uses with one shared fake."""
    fake = FakeBedrock()
    for module in modules:
        monkeypatch.setattr(module, "bedrock", fake)
    return fake
