"""`iterft doctor`'s checks of what the deployment did and receives: subscriptions, invocation logging,
each lineage's last round, the functions' recent errors."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from iterft_runtime import naming

from iterft import target
from iterft.doctor_checks import FAILED, PASSED, SKIPPED, Check, Context, guarded, permission_fix

LAMBDA_ERROR_WINDOW = timedelta(hours=24)
ENDED_BADLY = {"FAILED", "TIMED_OUT", "ABORTED"}
_EXECUTION = re.compile(r"^(?P<lineage>.+?)-it\d{4,}-")


def subscriptions(deployment: target.Deployment) -> Check:
    name = "notifications"

    def probe() -> Check:
        pages = (
            deployment.client("sns")
            .get_paginator("list_subscriptions_by_topic")
            .paginate(TopicArn=deployment.topic_arn)
        )
        subscriptions = [item for page in pages for item in page["Subscriptions"]]
        pending = [
            item["Endpoint"] for item in subscriptions if item["SubscriptionArn"] == "PendingConfirmation"
        ]
        if not subscriptions:
            fix = "add notifications.emails to the config and redeploy, or subscribe to the stack's TopicArn"
            return Check(name, FAILED, "nobody is subscribed: failed rounds would go unnoticed", fix)
        if pending:
            fix = "open the confirmation e-mail AWS sent and click its link (or subscribe again)"
            return Check(name, FAILED, f"not confirmed: {', '.join(pending)}", fix)
        endpoints = ", ".join(f"{item['Protocol']} {item['Endpoint']}" for item in subscriptions)
        return Check(name, PASSED, f"confirmed: {endpoints}")

    return guarded(name, probe)


def invocation_logging(context: Context) -> Check:
    """The region's Bedrock model invocation logging (an account-and-region setting) against what the
    stack was deployed with: where curation reads (its InvocationLogsDestination output) and how
    (`enable_if_absent`: the stack enabled logging into its data bucket only if the region had none)."""
    from iterft_runtime.dal.invocation_logging import destination

    name = "invocation logging"

    def probe() -> Check:
        outputs = stack_outputs(context)
        expected, mode = (
            outputs.get(naming.LOGS_DESTINATION_OUTPUT),
            outputs.get(naming.LOGS_MODE_OUTPUT),
        )
        config = dict(
            context.client("bedrock").get_model_invocation_logging_configuration().get("loggingConfig") or {}
        )
        found = destination(config)
        where = f"the region logs to {found}" if found else "the region has no S3 invocation logging"
        if expected is None:
            return Check(name, SKIPPED, f"the stack reads no live traffic (no invocation_logs); {where}")
        named = mode != "enable_if_absent"
        source = "as the config names it" if named else "enabled by this stack (enable_if_absent)"
        if found is None:
            fix = (
                f"turn logging on to {expected} (Bedrock console, Settings) or set invocation_logs."
                "enable_if_absent: true"
                if named
                else "it was turned off after the deploy: deploy again (the stack enables it when absent)"
            )
            return Check(name, FAILED, f"{where}: curation reads {expected}, where nothing arrives", fix)
        if found.rstrip("/") != expected.rstrip("/"):
            detail = f"{where}, curation reads {expected}"
            if not named:
                detail += " (the stack enables logging only where none is set: it never overwrites one)"
            fix = f"set invocation_logs.s3_uri: {found} (and kms_key_arn if encrypted) and deploy"
            return Check(name, FAILED, detail, fix)
        if not config.get("textDataDeliveryEnabled", False):
            fix = "enable text data delivery in the logging configuration: prompts are logged only then"
            return Check(name, FAILED, f"{where} {source}, but text data delivery is off", fix)
        return Check(name, PASSED, f"{where}, {source}, text data delivered")

    return guarded(name, probe)


def stack_outputs(context: Context) -> dict[str, str]:
    stack = context.client("cloudformation").describe_stacks(StackName=context.stack_name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def last_rounds(deployment: target.Deployment, lineages: Sequence[str]) -> list[Check]:
    """Per lineage, its newest execution that ended: failed, timed out or aborted is a failed check with
    the execution's error and cause."""
    states = deployment.client("stepfunctions")
    latest: dict[str, dict[str, Any]] = {}
    try:
        pages = states.get_paginator("list_executions").paginate(stateMachineArn=deployment.state_machine_arn)
        for execution in (item for page in pages for item in page["executions"]):
            match = _EXECUTION.match(execution["name"])
            if execution["status"] == "RUNNING" or not match or match["lineage"] not in lineages:
                continue
            seen = latest.get(match["lineage"])
            if seen is None or execution["startDate"] > seen["startDate"]:
                latest[match["lineage"]] = execution
    except (BotoCoreError, ClientError) as error:
        return [Check("last rounds", FAILED, target.describe_aws_error(error), permission_fix(error))]
    checks = []
    for lineage in lineages:
        name = f"{lineage}: last round"
        execution = latest.get(lineage)
        if execution is None:
            checks.append(Check(name, PASSED, "no round has ended yet"))
        elif execution["status"] in ENDED_BADLY:
            described = states.describe_execution(executionArn=execution["executionArn"])
            cause = f"{described.get('error', '')}: {described.get('cause', '')}".strip(": ")
            checks.append(
                Check(
                    name,
                    FAILED,
                    f"{execution['name']} {execution['status']}: {_shorten(cause or 'no cause recorded')}",
                    f"iterft history {lineage} (the reason); fix the cause, then upload again",
                )
            )
        else:
            checks.append(Check(name, PASSED, f"{execution['name']} {execution['status']}"))
    return checks


def lambda_errors(context: Context) -> Check:
    name = f"Lambda errors (last {LAMBDA_ERROR_WINDOW.total_seconds() / 3600:g} h)"

    def probe() -> Check:
        pages = (
            context.client("cloudformation")
            .get_paginator("list_stack_resources")
            .paginate(StackName=context.stack_name)
        )
        functions = [
            item["PhysicalResourceId"]
            for page in pages
            for item in page["StackResourceSummaries"]
            if item["ResourceType"] == "AWS::Lambda::Function"
        ]
        cloudwatch, errors = context.client("cloudwatch"), {}
        for function in functions:
            points = cloudwatch.get_metric_statistics(
                Namespace="AWS/Lambda",
                MetricName="Errors",
                Dimensions=[{"Name": "FunctionName", "Value": function}],
                StartTime=context.now - LAMBDA_ERROR_WINDOW,
                EndTime=context.now,
                Period=int(LAMBDA_ERROR_WINDOW.total_seconds()),
                Statistics=["Sum"],
            )["Datapoints"]
            count = int(sum(point["Sum"] for point in points))
            if count:
                errors[function] = count
        if errors:
            listed = ", ".join(f"{function} {count}" for function, count in sorted(errors.items()))
            fix = "read the log groups /aws/lambda/<function> for the tracebacks"
            return Check(name, FAILED, listed, fix)
        return Check(name, PASSED, f"none in {len(functions)} functions")

    return guarded(name, probe)


def _shorten(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
