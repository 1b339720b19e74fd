"""Who may do what, and why: every IAM grant of the round's step functions and state machine, once.

`STEP_GRANTS` (and `MANAGED_EVALUATION_GRANTS`, for a stack where a lineage has `evaluation.managed_job`)
is the one table of step -> grants. The Workflow applies it to the roles (`apply`), stacks/nag.py derives
the cdk-nag acknowledgments of its wildcard resources from it (`wildcard_reasons`), and the template
tests check the synthesized policies against it (`expected_permissions`).

A grant names resources by the fields of `Resources` (ARNs; tokens in the stack, readable strings in
the tests). A wildcard is only ever a resource Bedrock, S3 or the round names at run time; why each
one is, is said once, in `WHY_WILDCARD` and `WHY_OBJECTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from aws_cdk import aws_iam as iam
from iterft_runtime import naming

from stacks.notifications import Notifications
from stacks.registry import READ_ACTIONS, WRITE_ACTIONS, Registry
from stacks.storage import (
    COPY_DESTINATION_ACTIONS,
    COPY_SOURCE_ACTIONS,
    OBJECT_READ_ACTIONS,
    OBJECT_WRITE_ACTIONS,
    Storage,
    grant_key_use,
)

STATE_MACHINE = "state_machine"
"""The table's key for the state machine's own role (what the Fine-tune CustomState needs)."""
CAPACITY_DELETE = ("bedrock:DeleteCustomModelDeployment", "bedrock:DeleteProvisionedModelThroughput")
CAPACITY_CREATE = ("bedrock:CreateCustomModelDeployment", "bedrock:CreateProvisionedModelThroughput")
CAPACITY_GET = ("bedrock:GetCustomModelDeployment", "bedrock:GetProvisionedModelThroughput")
CAPACITY_UPDATE = ("bedrock:UpdateCustomModelDeployment", "bedrock:UpdateProvisionedModelThroughput")
CAPACITY = ("deployments", "throughputs")


@dataclass(frozen=True)
class Resources:
    """What grants name. Patterns (`*`) are what Bedrock or a round names at run time."""

    jobs: str
    custom_models: str
    deployments: str
    throughputs: str
    serving_pointers: str
    bucket: str
    table: str
    key: str
    topic: str
    bedrock_role: str
    bucket_objects: Callable[[str], str]
    """The data bucket's objects under a prefix (`<prefix>*`), or one key."""
    evaluation_models: tuple[str, ...] = ()
    """What Score shard invokes: evaluation capacity, each starting point's on-demand id."""
    judges: tuple[str, ...] = ()
    base_models: tuple[str, ...] = ()
    """Foundation models a lineage starts from (Fine-tune's base before the first promotion)."""
    managed_job_starting_points: tuple[str, ...] = ()
    """The starting points evaluation jobs score as the champion (what IAM authorizes them against)."""
    evaluation_jobs: str = ""
    evaluation_role: str = ""
    managed_evaluation_dataset: str = ""
    evaluators: tuple[str, ...] = ()
    """The evaluator models of judged evaluation jobs (what IAM authorizes those jobs against)."""
    evaluation_shards: tuple[str, ...] = ()
    """The rounds' shard answers, which a judged job's datasets are made of (only with a judged lineage)."""
    precomputed_answers: tuple[str, ...] = ()
    """The judged jobs' datasets, each model's answers (only with a judged lineage)."""
    anything: str = "*"

    def arns(self, name: str) -> list[str]:
        value = getattr(self, name)
        return list(value) if isinstance(value, tuple) else [value]


@dataclass(frozen=True)
class Allow:
    """`actions` on the named `Resources` (an empty list grants nothing); `passed_to`: iam:PassRole's
    service condition."""

    actions: tuple[str, ...]
    on: tuple[str, ...]
    reason: str
    passed_to: str | None = None

    def apply(self, grantee: iam.IGrantable, context: GrantContext) -> None:
        resources = [arn for name in self.on for arn in context.resources.arns(name)]
        if not resources:
            return
        conditions = {"StringEquals": {"iam:PassedToService": self.passed_to}} if self.passed_to else None
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(self.actions), resources=resources, conditions=conditions)
        )

    def permissions(self, resources: Resources) -> Iterator[tuple[str, str]]:
        for name in self.on:
            for arn in resources.arns(name):
                yield from ((action, arn) for action in self.actions)

    def wildcards(self, resources: Resources) -> Iterator[tuple[str, str]]:
        for name in self.on:
            for arn in resources.arns(name):
                if "*" in arn:
                    yield arn, WHY_WILDCARD[name]


