"""Every derived name in one place: S3 prefixes, Bedrock resource names, registry keys.

Stacks, handlers, the emulator and the CLI import these; nothing else builds a key by hand.
"""

from __future__ import annotations

import hashlib
import re

INCOMING_PREFIX = "incoming/"
VALIDATED_PREFIX = "validated/"
QUARANTINE_PREFIX = "quarantine/"
JOB_OUTPUT_PREFIX = "jobs/"
EVALUATION_SET_PREFIX = "evaluation-sets/"
EVALUATION_RESULTS_PREFIX = "evaluations/"
FEEDBACK_REPORT_PREFIX = "feedback-reports/"
"""Where the trigger records its check of each feedback file that arrives (feedback_report_key)."""
DATASET_SUFFIX = ".jsonl"

STATE_SK = "STATE"
ITERATION_SK_PREFIX = "ITER#"
QUEUE_SK_PREFIX = "QUEUE#"
UPLOAD_SK_PREFIX = "UPLOAD#"
REPAIR_SK_PREFIX = "REPAIR#"
RECONCILE_SK = "RECONCILE"
"""The reconciler's watermark item: the newest iteration it swept Bedrock for (with every earlier one)."""
RECONCILE_RANGE = (ITERATION_SK_PREFIX, STATE_SK)
"""One Query `sk BETWEEN` these reads what the reconciler needs of a lineage: ITER#, QUEUE#, RECONCILE,
REPAIR# and STATE (not the upload ledger, which only grows)."""


def lineage_pk(lineage: str) -> str:
    return f"LINEAGE#{lineage}"


def iteration_sk(iteration: int) -> str:
    return f"{ITERATION_SK_PREFIX}{iteration:06d}"


def queue_sk(uploaded_at: str, key: str, version_id: str) -> str:
    """Sorts queued uploads by upload time, then key, so they run in upload order."""
    return f"{QUEUE_SK_PREFIX}{uploaded_at}#{key}#{version_id}"


def upload_sk(key: str, version_id: str) -> str:
    return f"{UPLOAD_SK_PREFIX}{key}#{version_id}"


def repair_sk(at: str, sequence: int) -> str:
    """A repair the reconciler made (or found to make), sorted by when."""
    return f"{REPAIR_SK_PREFIX}{at}#{sequence:04d}"


def incoming_prefix(lineage: str) -> str:
    return f"{INCOMING_PREFIX}{lineage}/"


def lineage_of_incoming_key(key: str) -> str | None:
    """`incoming/<lineage>/<file>` -> `<lineage>`, a folder marker `incoming/<lineage>/` included (the
    trigger records it for the lineage); None for keys outside that shape."""
    if not key.startswith(INCOMING_PREFIX):
        return None
    parts = key[len(INCOMING_PREFIX) :].split("/")
    return parts[0] if len(parts) >= 2 and parts[0] else None


def feedback_report_key(feedback_key: str) -> str:
    """`feedback/<lineage>/<name>` -> `feedback-reports/<lineage>/<name>.report.json` (outside feedback/,
    so that writing it is no feedback file arriving)."""
    return f"{FEEDBACK_REPORT_PREFIX}{feedback_key.split('/', 1)[1]}.report.json"


def _iteration_dir(prefix: str, lineage: str, iteration: int) -> str:
    return f"{prefix}{lineage}/{iteration:06d}/"


def validated_key(lineage: str, iteration: int) -> str:
    return f"{_iteration_dir(VALIDATED_PREFIX, lineage, iteration)}train.jsonl"


def validated_report_key(lineage: str, iteration: int) -> str:
    """A valid upload's validation report, written when it has findings to keep (the leakage check's)."""
    return f"{_iteration_dir(VALIDATED_PREFIX, lineage, iteration)}validation-report.json"


def quarantine_key(lineage: str, iteration: int, source_key: str) -> str:
    return f"{_iteration_dir(QUARANTINE_PREFIX, lineage, iteration)}{source_key.rsplit('/', 1)[-1]}"


def validation_report_key(lineage: str, iteration: int) -> str:
    return f"{_iteration_dir(QUARANTINE_PREFIX, lineage, iteration)}validation-report.json"


def job_output_prefix(lineage: str, iteration: int) -> str:
    return _iteration_dir(JOB_OUTPUT_PREFIX, lineage, iteration)


def job_training_metrics_key(output_prefix: str, job_id: str) -> str:
    """Where Bedrock writes a job's step-wise training metrics under its output location."""
    return (
        f"{output_prefix}model-customization-job-{job_id}/training_artifacts/step_wise_training_metrics.csv"
    )


