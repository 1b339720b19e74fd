"""The stable serving pointers: one SSM parameter per lineage that applications read to know what to
invoke. The stack creates each with the lineage's starting point; from then on only a completed
promotion or rollback (the Promote step) moves it. CloudFormation sets the value at creation only
(the template's value never changes), so a redeploy does not move a pointer back."""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from iterft_runtime import naming
from iterft_runtime.models.families import invocable_foundation_model_id, is_custom_model_arn
from iterft_runtime.models.lineage import LineageConfig


def starting_point(lineage: LineageConfig) -> str:
    """What serves before the first promotion: the configured invoke id, else the foundation model's
    on-demand id, else (a custom starting model without one) its ARN."""
    if lineage.evaluation_invoke_model:
        return lineage.evaluation_invoke_model
    if is_custom_model_arn(lineage.base_model):
        return lineage.base_model
    return invocable_foundation_model_id(lineage.base_model)


class ServingPointers(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, stack_name: str, lineages: list[LineageConfig]
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.prefix = naming.serving_parameter_prefix(stack_name)
        self.parameter_arns = stack.format_arn(
            service="ssm", resource="parameter", resource_name=f"{self.prefix.strip('/')}/*"
        )
        for lineage in lineages:
            parameter = ssm.StringParameter(
                self,
                f"Serving-{lineage.name}",
                parameter_name=naming.serving_parameter_name(stack_name, lineage.name),
                string_value=starting_point(lineage),
                description=(
                    f"iterft lineage {lineage.name}: the model identifier to invoke; moved by promotions "
                    "and rollbacks once the new model is in service"
                ),
            )
            cdk.CfnOutput(
                stack,
                f"ServingParameter{_pascal(lineage.name)}",
                value=parameter.parameter_name,
                description=f"SSM parameter holding what to invoke for lineage {lineage.name}",
            )
        cdk.CfnOutput(stack, "ServingParameterPrefix", value=self.prefix)


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^a-z0-9]+", name) if part)