@dataclass(frozen=True)
class Objects:
    """The data bucket's objects under `prefixes` (stacks/storage.py: actions and key use of each access).
    `copy`: from the first prefix to the others, tags included."""

    access: Literal["read", "write", "copy"]
    prefixes: tuple[str, ...]
    reason: str

    def apply(self, grantee: iam.IGrantable, context: GrantContext) -> None:
        storage = context.storage
        if self.access == "read":
            storage.grant_read(grantee, *self.prefixes)
        elif self.access == "write":
            storage.grant_write(grantee, *self.prefixes)
        else:
            storage.grant_copy(grantee, *self.prefixes)

    def permissions(self, resources: Resources) -> Iterator[tuple[str, str]]:
        first, *others = self.prefixes
        reads = [first] if self.access == "copy" else (list(self.prefixes) if self.access == "read" else [])
        writes = others if self.access == "copy" else (list(self.prefixes) if self.access == "write" else [])
        for prefix in reads:
            yield ("s3:ListBucket", resources.bucket)
            yield from ((action, resources.bucket_objects(f"{prefix}*")) for action in OBJECT_READ_ACTIONS)
        for prefix in writes:
            yield from ((action, resources.bucket_objects(f"{prefix}*")) for action in OBJECT_WRITE_ACTIONS)
        if self.access == "copy":
            yield from ((action, resources.bucket_objects(f"{first}*")) for action in COPY_SOURCE_ACTIONS)
            for prefix in others:
                yield from (
                    (action, resources.bucket_objects(f"{prefix}*")) for action in COPY_DESTINATION_ACTIONS
                )

    def wildcards(self, resources: Resources) -> Iterator[tuple[str, str]]:
        for prefix in self.prefixes:
            yield resources.bucket_objects(f"{prefix}*"), WHY_OBJECTS[prefix]


@dataclass(frozen=True)
class Table:
    """The registry's items (stacks/registry.py: actions and key use of each access)."""

    access: Literal["read", "update_items", "read_write"]
    reason: str

    def apply(self, grantee: iam.IGrantable, context: GrantContext) -> None:
        registry = context.registry
        {
            "read": registry.grant_read,
            "update_items": registry.grant_update_items,
            "read_write": registry.grant_read_write,
        }[self.access](grantee)

    def permissions(self, resources: Resources) -> Iterator[tuple[str, str]]:
        actions = {"read": READ_ACTIONS, "update_items": ("dynamodb:UpdateItem",)}.get(
            self.access, (*READ_ACTIONS, *WRITE_ACTIONS)
        )
        yield from ((action, resources.table) for action in actions)

    def wildcards(self, resources: Resources) -> Iterator[tuple[str, str]]:
        yield from ()


@dataclass(frozen=True)
class KeyUse:
    """The stack key, only through `services` (kms:ViaService), never directly."""

    actions: tuple[str, ...]
    services: tuple[str, ...]
    reason: str

    def apply(self, grantee: iam.IGrantable, context: GrantContext) -> None:
        grant_key_use(context.storage.key, grantee, self.actions, *self.services)

    def permissions(self, resources: Resources) -> Iterator[tuple[str, str]]:
        yield from ((action, resources.key) for action in self.actions)

    def wildcards(self, resources: Resources) -> Iterator[tuple[str, str]]:
        yield from ()


@dataclass(frozen=True)
class Publish:
    """sns:Publish on the stack's topic (stacks/notifications.py, with the key use)."""

    reason: str

    def apply(self, grantee: iam.IGrantable, context: GrantContext) -> None:
        context.notifications.grant_publish(grantee)

    def permissions(self, resources: Resources) -> Iterator[tuple[str, str]]:
        yield ("sns:Publish", resources.topic)

    def wildcards(self, resources: Resources) -> Iterator[tuple[str, str]]:
        yield from ()


Grant = Allow | Objects | Table | KeyUse | Publish


@dataclass(frozen=True)
class GrantContext:
    """What applying a grant needs in the stack: the constructs that grant, and the ARNs."""

    resources: Resources
    storage: Storage
    registry: Registry
    notifications: Notifications