def job_validation_metrics_key(output_prefix: str, job_id: str) -> str:
    """Where Bedrock writes a job's validation metrics (only when validation data was given)."""
    return (
        f"{output_prefix}model-customization-job-{job_id}/validation_artifacts/"
        "post_fine_tuning_validation/validation/validation_metrics.csv"
    )


def evaluation_set_key(lineage: str) -> str:
    return f"{EVALUATION_SET_PREFIX}{lineage}/eval.jsonl"


def evaluation_results_key(lineage: str, iteration: int) -> str:
    return f"{_iteration_dir(EVALUATION_RESULTS_PREFIX, lineage, iteration)}results.jsonl"


def evaluation_metrics_key(lineage: str, iteration: int) -> str:
    """Aggregate evaluation's every metric of both models, per category too (the state carries a summary)."""
    return f"{_iteration_dir(EVALUATION_RESULTS_PREFIX, lineage, iteration)}metrics.json"


def record_scores_key(lineage: str, model_iteration: int, eval_set_version: str) -> str:
    """One model's every per-record score on one set version (Aggregate evaluation writes it): the model
    of iteration `model_iteration` (0: the lineage's starting point), whether it answered as a round's
    candidate or as the champion. What the gate pairs with the other model's, and what a reused
    champion's per-record scores are."""
    directory = _iteration_dir(EVALUATION_RESULTS_PREFIX, lineage, model_iteration)
    return f"{directory}record-scores/{eval_set_version}.json"


def evaluation_shard_key(lineage: str, iteration: int, shard: int) -> str:
    """One Map iteration's answers (Score shard), read back by Aggregate evaluation."""
    return f"{_iteration_dir(EVALUATION_RESULTS_PREFIX, lineage, iteration)}shards/{shard:05d}.jsonl"


SHARD_LIST_NAME = "shard-list.json"


def evaluation_shard_list_key(lineage: str, iteration: int) -> str:
    """Plan evaluation's full shard list (a JSON array): what the Distributed Map reads its items from."""
    return f"{_iteration_dir(EVALUATION_RESULTS_PREFIX, lineage, iteration)}{SHARD_LIST_NAME}"


MANAGED_EVALUATION_DIR = "managed-evaluation/"


def managed_evaluation_dataset_key(lineage: str, iteration: int) -> str:
    """The prompt dataset a round's Bedrock evaluation job reads: the planned set version, in its shape."""
    return f"{_managed_evaluation_dir(lineage, iteration)}dataset.jsonl"


PRECOMPUTED_ANSWERS_SUFFIX = "-answers.jsonl"


def precomputed_answers_key(lineage: str, iteration: int, role: str) -> str:
    """The dataset a round's judged evaluation job reads: the set with `role`'s answers (candidate,
    champion), one job and one `modelIdentifier` each."""
    return f"{_managed_evaluation_dir(lineage, iteration)}{role}{PRECOMPUTED_ANSWERS_SUFFIX}"


def _managed_evaluation_dir(lineage: str, iteration: int) -> str:
    return f"{_iteration_dir(EVALUATION_RESULTS_PREFIX, lineage, iteration)}{MANAGED_EVALUATION_DIR}"


def managed_evaluation_output_prefix(lineage: str, iteration: int) -> str:
    """Where a round's Bedrock evaluation job writes (under `<job name>/<job id>/models/...`)."""
    return f"{_managed_evaluation_dir(lineage, iteration)}output/"


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def dataset_fingerprint(key: str, version_id: str) -> str:
    return short_hash(f"{key}#{version_id}")


def job_name(lineage: str, iteration: int, fingerprint: str) -> str:
    """Deterministic per upload, so a retried submission is recognised (Fine-tune passes it as the
    ClientRequestToken too: alphanumerics and hyphens fit that pattern); <= 63 chars."""
    return f"iterft-{lineage}-it{iteration:04d}-{fingerprint}"


def custom_model_name(lineage: str, iteration: int, fingerprint: str) -> str:
    return f"{lineage}-it{iteration:04d}-{fingerprint}"


def evaluation_capacity_name(lineage: str, iteration: int, fingerprint: str, role: str) -> str:
    """The deployment or provisioned throughput a round creates so `role` (candidate | champion) can
    answer the evaluation set; deterministic, so Clean up finds it even when its ARN was never seen."""
    suffix = "eval" if role == "candidate" else f"{role}-eval"
    return f"{lineage}-it{iteration:04d}-{fingerprint}-{suffix}"


