"""A local session of the embedded default: the app synthesized, deployed into moto and driven from outside.

`LocalSession.start("dev")` starts the embedded AWS, installs the Bedrock stand-in and the adapters,
synthesizes the environment's stack, deploys it and returns a handle to upload data and watch the pipeline
work, the way an operator would against a real account: uploads go to S3 and the deployed trigger chain
(S3 -> EventBridge -> SQS -> trigger Lambda -> Step Functions) does the rest.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iterft_runtime import naming
from iterft_runtime.dal.clients import reset_clients
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

from iterft.local import adapters
from iterft.local.bedrock import BedrockStandIn, install_bedrock_standin, standin_backend
from iterft.local.deploy import DeployedStack, delete_stack, deploy_stack, update_stack
from iterft.local.iam import Principal, acting_as, authorize_assume_role
from iterft.local.server import DEFAULT_REGION, EmbeddedAws
from iterft.summary import bedrock_inventory
from iterft.target import Deployment, resolve
from stacks.app_builder import synth_stack
from stacks.config import CONFIG_DIR, DeploymentConfig

DEFAULT_TIME_SCALE = 0.001
"""Simulated seconds to real ones: a 30 s Wait takes 30 ms."""
_TAP_QUEUE = "iterft-emulator-s3-event-tap"
_TAP_TARGET_ID = "iterft-emulator-tap"
_POLL_SECONDS = 0.01
_MAX_POLL_SECONDS = 0.1
"""Polling backs off to this while the lineage is busy: each poll is requests to the server, which shares
this process (and its GIL) with the handlers and the Step Functions interpreter it is watching."""


@dataclass(frozen=True)
class StartTimings:
    """Where a session's start went, in seconds (reported by `make bench` and the demo)."""

    server: float
    synth: float
    deploy: float

    @property
    def total(self) -> float:
        return self.server + self.synth + self.deploy


