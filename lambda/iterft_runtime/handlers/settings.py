"""The functions' environment, read at call time (the emulator sets it after importing handlers).

Variable names come from naming.py, the one place the stack and the runtime agree on them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from iterft_runtime import naming
from iterft_runtime.logic.dispatch import timestamp


class MissingSettingError(RuntimeError):
    """A required environment variable is not set on this function."""


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise MissingSettingError(f"environment variable {name} is not set")
    return value


def table_name() -> str:
    return _required(naming.ENV_TABLE)


def bucket_name() -> str:
    return _required(naming.ENV_BUCKET)


def topic_arn() -> str:
    return _required(naming.ENV_TOPIC_ARN)


def state_machine_arn() -> str:
    return _required(naming.ENV_STATE_MACHINE_ARN)


def lineage_parameter_prefix() -> str:
    return _required(naming.ENV_LINEAGE_PARAMETER_PREFIX)


def now() -> str:
    """The current UTC time in the registry's sortable timestamp form."""
    return timestamp(datetime.now(UTC))


def region() -> str:
    """The function's region (Lambda sets AWS_REGION; so does the embedded default)."""
    return _required("AWS_REGION")


def stack_name() -> str:
    return _required(naming.ENV_STACK_NAME)


def serving_parameter_prefix() -> str:
    return _required(naming.ENV_SERVING_PARAMETER_PREFIX)


def serving_parameter(lineage: str) -> str:
    """The lineage's serving pointer (the stack creates one per lineage under this prefix)."""
    return f"{serving_parameter_prefix()}{lineage}"


def evaluation_role_arn() -> str:
    """The role Bedrock's evaluation jobs run as (set only on the function that starts them)."""
    return _required(naming.ENV_EVALUATION_ROLE_ARN)


def key_arn() -> str:
    """The stack's KMS key (set only on the function that starts evaluation jobs, which encrypt with it)."""
    return _required(naming.ENV_KEY_ARN)


def trigger_queue_url() -> str:
    """The upload queue (set on the reconciler, which sends it dispatch requests)."""
    return _required(naming.ENV_TRIGGER_QUEUE_URL)


def default_grader_arn(lineage: str, invoked_function_arn: str) -> str:
    """The ARN of `lineage`'s default grader, in this function's partition, region and account (read
    from `invoked_function_arn`, the context's ARN of the function running)."""
    _, partition, _, region_name, account = invoked_function_arn.split(":")[:5]
    name = naming.grader_function_name(stack_name(), lineage)
    return f"arn:{partition}:lambda:{region_name}:{account}:function:{name}"


def curated_lineages() -> list[str]:
    """The lineages the curate function curates (those with `traffic`): it may read only their configs."""
    return [name for name in os.environ.get(naming.ENV_CURATED_LINEAGES, "").split(",") if name]


def invocation_log_location() -> tuple[str, str]:
    """(bucket, key prefix of this region's logs) the curate function reads."""
    return _required(naming.ENV_LOG_BUCKET), _required(naming.ENV_LOG_ROOT)
