"""The Workflow construct: the step functions, their grants (grants.py), and the state machine (flow.py)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from iterft_runtime import naming
from iterft_runtime.models import capabilities
from iterft_runtime.models.families import invocable_foundation_model_id, is_custom_model_arn
from iterft_runtime.models.lineage import LineageConfig

from stacks.bedrock_role import BedrockCustomizationRole
from stacks.config import DeploymentConfig
from stacks.evaluation_role import (
    MANAGED_EVALUATION_OBJECTS,
    PRECOMPUTED_ANSWERS_OBJECTS,
    BedrockEvaluationRole,
)
from stacks.functions import RuntimePackage, log_group
from stacks.notifications import Notifications
from stacks.registry import Registry
from stacks.serving import ServingPointers
from stacks.storage import Storage
from stacks.trigger import UploadQueue
from stacks.workflow import grants
from stacks.workflow.flow import round_flow
from stacks.workflow.steps import Steps

SHORT_TIMEOUT = cdk.Duration.minutes(1)
LONG_TIMEOUT = cdk.Duration.minutes(15)
"""Validate reads a whole dataset; the evaluation steps read the set and call Bedrock per record."""
LONG_RUNNING_STEPS = (
    "validate",
    "plan_evaluation",
    "score_shard",
    "start_managed_evaluation",
    "aggregate_evaluation",
)


class Workflow(Construct):
    """Step functions, their permissions, and the state machine that chains them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        runtime: RuntimePackage,
        storage: Storage,
        registry: Registry,
        notifications: Notifications,
        bedrock_role: BedrockCustomizationRole,
        upload_queue: UploadQueue,
        serving_pointers: ServingPointers,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        stack = cdk.Stack.of(self)
        self.job_arns = stack.format_arn(
            service="bedrock", resource="model-customization-job", resource_name="*"
        )
        self.custom_model_arns = stack.format_arn(
            service="bedrock", resource="custom-model", resource_name="*"
        )
        self.deployment_arns = stack.format_arn(
            service="bedrock", resource="custom-model-deployment", resource_name="*"
        )
        self.throughput_arns = stack.format_arn(
            service="bedrock", resource="provisioned-model", resource_name="*"
        )
        self.has_managed_jobs = any(lineage.evaluation.managed_job is not None for lineage in config.lineages)
        # Bedrock's evaluation jobs: only in a stack where some lineage has `evaluation.managed_job`.
        self.evaluation_role = (
            BedrockEvaluationRole(
                self,
                "BedrockEvaluation",
                storage=storage,
                models=[self.throughput_arns, *self._managed_job_starting_points()],
                judged=any(self._judged_lineages()),
                evaluators=self._evaluators(),
            )
            if self.has_managed_jobs
            else None
        )
        self.resources = self._resources(storage, registry, notifications, bedrock_role, serving_pointers)
        self._grants = grants.GrantContext(
            resources=self.resources, storage=storage, registry=registry, notifications=notifications
        )

        functions_scope = Construct(self, "Functions")
        self.functions: dict[str, lambda_.Function] = {
            step: runtime.function(
                functions_scope,
                step,
                timeout=LONG_TIMEOUT if step in LONG_RUNNING_STEPS else SHORT_TIMEOUT,
                extra_environment=self._extra_environment(step, storage),
            )
            for step in naming.STEPS
            if step not in naming.OUTSIDE_WORKFLOW_STEPS
            and (self.has_managed_jobs or step not in naming.MANAGED_EVALUATION_STEPS)
        }
        for step, function in self.functions.items():
            grants.apply(step, function, self._grants, managed_jobs=self.has_managed_jobs)

        steps = Steps(
            functions=self.functions,
            config=config,
            storage=storage,
            upload_queue=upload_queue,
            bedrock_role_arn=bedrock_role.role.role_arn,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(round_flow(self, steps)),
            logs=sfn.LogOptions(
                destination=log_group(self, "StateMachineLogs", config.retention),
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
            tracing_enabled=True,
            comment="One iterft round: validate, fine-tune, evaluate, decide, promote or discard, finish",
        )
        # The Fine-tune CustomState grants nothing by itself; the other tasks grant what they call.
        grants.apply(
            grants.STATE_MACHINE, self.state_machine, self._grants, managed_jobs=self.has_managed_jobs
        )

    def grant_delete_capacity(self, grantee: iam.IGrantable) -> None:
        """Delete custom model deployments and provisioned throughput (ARNs Bedrock assigns at run time):
        what Promote, Discard and the reconciler delete."""
        grants.DELETE_CAPACITY.apply(grantee, self._grants)

    def grant_delete_models(self, grantee: iam.IGrantable) -> None:
        """Delete the account's custom models (created by rounds at run time): retention, the reconciler."""
        grants.DELETE_MODELS.apply(grantee, self._grants)

    def _resources(
        self,
        storage: Storage,
        registry: Registry,
        notifications: Notifications,
        bedrock_role: BedrockCustomizationRole,
        serving_pointers: ServingPointers,
    ) -> grants.Resources:
        """The ARNs the grants table names, in this stack."""
        judged = bool(self._judged_lineages())
        shards = storage.data_bucket.arn_for_objects(f"{naming.EVALUATION_RESULTS_PREFIX}*/shards/*")
        answers = storage.data_bucket.arn_for_objects(PRECOMPUTED_ANSWERS_OBJECTS)
        return grants.Resources(
            jobs=self.job_arns,
            custom_models=self.custom_model_arns,
            deployments=self.deployment_arns,
            throughputs=self.throughput_arns,
            serving_pointers=serving_pointers.parameter_arns,
            bucket=storage.data_bucket.bucket_arn,
            table=registry.table.table_arn,
            key=storage.key.key_arn,
            topic=notifications.topic.topic_arn,
            bedrock_role=bedrock_role.role.role_arn,
            bucket_objects=storage.data_bucket.arn_for_objects,
            evaluation_models=tuple(self._evaluation_models()),
            judges=tuple(self._judge_models()),
            base_models=tuple(
                dict.fromkeys(
                    self._foundation_model_arn(lineage.base_model)
                    for lineage in self._config.lineages
                    if not is_custom_model_arn(lineage.base_model)
                )
            ),
            managed_job_starting_points=tuple(self._managed_job_starting_points()),
            evaluation_jobs=self.evaluation_role.job_arns if self.evaluation_role else "",
            evaluation_role=self.evaluation_role.role.role_arn if self.evaluation_role else "",
            managed_evaluation_dataset=storage.data_bucket.arn_for_objects(
                f"{MANAGED_EVALUATION_OBJECTS}dataset.jsonl"
            ),
            evaluators=tuple(self._evaluators()),
            evaluation_shards=(shards,) if judged else (),
            precomputed_answers=(answers,) if judged else (),
        )

    def _extra_environment(self, step: str, storage: Storage) -> dict[str, str]:
        """Start managed evaluation names the role its jobs run as and the key their results use."""
        if step != "start_managed_evaluation" or self.evaluation_role is None:
            return {}
        return {
            naming.ENV_EVALUATION_ROLE_ARN: self.evaluation_role.role.role_arn,
            naming.ENV_KEY_ARN: storage.key.key_arn,
        }

    def _managed_job_starting_points(self) -> list[str]:
        """Each managed-job lineage's foundation model or `evaluation_invoke_model`, once each: what
        Bedrock's evaluation jobs score as the champion before the first promotion."""
        models = []
        for lineage in self._config.lineages:
            if lineage.evaluation.managed_job is None or lineage.evaluation.managed_job.judged:
                continue
            if lineage.evaluation_invoke_model:
                models.append(self._invocable_arn(lineage.evaluation_invoke_model))
            elif not is_custom_model_arn(lineage.base_model):
                models.append(self._foundation_model_arn(invocable_foundation_model_id(lineage.base_model)))
        return list(dict.fromkeys(models))

    def _evaluation_models(self) -> list[str]:
        """What Score shard may invoke: each starting point's on-demand id, evaluation capacity."""
        models = [self.deployment_arns, self.throughput_arns]
        for lineage in self._config.lineages:
            if not is_custom_model_arn(lineage.base_model):
                models.append(self._foundation_model_arn(invocable_foundation_model_id(lineage.base_model)))
            if lineage.evaluation_invoke_model:
                models.append(self._invocable_arn(lineage.evaluation_invoke_model))
        return list(dict.fromkeys(models))

    def _judged_lineages(self) -> list[LineageConfig]:
        """The lineages whose Bedrock evaluation job is judged (an evaluator model grades their answers)."""
        return [
            lineage
            for lineage in self._config.lineages
            if lineage.evaluation.managed_job is not None and lineage.evaluation.managed_job.judged
        ]

    def _evaluators(self) -> list[str]:
        """What IAM names each judged job's evaluator: a foundation model's ARN; for a cross-Region
        inference profile, the profile in this account and its foundation model in any Region."""
        arns = []
        for lineage in self._judged_lineages():
            model = lineage.evaluation.managed_job.evaluator_model if lineage.evaluation.managed_job else None
            if model is None:
                continue
            row = capabilities.evaluator(model)
            if row is not None and row.model_id != model:
                stack = cdk.Stack.of(self)
                arns.append(
                    stack.format_arn(service="bedrock", resource="inference-profile", resource_name=model)
                )
                arns.append(
                    stack.format_arn(
                        service="bedrock",
                        region="*",
                        account="",
                        resource="foundation-model",
                        resource_name=row.model_id,
                    )
                )
            else:
                arns.append(self._foundation_model_arn(model))
        return list(dict.fromkeys(arns))

    def _judge_models(self) -> list[str]:
        """The foundation model ARN of each lineage's judge (`evaluation.judge.model`), once each."""
        return list(
            dict.fromkeys(
                self._foundation_model_arn(lineage.evaluation.judge.model)
                for lineage in self._config.lineages
                if lineage.evaluation.judge is not None
            )
        )

    def _invocable_arn(self, model: str) -> str:
        """`evaluation_invoke_model` as IAM names it: an ARN as it is, a model id as its foundation model."""
        return model if model.startswith("arn:") else self._foundation_model_arn(model)

    def _foundation_model_arn(self, model_id: str) -> str:
        return cdk.Stack.of(self).format_arn(
            service="bedrock", account="", resource="foundation-model", resource_name=model_id
        )