def evaluation_job_name(lineage: str, iteration: int, fingerprint: str, role: str) -> str:
    """The round's Bedrock evaluation job of `role` (candidate | champion: an automated job evaluates one
    model); lowercase, <= 63 chars, as Bedrock requires. Deterministic, so it doubles as the client
    request token and Clean up finds the job when its ARN was never seen."""
    suffix = "eval" if role == "candidate" else f"{role}-eval"
    return f"iterft-{lineage}-it{iteration:04d}-{fingerprint}-{suffix}"


def serving_capacity_name(lineage: str, iteration: int, stack_name: str) -> str:
    """The lineage's serving capacity, named after the promotion that created it (later ones update it)
    and after its stack: capacity names are unique per account and region, and two stacks there (dev
    and prod, say) may each have a lineage of the same name. (The round's other names carry the
    upload's fingerprint, unique already.)"""
    return f"{lineage}-serving-it{iteration:04d}-{short_hash(stack_name, 6)}"


_ROUND_NAME = r"-it(?P<iteration>\d{4,})-(?P<fingerprint>[0-9a-f]{8})"


def parse_round_resource(name: str, lineage: str) -> tuple[int, str, str] | None:
    """A custom model (`custom_model_name`) or evaluation capacity (`evaluation_capacity_name`) of the
    lineage -> (iteration, upload fingerprint, suffix: "" | "eval" | "champion-eval"); None otherwise."""
    found = re.fullmatch(re.escape(lineage) + _ROUND_NAME + r"(?:-(?P<suffix>eval|champion-eval))?", name)
    if found is None:
        return None
    return int(found["iteration"]), found["fingerprint"], found["suffix"] or ""


def parse_serving_capacity_name(name: str, lineage: str, stack_name: str) -> int | None:
    """The iteration in a serving capacity's name (`serving_capacity_name`) of this lineage and stack."""
    found = re.fullmatch(
        re.escape(lineage) + r"-serving-it(\d{4,})-" + re.escape(short_hash(stack_name, 6)), name
    )
    return int(found[1]) if found else None


def execution_name(lineage: str, iteration: int, fingerprint: str) -> str:
    return f"{lineage}-it{iteration:04d}-{fingerprint}"


def rollback_execution_name(lineage: str, iteration: int, to_iteration: int) -> str:
    return f"{lineage}-it{iteration:04d}-rollback-to-{to_iteration:04d}"


def lineage_parameter_name(stack_name: str, lineage: str) -> str:
    """SSM parameter holding a lineage's config as JSON, read by the trigger at dispatch."""
    return f"/iterft/{stack_name}/lineages/{lineage}"


def lineage_parameter_prefix(stack_name: str) -> str:
    return f"/iterft/{stack_name}/lineages/"


def serving_parameter_name(stack_name: str, lineage: str) -> str:
    """SSM parameter applications read the lineage's serving model identifier from (the stable pointer)."""
    return f"{serving_parameter_prefix(stack_name)}{lineage}"


def serving_parameter_prefix(stack_name: str) -> str:
    return f"/iterft/{stack_name}/serving/"


METRICS_NAMESPACE = "iterft"
"""CloudWatch namespace of the rounds' custom metrics (POWERTOOLS_METRICS_NAMESPACE of every function)."""
METRIC_LINEAGE_DIMENSION = "lineage"
"""Every custom metric has the dimensions `service` (POWERTOOLS_SERVICE) and this one, the lineage."""
METRIC_TRAINING_DURATION = "TrainingDuration"
METRIC_CANDIDATE_SCORE = "CandidateScore"
METRIC_CHAMPION_SCORE = "ChampionScore"
METRIC_IMPROVEMENT = "ScoreImprovement"


def rounds_metric(decision: str) -> str:
    """The count of rounds that ended with `decision`: `promoted` -> `RoundsPromoted`."""
    return "Rounds" + "".join(part.capitalize() for part in decision.split("_"))


