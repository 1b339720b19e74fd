"""The default reinforcement grader: rewards each sampled answer with the lineage's primary metric.

Bedrock's reinforcement fine-tuning job invokes it (as the customization role) with a batch of samples;
it answers one reward per sample (logic/grading.py). One function per lineage that uses it, named by
naming.grader_function_name: the function's own name says whose metric to reward with.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iterft_runtime import naming
from iterft_runtime.dal.lineages import lineage_config
from iterft_runtime.handlers import settings
from iterft_runtime.logic.grading import grade

logger = Logger()


class GraderConfigError(RuntimeError):
    """The function is not a lineage's default grader, or the lineage's metric is not a reference metric."""


def handler(event: Any, context: Any) -> list[dict[str, Any]]:
    name = naming.grader_lineage(settings.stack_name(), context.function_name)
    lineage = lineage_config(settings.lineage_parameter_prefix(), name) if name is not None else None
    if lineage is None:
        raise GraderConfigError(f"{context.function_name} is not the default grader of a configured lineage")
    samples = event if isinstance(event, list) else [event]
    rewards = grade(samples, lineage.evaluation.metric)
    logger.info("graded", extra={"lineage": lineage.name, "samples": len(rewards)})
    return rewards