WHY_WILDCARD: Mapping[str, str] = {
    "jobs": "customization job ARNs are assigned by Bedrock when each round starts its job",
    "custom_models": "each custom model is created by a round at run time (its ARN assigned by Bedrock)",
    "deployments": "each custom model deployment ARN is assigned by Bedrock at run time",
    "throughputs": "each provisioned throughput ARN is assigned by Bedrock at run time",
    "serving_pointers": "the serving pointers, /iterft/<stack>/serving/<name>, are every lineage's, each "
    "created by this stack",
    "evaluation_jobs": "evaluation job ARNs are assigned by Bedrock at run time",
    "managed_evaluation_dataset": "evaluations/<lineage>/<iteration>/managed-evaluation/dataset.jsonl is a "
    "new key each round (and no other key)",
    "evaluation_shards": "evaluations/<lineage>/<iteration>/shards/ is a new folder each round",
    "precomputed_answers": "evaluations/<lineage>/<iteration>/managed-evaluation/<role>-answers.jsonl are "
    "new keys each round (and no other key)",
    "evaluators": "a cross-Region inference profile of the evaluator routes to its foundation model in any "
    "Region of its geography",
    "evaluation_models": "evaluation capacity (custom model deployment, provisioned throughput) is created "
    "per round, its ARN assigned by Bedrock at run time",
    "anything": "the action takes no resource ARN",
}
"""Why a grant's resource is a pattern, by `Resources` field."""
WHY_OBJECTS: Mapping[str, str] = {
    naming.INCOMING_PREFIX: "uploads are anywhere under incoming/<lineage>/ the team put them; the key comes "
    "from the S3 event at run time",
    naming.VALIDATED_PREFIX: "validated/<lineage>/<iteration>/train.jsonl is a new key each round",
    naming.QUARANTINE_PREFIX: "quarantine/<lineage>/<iteration>/ is one new folder per round",
    naming.JOB_OUTPUT_PREFIX: "Bedrock writes under jobs/<lineage>/<iteration>/model-customization-job-<job "
    "id>/, a folder named at run time",
    naming.EVALUATION_SET_PREFIX: "evaluation-sets/<lineage>/eval.jsonl is whichever lineage's the round is",
    naming.EVALUATION_RESULTS_PREFIX: "evaluations/<lineage>/<iteration>/ holds new keys each round",
}
"""Why a grant on the data bucket's objects is a prefix, by prefix."""

_CAPACITY_KEY = KeyUse(
    ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"),
    ("bedrock",),
    "capacity serves a custom model encrypted with the stack key; Bedrock uses it on the caller's behalf",
)
DELETE_CAPACITY = Allow(
    CAPACITY_DELETE,
    CAPACITY,
    "deletes custom model deployments and provisioned throughput (ARNs Bedrock assigns at run time)",
)
"""What Promote, Discard and the reconciler delete."""
DELETE_MODELS = Allow(
    ("bedrock:DeleteCustomModel",),
    ("custom_models",),
    "deletes the lineage's custom models beyond its retention (never the champion or what serves)",
)
"""What retention and the reconciler delete."""
_PUT_POINTER = Allow(
    ("ssm:PutParameter",),
    ("serving_pointers",),
    "moves the serving pointer of whichever lineage it promotes (Clean up: after a promotion that committed)",
)

