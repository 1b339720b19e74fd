"""The service role Bedrock assumes to run this stack's evaluation jobs (`evaluation.managed_job`)."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct
from iterft_runtime import naming

from stacks.bedrock_role import bedrock_service_role
from stacks.storage import Storage, grant_key_use

MANAGED_EVALUATION_OBJECTS = f"{naming.EVALUATION_RESULTS_PREFIX}*/{naming.MANAGED_EVALUATION_DIR}"
"""Every round's managed evaluation folder, evaluations/<lineage>/<iteration>/managed-evaluation/."""
PRECOMPUTED_ANSWERS_OBJECTS = f"{MANAGED_EVALUATION_OBJECTS}*{naming.PRECOMPUTED_ANSWERS_SUFFIX}"
"""A judged job's datasets: each model's answers of a round (`<role>-answers.jsonl`)."""


class BedrockEvaluationRole(Construct):
    """Trusted by Bedrock for this account's evaluation jobs only. Reads each round's prompt dataset,
    writes the job's results (both under evaluations/*/managed-evaluation/), and invokes what the jobs
    evaluate: provisioned throughput in the account and the lineages' starting-point foundation models,
    and the evaluator models that judge. With a judged lineage (`judged`) it also reads the rounds'
    answers datasets (precomputed inference)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        models: Sequence[str],
        judged: bool = False,
        evaluators: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        bucket = storage.data_bucket
        self.judged = judged
        self.evaluators = tuple(evaluators)
        self.job_arns = stack.format_arn(service="bedrock", resource="evaluation-job", resource_name="*")
        self.role = bedrock_service_role(
            self, "Assumed by Amazon Bedrock to run iterft model evaluation jobs", self.job_arns
        )
        statements = [
            iam.PolicyStatement(
                sid="ReadPromptDatasets",
                actions=["s3:GetObject"],
                resources=[
                    bucket.arn_for_objects(f"{MANAGED_EVALUATION_OBJECTS}dataset.jsonl"),
                    *([bucket.arn_for_objects(PRECOMPUTED_ANSWERS_OBJECTS)] if judged else []),
                ],
            ),
            iam.PolicyStatement(
                sid="WriteResults",
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{MANAGED_EVALUATION_OBJECTS}output/*")],
            ),
            # Unconditioned, as Bedrock's documented role has it: checking the output location sends no
            # prefix. Listing shows keys, not contents.
            iam.PolicyStatement(
                sid="LocateAndListBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="InvokeEvaluatedModels",
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                resources=[*models, *evaluators],
            ),
        ]
        for statement in statements:
            self.role.add_to_policy(statement)
        grant_key_use(
            storage.key, self.role, ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"], "bedrock", "s3"
        )
        # Bedrock itself keeps a temporary copy of the job's data encrypted with the key: the key policy
        # must let the service use it for this account's evaluation jobs (Bedrock's documented statement).
        storage.allow_service(
            "BedrockEvaluationJobs",
            "bedrock.amazonaws.com",
            ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
            {
                "StringLike": {
                    "kms:EncryptionContext:evaluationJobArn": self.job_arns,
                    "aws:SourceArn": self.job_arns,
                }
            },
        )
