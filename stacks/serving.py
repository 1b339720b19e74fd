"""The stable serving pointers: one SSM parameter per lineage that applications read to know what to
invoke, created once by a custom resource (`Custom::ServingPointer`, handled by
`iterft_runtime.handlers.stack_resources`) with the lineage's starting point; from then on only a
completed promotion or rollback (the Promote step) moves it.

Not an `AWS::SSM::Parameter`: CloudFormation would own its value and write the template's starting
point back on any update of the resource (a changed description, a changed starting model), moving
applications off the promoted model. The custom resource writes with `Overwrite: false` on Create and
nothing on Update, and its parameter is named by stack and lineage, not by construct, so a renamed
construct adopts the existing pointer.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from iterft_runtime import naming
from iterft_runtime.models.lineage import LineageConfig, starting_point

from stacks.config import RetentionConfig
from stacks.functions import RuntimePackage
from stacks.registry import Registry
from stacks.storage import Storage

STACK_RESOURCES_TIMEOUT = cdk.Duration.minutes(5)


class ServingPointers(Construct):
    """The pointers' names and ARNs (known before the functions exist: their environment names the
    prefix); `create` adds the custom resources once the runtime package exists."""

    def __init__(self, scope: Construct, construct_id: str, *, stack_name: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self._stack_name = stack_name
        self.prefix = naming.serving_parameter_prefix(stack_name)
        self.parameter_arns = stack.format_arn(
            service="ssm", resource="parameter", resource_name=f"{self.prefix.strip('/')}/*"
        )
        self.function: lambda_.Function | None = None
        self.pointers: dict[str, cdk.CustomResource] = {}
        self.capacity_arns: list[str] = []

    def create(
        self,
        *,
        runtime: RuntimePackage,
        lineages: list[LineageConfig],
        retention: RetentionConfig,
        storage: Storage,
        registry: Registry,
    ) -> None:
        """The custom resource function, a pointer per lineage and, in throwaway stacks, the teardown."""
        stack = cdk.Stack.of(self)
        destroy = retention.destroy_data_on_delete
        function = runtime.function(self, naming.STACK_RESOURCES, timeout=STACK_RESOURCES_TIMEOUT)
        self.function = function
        actions = ["ssm:PutParameter", *(["ssm:DeleteParameter"] if destroy else [])]
        function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[self.parameter_arns]))
        # Is the stack being deleted, or is this the Delete of a resource an update removed?
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[stack.stack_id])
        )
        role = function.role
        if role is None:
            raise ValueError(f"{function.node.path} has no role")
        for lineage in lineages:
            purpose = f"{lineage.description}. " if lineage.description else ""
            pointer = cdk.CustomResource(
                self,
                f"Pointer-{lineage.name}",
                service_token=function.function_arn,
                resource_type=naming.SERVING_POINTER_RESOURCE,
                properties={
                    "ParameterName": naming.serving_parameter_name(self._stack_name, lineage.name),
                    "InitialValue": starting_point(lineage),
                    "Description": (
                        f"iterft lineage {lineage.name}: {purpose}The model identifier to invoke; moved by "
                        "promotions and rollbacks once the new model is in service"
                    ),
                    "DestroyOnStackDelete": str(destroy).lower(),
                },
            )
            pointer.node.add_dependency(role)  # its grants exist from its Create to its Delete
            self.pointers[lineage.name] = pointer
            cdk.CfnOutput(
                stack,
                f"ServingParameter{_pascal(lineage.name)}",
                value=naming.serving_parameter_name(self._stack_name, lineage.name),
                description=f"SSM parameter holding what to invoke for lineage {lineage.name}",
            )
        cdk.CfnOutput(stack, "ServingParameterPrefix", value=self.prefix)
        if destroy:
            self._teardown(function, role, lineages, storage, registry)

    def _teardown(
        self,
        function: lambda_.Function,
        role: iam.IRole,
        lineages: list[LineageConfig],
        storage: Storage,
        registry: Registry,
    ) -> None:
        """Throwaway stacks: on stack deletion, delete the serving capacity and empty the buckets first."""
        buckets = [storage.data_bucket, storage.log_bucket]
        for bucket in buckets:
            function.add_to_role_policy(
                iam.PolicyStatement(actions=["s3:ListBucketVersions"], resources=[bucket.bucket_arn])
            )
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:DeleteObjectVersion"], resources=[bucket.arn_for_objects("*")]
                )
            )
        registry.grant_read(function)
        stack = cdk.Stack.of(self)
        capacity = [
            stack.format_arn(service="bedrock", resource=kind, resource_name="*")
            for kind in ("custom-model-deployment", "provisioned-model")
        ]
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["bedrock:DeleteCustomModelDeployment", "bedrock:DeleteProvisionedModelThroughput"],
                resources=capacity,
            )
        )
        teardown = cdk.CustomResource(
            self,
            "Teardown",
            service_token=function.function_arn,
            resource_type=naming.DATA_TEARDOWN_RESOURCE,
            properties={
                "Buckets": [bucket.bucket_name for bucket in buckets],
                "RegistryTable": registry.table.table_name,
                "Lineages": [lineage.name for lineage in lineages],
                "DestroyOnStackDelete": "true",
            },
        )
        teardown.node.add_dependency(role)  # the buckets: through the Refs of `Buckets` (emptied first)
        self.capacity_arns = capacity


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^a-z0-9]+", name) if part)