STEP_GRANTS: Mapping[str, tuple[Grant, ...]] = {
    "begin_rollback": (Table("read", "reads the lineage and the iteration rolled back to"),),
    "validate": (
        Objects(
            "copy",
            (naming.INCOMING_PREFIX, naming.VALIDATED_PREFIX, naming.QUARANTINE_PREFIX),
            "copies the upload to its validated copy, or quarantines it with its report",
        ),
        Objects("read", (naming.EVALUATION_SET_PREFIX,), "checks that the lineage's evaluation set exists"),
        Table("read", "reads which strategy produced the champion (a chain the guide documents?)"),
    ),
    "begin": (Table("read_write", "takes the lineage's iteration number and records the iteration"),),
    "collect_metrics": (
        Table("read_write", "records the training metrics on the iteration"),
        Objects("read", (naming.JOB_OUTPUT_PREFIX,), "reads the training metrics CSVs Bedrock writes"),
        Allow(("bedrock:GetModelCustomizationJob",), ("jobs",), "reads the round's customization job"),
    ),
    "plan_evaluation": (
        Table("read", "reads the champion's scores (reused for the same set version)"),
        Objects("read", (naming.EVALUATION_SET_PREFIX,), "reads the lineage's evaluation set"),
        Objects("write", (naming.EVALUATION_RESULTS_PREFIX,), "writes the round's shard list"),
    ),
    "provision_capacity": (
        Allow(
            CAPACITY_CREATE,
            (*CAPACITY, "custom_models"),
            "creates the round's evaluation capacity, naming the custom model it serves",
        ),
        Allow(("bedrock:TagResource",), CAPACITY, "tags the evaluation capacity as it creates it"),
        _CAPACITY_KEY,
    ),
    "capacity_status": (
        Allow(
            CAPACITY_GET,
            CAPACITY,
            "reads the status of the round's evaluation capacity and the lineage's serving capacity",
        ),
    ),
    "score_shard": (
        Objects("read", (naming.EVALUATION_SET_PREFIX,), "reads the lineage's evaluation set"),
        Objects("write", (naming.EVALUATION_RESULTS_PREFIX,), "writes its shard's answers"),
        Allow(
            ("bedrock:InvokeModel",),
            ("evaluation_models",),
            "invokes (bedrock:InvokeModel) the round's evaluation capacity and each starting point",
        ),
        Allow(("bedrock:InvokeModel",), ("judges",), "invokes the judge metric's models, no other"),
        KeyUse(("kms:Decrypt",), ("bedrock",), "invokes custom models encrypted with the stack key"),
    ),
    "aggregate_evaluation": (
        Table("read_write", "records the evaluation on the iteration"),
        Objects("read", (naming.EVALUATION_RESULTS_PREFIX,), "reads the round's shard answers"),
        Objects("write", (naming.EVALUATION_RESULTS_PREFIX,), "writes the round's results.jsonl"),
    ),
    "decide": (),  # pure logic over its input
    "swap_serving": (
        Allow(
            CAPACITY_CREATE,
            (*CAPACITY, "custom_models"),
            "creates the lineage's serving capacity on its first promotion",
        ),
        Allow(("bedrock:TagResource",), CAPACITY, "tags the serving capacity as it creates it"),
        _CAPACITY_KEY,
        Table("read", "reads the lineage's serving capacity"),
        Allow(
            (*CAPACITY_GET, *CAPACITY_UPDATE),
            (*CAPACITY, "custom_models"),
            "reads and updates (in place) the lineage's serving capacity to serve the new model",
        ),
    ),
    "promote": (
        Table("read_write", "moves the champion"),
        Allow(
            CAPACITY_DELETE,
            CAPACITY,
            "deletes the round's evaluation capacity once the serving capacity serves the new model",
        ),
        _PUT_POINTER,
    ),
    "release_capacity": (Allow(CAPACITY_DELETE, CAPACITY, "deletes a rejected round's evaluation capacity"),),
    "clean_up": (
        Table("read", "reads the lineage's state"),
        Table("update_items", "records the model of a job that completed while the round failed"),
        _PUT_POINTER,
        Allow(
            ("bedrock:GetModelCustomizationJob", "bedrock:StopModelCustomizationJob"),
            ("jobs",),
            "stops and reads the failed round's customization job",
        ),
        Allow(
            (*CAPACITY_GET, *CAPACITY_DELETE, *CAPACITY_UPDATE),
            (*CAPACITY, "custom_models"),
            "reads and deletes a failed round's capacity and can swap the champion back into the serving "
            "capacity",
        ),
    ),
    "retain_models": (Table("read_write", "records what retention deleted"), DELETE_MODELS),
    "finish": (
        Table("read_write", "records the outcome and releases the lineage's lock"),
        Publish("notifies the team of the round's outcome"),
    ),
    STATE_MACHINE: (
        Allow(
            ("bedrock:CreateModelCustomizationJob",),
            ("base_models", "custom_models", "jobs"),
            "Fine-tune candidate (.sync) starts from the champion (a starting point, or a custom model an "
            "earlier round created) and creates the next custom model",
        ),
        Allow(
            ("bedrock:GetModelCustomizationJob", "bedrock:StopModelCustomizationJob"),
            ("jobs",),
            "Fine-tune candidate (.sync) polls and on cancel stops the round's customization job",
        ),
        Allow(
            ("iam:PassRole",),
            ("bedrock_role",),
            "Fine-tune passes the customization role to Bedrock",
            passed_to="bedrock.amazonaws.com",
        ),
        KeyUse(("kms:Decrypt",), ("s3",), "Score shards (distributed) reads the round's shard list"),
        KeyUse(
            ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"),
            ("bedrock",),
            "the custom model is encrypted with the stack key; Bedrock uses it on the caller's behalf",
        ),
    ),
}
"""Every step's grants, in the order they are applied (a role's policy lists them in that order)."""

