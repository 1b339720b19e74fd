"""The iterft stack: one construct per concern, composed in the order their references need."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct
from iterft_runtime import naming

from stacks.bedrock_role import BedrockCustomizationRole
from stacks.config import DeploymentConfig
from stacks.functions import RuntimePackage
from stacks.graders import Graders, strategy_grants
from stacks.monitoring import Monitoring
from stacks.notifications import Notifications
from stacks.reconciler import Reconciler
from stacks.registry import Registry
from stacks.serving import ServingPointers
from stacks.storage import Storage
from stacks.traffic import Traffic
from stacks.trigger import Trigger, UploadQueue
from stacks.version import OUTPUT_NAME as VERSION_OUTPUT
from stacks.version import code_version
from stacks.workflow import Workflow

METRICS_NAMESPACE = naming.METRICS_NAMESPACE


class IterftStack(cdk.Stack):
    """Everything one environment runs: storage, registry, topic, trigger, the round workflow, its alarms."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config

        self.storage = Storage(self, "Storage", stack_name=config.stack_name, retention=config.retention)
        self.registry = Registry(self, "Registry", key=self.storage.key, retention=config.retention)
        self.notifications = Notifications(
            self, "Notifications", key=self.storage.key, config=config.notifications
        )
        self.bedrock_role = BedrockCustomizationRole(self, "BedrockCustomization", storage=self.storage)
        self.upload_queue = UploadQueue(
            self,
            "UploadQueue",
            stack_name=config.stack_name,
            storage=self.storage,
            feedback=any(lineage.traffic is not None for lineage in config.lineages),
        )
        self.serving_pointers = ServingPointers(self, "ServingPointers", stack_name=config.stack_name)
        self.runtime = RuntimePackage(
            self,
            "Runtime",
            retention=config.retention,
            environment={
                naming.ENV_TABLE: self.registry.table.table_name,
                naming.ENV_BUCKET: self.storage.data_bucket.bucket_name,
                naming.ENV_TOPIC_ARN: self.notifications.topic.topic_arn,
                naming.ENV_SERVING_PARAMETER_PREFIX: self.serving_pointers.prefix,
                naming.ENV_STACK_NAME: config.stack_name,
                "POWERTOOLS_SERVICE_NAME": naming.POWERTOOLS_SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
        )
        self.graders = Graders(
            self, "Graders", stack_name=config.stack_name, lineages=config.lineages, runtime=self.runtime
        )
        self.strategy_grants = strategy_grants(self, config.lineages, self.graders.arns)
        for grant in self.strategy_grants:
            self.bedrock_role.role.add_to_policy(grant.statement)
        self.serving_pointers.create(
            runtime=self.runtime,
            lineages=config.lineages,
            retention=config.retention,
            storage=self.storage,
            registry=self.registry,
        )
        self.workflow = Workflow(
            self,
            "Workflow",
            config=config,
            runtime=self.runtime,
            storage=self.storage,
            registry=self.registry,
            notifications=self.notifications,
            bedrock_role=self.bedrock_role,
            upload_queue=self.upload_queue,
            serving_pointers=self.serving_pointers,
        )
        self.trigger = Trigger(
            self,
            "Trigger",
            stack_name=config.stack_name,
            lineages=config.lineages,
            runtime=self.runtime,
            upload_queue=self.upload_queue,
            state_machine=self.workflow.state_machine,
            registry=self.registry,
            notifications=self.notifications,
            storage=self.storage,
        )
        self.reconciler = Reconciler(
            self,
            "Reconciler",
            stack_name=config.stack_name,
            runtime=self.runtime,
            storage=self.storage,
            registry=self.registry,
            notifications=self.notifications,
            upload_queue=self.upload_queue,
            serving_pointers=self.serving_pointers,
            workflow=self.workflow,
            trigger=self.trigger,
        )
        self.traffic: Traffic | None = None
        if config.invocation_logs is not None:
            self.traffic = Traffic(
                self,
                "Traffic",
                stack_name=config.stack_name,
                logs=config.invocation_logs,
                lineages=config.lineages,
                runtime=self.runtime,
                storage=self.storage,
                registry=self.registry,
                serving_pointers=self.serving_pointers,
                upload_queue=self.upload_queue,
            )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            storage=self.storage,
            notifications=self.notifications,
            upload_queue=self.upload_queue,
            state_machine=self.workflow.state_machine,
            dashboard_name=config.stack_name,
            lineages=[lineage.name for lineage in config.lineages],
        )

        outputs = {
            "DataBucketName": self.storage.data_bucket.bucket_name,
            "RegistryTableName": self.registry.table.table_name,
            "StateMachineArn": self.workflow.state_machine.state_machine_arn,
            "TopicArn": self.notifications.topic.topic_arn,
            "TriggerQueueUrl": self.upload_queue.queue.queue_url,
            "KmsKeyArn": self.storage.key.key_arn,
            VERSION_OUTPUT: code_version(),  # what `iterft doctor` compares with the code checked out
            "ReconcilerFunctionName": self.reconciler.function.function_name,
        }
        for name, value in outputs.items():
            cdk.CfnOutput(self, name, value=value)
