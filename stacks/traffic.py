"""The flywheel: the curate function, each lineage's curation schedule (only where `traffic.curation.
schedule` is set) and, with `invocation_logs.enable_if_absent`, Bedrock model invocation logging into the
data bucket, turned on only when the region has none (docs/flywheel.md).

The curate function reads the invocation logs of the stack's region only (that bucket and prefix, and the
named KMS key through S3), the lineages' feedback, earlier rounds' validated data, the evaluation sets,
and what the gap analysis reads (each round's metrics.json and results.jsonl); it writes curated datasets
under incoming/, so that the trigger chain starts their rounds and Validate checks them as uploads.
Comprehend's DetectPiiEntities is granted only when a lineage redacts personal data.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct
from iterft_runtime import naming
from iterft_runtime.logic.feedback import FEEDBACK_PREFIX
from iterft_runtime.logic.invocation_logs import LOG_SERVICE_DIR
from iterft_runtime.models.lineage import LineageConfig
from iterft_runtime.models.traffic import InvocationLogsConfig

from stacks.functions import RuntimePackage, grant_parameter_reads
from stacks.registry import Registry
from stacks.schedules import function_schedule, schedule_role
from stacks.serving import ServingPointers
from stacks.storage import Storage
from stacks.trigger import UploadQueue

TIMEOUT = cdk.Duration.minutes(15)
"""A curation lists and reads a lookback's log objects and every earlier round's data: minutes at most."""
MEMORY_MB = 1024
SCHEDULE_RETRY_ATTEMPTS = 3
SCHEDULE_MAX_EVENT_AGE_SECONDS = 3600
"""A scheduled curation Scheduler could not deliver within an hour goes to the dead-letter queue."""
CURATE_FUNCTION_OUTPUT = "CurateFunctionName"


def gap_analysis_keys(lineage: str) -> tuple[str, str]:
    """What dal/gaps.lineage_gaps reads of a lineage's evaluations: every round's metrics.json and
    results.jsonl (evaluations/<lineage>/<iteration>/), keys named as naming.py names them."""
    return (
        naming.evaluation_metrics_key(lineage, 0).replace(f"{0:06d}", "*"),
        naming.evaluation_results_key(lineage, 0).replace(f"{0:06d}", "*"),
    )


class Traffic(Construct):
    """The curate function and its grants, the curation schedules, and invocation logging when asked."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_name: str,
        logs: InvocationLogsConfig,
        lineages: list[LineageConfig],
        runtime: RuntimePackage,
        storage: Storage,
        registry: Registry,
        serving_pointers: ServingPointers,
        upload_queue: UploadQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        if logs.enable_if_absent:
            bucket_name, key_prefix = storage.data_bucket.bucket_name, naming.INVOCATION_LOG_KEY_PREFIX
            self._deliver_logs_to_data_bucket(storage, serving_pointers)
            log_bucket_arn = storage.data_bucket.bucket_arn
        else:
            bucket_name, _, key_prefix = str(logs.s3_uri)[len("s3://") :].partition("/")
            log_bucket_arn = stack.format_arn(service="s3", region="", account="", resource=bucket_name)
        prefix = key_prefix.strip("/")
        log_root = cdk.Fn.join(
            "",
            [
                f"{prefix + '/' if prefix else ''}AWSLogs/",
                stack.account,
                f"/{LOG_SERVICE_DIR}/{stack.region}/",
            ],
        )
        lineage_prefix = naming.lineage_parameter_prefix(stack_name)
        curating = [lineage.name for lineage in lineages if lineage.traffic is not None]
        self.function = runtime.function(
            self,
            "curate",
            timeout=TIMEOUT,
            extra_environment={
                naming.ENV_LINEAGE_PARAMETER_PREFIX: lineage_prefix,
                naming.ENV_LOG_BUCKET: bucket_name,
                naming.ENV_LOG_ROOT: log_root,
                naming.ENV_CURATED_LINEAGES: ",".join(curating),
            },
        )
        fn = self.function
        if isinstance(fn.node.default_child, lambda_.CfnFunction):
            fn.node.default_child.memory_size = MEMORY_MB
        registry.grant_read(fn)
        storage.grant_read(
            fn,
            *(f"{FEEDBACK_PREFIX}{name}/" for name in curating),
            *(f"{naming.VALIDATED_PREFIX}{name}/" for name in curating),
            *(naming.incoming_prefix(name) for name in curating),
            *(f"{naming.EVALUATION_SET_PREFIX}{name}/" for name in curating),
        )
        # The gap analysis (dal/gaps.lineage_gaps) that aims curation: each round's metrics document and
        # the champion's per-record results, nothing else of evaluations/<lineage>/.
        storage.grant_read_keys(fn, *(key for name in curating for key in gap_analysis_keys(name)))
        storage.grant_write(fn, *(naming.incoming_prefix(name) for name in curating))
        # The logs of this region only: list under its prefix, read its objects (bodies delivered apart too).
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[log_bucket_arn],
                conditions={"StringLike": {"s3:prefix": [cdk.Fn.join("", [log_root, "*"])]}},
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[cdk.Fn.join("", [log_bucket_arn, "/", log_root, "*"])]
            )
        )
        if logs.kms_key_arn is not None:
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt"],
                    resources=[logs.kms_key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
                )
            )
        grant_parameter_reads(
            fn,
            [
                f"{parameter_prefix.rstrip('/')}/{name}"
                for parameter_prefix in (lineage_prefix, serving_pointers.prefix)
                for name in curating
            ],
        )
        if any(lineage.traffic is not None and lineage.traffic.curation.redact_pii for lineage in lineages):
            fn.add_to_role_policy(  # DetectPiiEntities has no resource type: "*" is the only resource
                iam.PolicyStatement(actions=["comprehend:DetectPiiEntities"], resources=["*"])
            )
        self.schedules = self._schedules(stack_name, lineages, upload_queue, storage)
        cdk.CfnOutput(stack, CURATE_FUNCTION_OUTPUT, value=fn.function_name)
        cdk.CfnOutput(
            stack,
            naming.LOGS_DESTINATION_OUTPUT,
            value=cdk.Fn.join("", ["s3://", bucket_name, f"/{prefix + '/' if prefix else ''}"]),
        )
        mode = "enable_if_absent" if logs.enable_if_absent else "named"
        cdk.CfnOutput(stack, naming.LOGS_MODE_OUTPUT, value=mode)

    def _deliver_logs_to_data_bucket(self, storage: Storage, serving_pointers: ServingPointers) -> None:
        """Bedrock's log delivery may write this region's logs under invocation-logs/ (bucket policy, and
        the key's GenerateDataKey for the bucket's SSE-KMS), and logging is enabled when none is set."""
        stack = cdk.Stack.of(self)
        source = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account}:*"},
        }
        storage.data_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="BedrockInvocationLogDelivery",
                principals=[iam.ServicePrincipal("bedrock.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[
                    storage.data_bucket.arn_for_objects(
                        cdk.Fn.join(
                            "",
                            [
                                f"{naming.INVOCATION_LOG_KEY_PREFIX}/AWSLogs/",
                                stack.account,
                                f"/{LOG_SERVICE_DIR}/*",
                            ],
                        )
                    )
                ],
                conditions=source,
            )
        )
        storage.allow_service(
            "BedrockInvocationLogDelivery", "bedrock.amazonaws.com", ["kms:GenerateDataKey"], source
        )
        function = serving_pointers.function
        if function is None:
            raise ValueError("the stack's custom resource function must exist before invocation logging")
        # The logging configuration is an account-and-region setting: neither action has a resource type.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "bedrock:GetModelInvocationLoggingConfiguration",
                    "bedrock:PutModelInvocationLoggingConfiguration",
                ],
                resources=["*"],
            )
        )
        self.logging = cdk.CustomResource(
            self,
            "InvocationLogging",
            service_token=function.function_arn,
            resource_type=naming.INVOCATION_LOGGING_RESOURCE,
            properties={
                "BucketName": storage.data_bucket.bucket_name,
                "KeyPrefix": naming.INVOCATION_LOG_KEY_PREFIX,
            },
        )
        if function.role is not None:
            self.logging.node.add_dependency(function.role)
        if (
            storage.data_bucket.policy is not None
        ):  # Bedrock checks it can deliver before it takes the setting
            self.logging.node.add_dependency(storage.data_bucket.policy)

    def _schedules(
        self, stack_name: str, lineages: list[LineageConfig], upload_queue: UploadQueue, storage: Storage
    ) -> list[scheduler.CfnSchedule]:
        """One schedule per lineage that sets `traffic.curation.schedule` (none by default)."""
        timed = [lineage for lineage in lineages if lineage.traffic and lineage.traffic.curation.schedule]
        if not timed:
            return []
        role = schedule_role(
            self,
            "ScheduleRole",
            function=self.function,
            dead_letter_queue=upload_queue.dead_letter_queue,
            key=storage.key,
            description="EventBridge Scheduler: invoke the iterft curate function",
        )
        schedules = []
        for lineage in timed:
            assert lineage.traffic is not None  # filtered above; for the type checker
            schedules.append(
                function_schedule(
                    self,
                    f"Curation-{lineage.name}",
                    description=f"iterft {stack_name}: curate lineage {lineage.name}'s traffic and feedback",
                    expression=str(lineage.traffic.curation.schedule),
                    function=self.function,
                    role=role,
                    dead_letter_queue=upload_queue.dead_letter_queue,
                    input=f'{{"lineage": "{lineage.name}", "requested_by": "schedule"}}',
                    max_event_age_seconds=SCHEDULE_MAX_EVENT_AGE_SECONDS,
                    retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
                )
            )
        return schedules