MANAGED_EVALUATION_GRANTS: Mapping[str, tuple[Grant, ...]] = {
    "start_managed_evaluation": (
        Objects("read", (naming.EVALUATION_SET_PREFIX,), "reads the lineage's evaluation set"),
        Allow(("s3:PutObject",), ("managed_evaluation_dataset",), "writes the round's prompt dataset"),
        Allow(
            ("s3:GetObject",), ("evaluation_shards",), "reads the round's answers, which a judged job grades"
        ),
        Allow(
            ("s3:PutObject",),
            ("precomputed_answers",),
            "writes each model's answers as a judged job's dataset (precomputed inference)",
        ),
        # IAM authorizes CreateEvaluationJob against the models a job evaluates (the Service Authorization
        # Reference lists custom-model and foundation-model, not evaluation-job): a candidate's provisioned
        # throughput counts as the custom model it serves; a starting point as itself.
        Allow(
            ("bedrock:CreateEvaluationJob",),
            ("custom_models", "managed_job_starting_points"),
            "creates evaluation jobs, which IAM authorizes against the models they evaluate: the round's "
            "candidate and the champion",
        ),
        # A judged job evaluates no Bedrock model (its answers are precomputed): IAM authorizes it against
        # the foundation model that judges.
        Allow(
            ("bedrock:CreateEvaluationJob",),
            ("evaluators",),
            "creates judged evaluation jobs, which IAM authorizes against their evaluator model",
        ),
        Allow(
            ("bedrock:TagResource",),
            ("evaluation_jobs",),
            "tags the round's evaluation jobs as it creates them",
        ),
        # The jobs encrypt their data with the stack key (customerEncryptionKeyId): Bedrock's documented
        # caller permissions, through Bedrock and S3 (it keeps a temporary copy in its own S3 location).
        KeyUse(
            ("kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"),
            ("bedrock", "s3"),
            "evaluation jobs encrypt their data with the stack key",
        ),
        Allow(
            ("iam:PassRole",),
            ("evaluation_role",),
            "passes the evaluation role to Bedrock",
            passed_to="bedrock.amazonaws.com",
        ),
    ),
    "managed_evaluation_status": (
        Allow(
            ("bedrock:GetEvaluationJob",),
            ("evaluation_jobs",),
            "reads the status of the round's evaluation jobs",
        ),
    ),
    "clean_up": (
        Allow(("bedrock:StopEvaluationJob",), ("evaluation_jobs",), "stops a failed round's evaluation jobs"),
        Allow(
            ("bedrock:ListEvaluationJobs",),
            ("anything",),
            "bedrock:ListEvaluationJobs: Clean up finds an evaluation job whose ARN never reached the state "
            "by its name",
        ),
    ),
}
"""Only in a stack where some lineage has `evaluation.managed_job`; applied after STEP_GRANTS."""


def grants_of(step: str, *, managed_jobs: bool) -> tuple[Grant, ...]:
    """`step`'s grants (naming.STEPS, or STATE_MACHINE) in this stack."""
    extra = MANAGED_EVALUATION_GRANTS.get(step, ()) if managed_jobs else ()
    return (*STEP_GRANTS.get(step, ()), *extra)


def apply(step: str, grantee: iam.IGrantable, context: GrantContext, *, managed_jobs: bool) -> None:
    """Give `grantee` (step's function, or the state machine) what the table says `step` may do."""
    for grant in grants_of(step, managed_jobs=managed_jobs):
        grant.apply(grantee, context)


def expected_permissions(step: str, resources: Resources, *, managed_jobs: bool) -> list[tuple[str, str]]:
    """(action, resource) for every permission the table gives `step`: what its role's policy allows."""
    return [
        permission
        for grant in grants_of(step, managed_jobs=managed_jobs)
        for permission in grant.permissions(resources)
    ]


def wildcard_reasons(step: str, resources: Resources, *, managed_jobs: bool) -> dict[str, str]:
    """Each wildcard resource `step` is granted (by ARN), with why: what it does there, and why a pattern
    (what its cdk-nag acknowledgment says)."""
    uses: dict[str, list[str]] = {}
    whys: dict[str, str] = {}
    for grant in grants_of(step, managed_jobs=managed_jobs):
        for arn, why in grant.wildcards(resources):
            if grant.reason not in uses.setdefault(arn, []):
                uses[arn].append(grant.reason)
            whys[arn] = why
    return {arn: f"{'; '.join(uses[arn])}: {whys[arn]}." for arn in uses}