# Environment variables of the Lambda functions. A name has the same value in every
# function of a stack (the embedded default sets them once for all in-process handlers).
ENV_TABLE = "ITERFT_TABLE"
ENV_BUCKET = "ITERFT_BUCKET"
ENV_TOPIC_ARN = "ITERFT_TOPIC_ARN"
ENV_STATE_MACHINE_ARN = "ITERFT_STATE_MACHINE_ARN"
ENV_LINEAGE_PARAMETER_PREFIX = "ITERFT_LINEAGE_PARAMETER_PREFIX"
ENV_SERVING_PARAMETER_PREFIX = "ITERFT_SERVING_PARAMETER_PREFIX"
ENV_STACK_NAME = "ITERFT_STACK_NAME"
ENV_EVALUATION_ROLE_ARN = "ITERFT_EVALUATION_ROLE_ARN"
"""The service role Bedrock's evaluation jobs run as (only with a lineage's `evaluation.managed_job`)."""
ENV_KEY_ARN = "ITERFT_KEY_ARN"
"""The stack's KMS key: what a Bedrock evaluation job encrypts its results with."""
ENV_TRIGGER_QUEUE_URL = "ITERFT_TRIGGER_QUEUE_URL"
ENV_LOG_BUCKET = "ITERFT_INVOCATION_LOG_BUCKET"
"""The curate function's invocation-log bucket and the key prefix of the stack's region under it
(`<keyPrefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/`)."""
ENV_LOG_ROOT = "ITERFT_INVOCATION_LOG_ROOT"
ENV_CURATED_LINEAGES = "ITERFT_CURATED_LINEAGES"
"""The lineages with `traffic` settings, comma-separated: the only ones the curate function may read."""
"""The upload queue: where the reconciler sends a lineage's dispatch request after releasing its lock."""
GRADER = "grade"
"""The default reinforcement grader's handler (`iterft_runtime.handlers.grade`): one function per lineage
that uses it, named by `grader_function_name`, not a step of the round workflow."""
GRADER_NAME_SUFFIX = "-grader-"
MAX_FUNCTION_NAME = 64


def grader_function_name(stack_name: str, lineage: str) -> str:
    """The default grader function of `lineage`: named, so the grader knows its lineage from its own name
    and Begin the ARN it sends as rftConfig's grader, without a reference either way."""
    return f"{stack_name}{GRADER_NAME_SUFFIX}{lineage}"


def grader_lineage(stack_name: str, function_name: str) -> str | None:
    """The lineage whose default grader `function_name` is (None: not one of this stack's graders)."""
    prefix = f"{stack_name}{GRADER_NAME_SUFFIX}"
    return function_name[len(prefix) :] if function_name.startswith(prefix) else None


POWERTOOLS_SERVICE = "iterft"
HANDLER_MODULE = "iterft_runtime.handlers.{step}"
"""Each function's handler is `iterft_runtime.handlers.<step>.handler`."""
STACK_RESOURCES = "stack_resources"
"""The function behind the stack's custom resources (serving pointers, throwaway teardown): not a step."""
MANAGED_EVALUATION_STEPS = ("start_managed_evaluation", "managed_evaluation_status")
"""Steps a stack has only when a lineage sets `evaluation.managed_job`."""
OUTSIDE_WORKFLOW_STEPS = ("trigger", "reconcile", "curate")
"""Functions that are not states of the round workflow: the trigger and the scheduled reconciler."""
STEPS = (
    "trigger",
    "reconcile",
    "curate",
    "begin_rollback",
    "validate",
    "begin",
    "collect_metrics",
    "plan_evaluation",
    "provision_capacity",
    "capacity_status",
    "score_shard",
    "start_managed_evaluation",
    "managed_evaluation_status",
    "aggregate_evaluation",
    "decide",
    "swap_serving",
    "promote",
    "release_capacity",
    "clean_up",
    "retain_models",
    "finish",
)


SERVING_POINTER_RESOURCE = "Custom::ServingPointer"
"""The custom resource that creates a lineage's serving pointer once (stacks/serving.py; handled by
handlers/stack_resources.py)."""
DATA_TEARDOWN_RESOURCE = "Custom::DataTeardown"
INVOCATION_LOGGING_RESOURCE = "Custom::InvocationLogging"
"""Enables Bedrock model invocation logging to the stack's data bucket only when the region has none."""
INVOCATION_LOG_KEY_PREFIX = "invocation-logs"
LOGS_DESTINATION_OUTPUT = "InvocationLogsDestination"
"""Where curation reads the logs, `s3://bucket/prefix/` as the logging configuration's destination reads
(dal/invocation_logging.destination): what `iterft doctor` compares with the region's configuration."""
LOGS_MODE_OUTPUT = "InvocationLogsMode"
"""`enable_if_absent` (the stack enables logging into its data bucket when the region has none) or
`named` (the config's `invocation_logs.s3_uri`)."""
"""The logging configuration's keyPrefix when the stack enables logging (into the data bucket)."""
"""A throwaway stack's custom resource emptying its buckets and capacity when the stack is deleted."""