class LocalSession:
    """The deployed app on the embedded AWS; `close()` (or `with`) stops it and restores the process."""

    def __init__(
        self,
        aws: EmbeddedAws,
        stack: DeployedStack,
        config: DeploymentConfig,
        synth_dir: tempfile.TemporaryDirectory[str] | None,
    ) -> None:
        self.aws = aws
        self.stack = stack
        self.config = config
        self.timings = StartTimings(0.0, 0.0, 0.0)
        self._synth_dir = synth_dir
        self._events: list[dict[str, Any]] = []
        self._redeploy_dirs: list[tempfile.TemporaryDirectory[str]] = []
        self.deployment: Deployment = resolve(stack.stack_name, aws.region, endpoint_url=aws.endpoint)
        self._tap_url = self._tap_upload_events()

    @classmethod
    def start(
        cls,
        environment: str,
        *,
        config_dir: Path = CONFIG_DIR,
        time_scale: float = DEFAULT_TIME_SCALE,
        outdir: Path | None = None,
    ) -> LocalSession:
        """Start, synthesize `<config_dir>/<environment>.yaml` and deploy it."""
        began = time.perf_counter()
        install_bedrock_standin()
        aws = EmbeddedAws(region=DEFAULT_REGION, time_scale=time_scale).start()
        synth_dir = None if outdir else tempfile.TemporaryDirectory(prefix="iterft-synth-")
        stack: DeployedStack | None = None
        try:
            reset_clients()  # the runtime's cached clients must reach this server
            server_ready = time.perf_counter()
            warming = threading.Thread(target=aws.warm_up, name="embedded-aws-warm-up", daemon=True)
            warming.start()  # the synth mostly waits on its Node.js process
            synth = synth_stack(environment, outdir or Path(synth_dir.name), config_dir)  # type: ignore[union-attr]  # synth_dir: set when outdir is None
            synthesized = time.perf_counter()
            warming.join()
            stack = deploy_stack(synth, aws.endpoint, aws.region)
            session = cls(aws, stack, synth.config, synth_dir)
            session.timings = StartTimings(
                server_ready - began, synthesized - server_ready, time.perf_counter() - synthesized
            )
            return session
        except BaseException:
            if stack is not None:
                stack.restore_environment()
            aws.stop()
            reset_clients()
            if synth_dir is not None:
                synth_dir.cleanup()
            raise

    def __enter__(self) -> LocalSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def endpoint(self) -> str:
        return self.aws.endpoint

    def client(self, service: str) -> Any:
        """A boto3 client bound to the embedded endpoint."""
        return self.aws.client(service)

    @property
    def standin(self) -> BedrockStandIn:
        """The Bedrock stand-in's backend, e.g. to `fail_next_job(match, message)`."""
        return standin_backend(self.aws.account_id, self.aws.region)

    # --- driving the pipeline ----------------------------------------------------------------------

    def upload(
        self,
        lineage: str,
        data: Path | bytes,
        *,
        name: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Put a dataset under `incoming/<lineage>/<name>`; the trigger does the rest. Its version id."""
        if isinstance(data, Path):
            body, name = data.read_bytes(), name or data.name
        elif name is None:
            raise ValueError("name is required when uploading bytes")
        else:
            body = data
        response = self.client("s3").put_object(
            Bucket=self.stack.data_bucket,
            Key=f"{naming.incoming_prefix(lineage)}{name}",
            Body=body,
            Metadata=metadata or {},
        )
        return str(response.get("VersionId", "null"))

    def put_evaluation_set(self, lineage: str, path: Path) -> None:
        self.client("s3").put_object(
            Bucket=self.stack.data_bucket, Key=naming.evaluation_set_key(lineage), Body=path.read_bytes()
        )

    def redeliver_last_event(self, lineage: str) -> None:
        """Deliver the lineage's last S3 upload event to the trigger queue again, as EventBridge may."""
        prefix = naming.incoming_prefix(lineage)
        events = [e for e in self.upload_events() if e["detail"]["object"]["key"].startswith(prefix)]
        if not events:
            raise LookupError(f"no upload event seen for lineage {lineage}")
        self.client("sqs").send_message(
            QueueUrl=self.stack.trigger_queue_url, MessageBody=json.dumps(events[-1])
        )

    # --- watching it -------------------------------------------------------------------------------

    def upload_events(self) -> list[dict[str, Any]]:
        """Every S3 event the upload rule delivered, in order, as the trigger queue received them."""
        sqs = self.client("sqs")
        while True:
            messages = sqs.receive_message(QueueUrl=self._tap_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return list(self._events)
            for message in messages:
                self._events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self._tap_url, ReceiptHandle=message["ReceiptHandle"])

    def executions(self) -> list[dict[str, Any]]:
        """The workflow's executions, as ListExecutions returns them."""
        paginator = self.client("stepfunctions").get_paginator("list_executions")
        pages = paginator.paginate(stateMachineArn=self.stack.state_machine_arn)
        return [execution for page in pages for execution in page["executions"]]

    def notifications(self) -> list[dict[str, Any]]:
        """Every message published to the stack's topic: {"message_id", "subject", "message", "attributes"}.

        Read from the publish log moto's SNS keeps per topic (`Topic.sent_notifications`).
        """
        topic = sns_backends[self.aws.account_id][self.aws.region].topics[self.stack.topic_arn]
        return [
            {"message_id": message_id, "subject": subject, "message": message, "attributes": attributes}
            for message_id, message, subject, attributes, _group in topic.sent_notifications
        ]

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message the trigger queue moved to its dead-letter queue (its body, parsed): what the
        pipeline gave up on after the redrive policy's receives. Read from moto's SQS backend, so nothing
        is received (the messages stay as they are)."""
        queues = sqs_backends[self.aws.account_id][self.aws.region].queues
        dead = queues[self.stack.trigger_queue_url.rsplit("/", 1)[-1]].dead_letter_queue
        return [json.loads(message.body) for message in (dead._messages if dead is not None else [])]

    def bedrock_inventory(self) -> list[dict[str, Any]]:
        """Every provisioned throughput and custom model deployment that exists, as Bedrock lists them
        (what is billed by the hour or could be invoked): `{kind, name, arn, model_arn, status}`; and
        every evaluation job still running (InProgress or Stopping, billed for its inference):
        `{kind: "evaluation_job", name, arn, status}`."""
        return bedrock_inventory(self.client("bedrock"))

    def run_schedule(self, construct_id: str | None = None) -> list[dict[str, Any]]:
        """Fire each of the stack's EventBridge Scheduler schedules once, as Scheduler would (the embedded
        default does not fire them by itself): read its target and input from the scheduler backend,
        check that the schedule's role trusts Scheduler for this account and schedule, and invoke the
        target function with that input as the role, so its lambda:InvokeFunction is IAM-checked. The
        function's responses (its result documents), one per schedule; a function error raises.
        `construct_id` fires only the schedules whose construct id it names (e.g. `Curation-<lineage>`:
        CloudFormation's logical id keeps its letters and digits)."""
        scheduler = self.client("scheduler")
        results = []
        for logical_id, kind in sorted(self.stack.resource_types.items()):
            if kind != "AWS::Scheduler::Schedule":
                continue
            if construct_id is not None and re.sub(r"[^A-Za-z0-9]", "", construct_id) not in logical_id:
                continue
            schedule = scheduler.get_schedule(Name=self.stack.physical_id(logical_id))
            if schedule.get("State") != "ENABLED":
                continue
            target = schedule["Target"]
            context = {"aws:SourceAccount": self.aws.account_id, "aws:SourceArn": schedule["Arn"]}
            authorize_assume_role("scheduler.amazonaws.com", target["RoleArn"], context)
            with acting_as(Principal(target["RoleArn"], f"the schedule {schedule['Name']}")):
                response = self.client("lambda").invoke(
                    FunctionName=target["Arn"],
                    InvocationType="RequestResponse",
                    Payload=target.get("Input", "{}"),
                )
            payload = json.loads(response["Payload"].read() or b"null")
            if response.get("FunctionError"):
                raise RuntimeError(f"schedule {schedule['Name']}: {target['Arn']} failed: {payload}")
            results.append(payload)
        if not results:
            which = f" {construct_id}" if construct_id else ""
            raise LookupError(f"stack {self.stack.stack_name} has no enabled schedule{which}")
        return results

    def is_idle(self, lineage: str, *, queued_allowed: bool = False) -> bool:
        """No trigger work in flight, no running execution of the lineage, nothing queued, no lock.
        `queued_allowed`: uploads may wait in the queue (a paused or over-budget lineage keeps them).

        Checked in the order work hands over (trigger -> execution -> registry -> trigger): an execution
        ending between two checks has sent its dispatch message before it ended.
        """
        if not adapters.is_quiet():
            return False
        own = re.compile(rf"{re.escape(lineage)}-it\d{{4,}}-")  # naming.execution_name's shape
        if any(own.match(execution["name"]) for execution in self._running_executions()):
            return False
        table = self.client("dynamodb")
        pk = {"S": naming.lineage_pk(lineage)}
        queued = table.query(
            TableName=self.stack.registry_table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :queue)",
            ExpressionAttributeValues={":pk": pk, ":queue": {"S": naming.QUEUE_SK_PREFIX}},
            Select="COUNT",
        )["Count"]
        state = table.get_item(
            TableName=self.stack.registry_table, Key={"pk": pk, "sk": {"S": naming.STATE_SK}}
        ).get("Item", {})
        return (queued_allowed or queued == 0) and "lock_owner" not in state and adapters.is_quiet()

    def wait_until_idle(self, lineage: str, timeout: float = 60.0, *, queued_allowed: bool = False) -> None:
        """Until the lineage is idle twice in a row (work hands over between the trigger and executions)."""
        deadline = time.monotonic() + timeout
        idle_in_a_row, pause = 0, _POLL_SECONDS
        while idle_in_a_row < 2:
            idle = self.is_idle(lineage, queued_allowed=queued_allowed)
            idle_in_a_row = idle_in_a_row + 1 if idle else 0
            if time.monotonic() > deadline:
                raise TimeoutError(f"lineage {lineage} still busy after {timeout}s")
            pause = _POLL_SECONDS if idle else min(pause * 2, _MAX_POLL_SECONDS)
            time.sleep(pause)

    def redeploy(self, environment: str, config_dir: Path) -> None:
        """Synthesize `<config_dir>/<environment>.yaml` (the same stack name) and update the deployed
        stack with it through CloudFormation's update path, as `cdk deploy` would."""
        outdir = tempfile.TemporaryDirectory(prefix="iterft-synth-")
        self._redeploy_dirs.append(outdir)
        synth = synth_stack(environment, Path(outdir.name), config_dir)
        if synth.stack_name != self.stack.stack_name:
            raise ValueError(
                f"{environment} synthesizes stack {synth.stack_name}, not {self.stack.stack_name}"
            )
        self.stack = update_stack(self.stack, synth, self.aws.endpoint, self.aws.region)
        self.config = synth.config
        self._tap_url = self._tap_upload_events()  # an updated rule may have lost its targets

    def delete_stack(self) -> None:
        """DeleteStack, as `cdk destroy` does; the embedded AWS keeps running (what is left can be listed)."""
        delete_stack(self.stack, self.aws.endpoint, self.aws.region)

    def close(self) -> None:
        """Stop the embedded AWS and give the process back its environment."""
        self.stack.restore_environment()
        self.aws.stop()
        reset_clients()
        if self._synth_dir is not None:
            self._synth_dir.cleanup()
        for outdir in self._redeploy_dirs:
            outdir.cleanup()

    def _running_executions(self) -> list[dict[str, Any]]:
        response = self.client("stepfunctions").list_executions(
            stateMachineArn=self.stack.state_machine_arn, statusFilter="RUNNING"
        )
        return list(response["executions"])

    def _tap_upload_events(self) -> str:
        """A queue receiving what the upload rule sends the trigger queue, so events can be redelivered."""
        sqs, events = self.client("sqs"), self.client("events")
        tap_url: str = sqs.create_queue(QueueName=_TAP_QUEUE)["QueueUrl"]
        tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        trigger_arn = sqs.get_queue_attributes(
            QueueUrl=self.stack.trigger_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        rules = [
            rule
            for logical_id, kind in self.stack.resource_types.items()
            if kind == "AWS::Events::Rule"
            for rule in [self.stack.physical_id(logical_id)]
            if any(t["Arn"] == trigger_arn for t in events.list_targets_by_rule(Rule=rule)["Targets"])
        ]
        if not rules:
            raise LookupError("no EventBridge rule of the stack targets the trigger queue")
        for rule in rules:
            events.put_targets(Rule=rule, Targets=[{"Id": _TAP_TARGET_ID, "Arn": tap_arn}])
        return tap_url
