"""`iterft doctor`: a preflight of an account and a deployment, one line per check.

Run before the first upload and whenever a round fails for a reason outside its data. Every call is a
read (`DOCTOR_ACTIONS` lists the IAM actions); nothing is created or changed. A failed check says what to
do; a skipped one says why it did not apply. The embedded default answers every call (model access and
Bedrock quotas from `iterft/local/account_standin.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from iterft_runtime import naming
from iterft_runtime.dal.registry import Registry
from iterft_runtime.logic.evaluation import EvaluationSet, EvaluationSetError, parse_evaluation_set
from iterft_runtime.logic.managed_evaluation import ManagedEvaluationError, check_prompt_count
from iterft_runtime.logic.paired import power_warning, spread, yardstick_power
from iterft_runtime.logic.serving import serving_capacity_kind
from iterft_runtime.models import capabilities
from iterft_runtime.models.capacity import CapacityKind
from iterft_runtime.models.lineage import Commitment, LineageConfig, ServingMode
from pydantic import ValidationError

from iterft import target
from iterft.doctor_activity import invocation_logging, lambda_errors, last_rounds, subscriptions
from iterft.doctor_checks import FAILED, PASSED, SKIPPED, WARNING, Check, Context, guarded, permission_fix
from iterft.history import lineage_names, retired_line
from stacks.version import OUTPUT_NAME as VERSION_OUTPUT
from stacks.version import code_version

DEFAULT_QUALIFIER = "hnb659fds"
MIN_BOOTSTRAP_VERSION = 6
"""The lowest bootstrap version a CDK v2 template's `CheckBootstrapVersion` rule accepts."""
HEALTHY_STACK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
SCHEDULED_JOBS_QUOTA = ("L-0406044C", "(Model customization) Scheduled customization jobs")
NO_COMMITMENT_UNITS_QUOTA = (
    "L-BE77399C",
    "Model units no-commitment Provisioned Throughputs across custom models",
)
"""naming.execution_name / rollback_execution_name: `<lineage>-it<NNNN>-...`."""

DOCTOR_ACTIONS = (
    "sts:GetCallerIdentity",
    "dynamodb:GetItem",
    "ssm:GetParameter",
    "ssm:GetParametersByPath",
    "cloudformation:DescribeStacks",
    "cloudformation:ListStackResources",
    "bedrock:GetFoundationModelAvailability",
    "bedrock:GetModelInvocationLoggingConfiguration",
    "servicequotas:GetServiceQuota",
    "s3:GetObject",
    "kms:Decrypt",
    "sns:ListSubscriptionsByTopic",
    "states:ListExecutions",
    "states:DescribeExecution",
    "cloudwatch:GetMetricStatistics",
)
"""Every IAM action `iterft doctor` uses: all reads (the README lists them)."""


def diagnose(
    stack_name: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    lineages: Sequence[str] = (),
    now: datetime | None = None,
) -> list[Check]:
    """Every check, in order; `lineages` limits the per-lineage ones (default: every lineage deployed)."""
    region = region or boto3.session.Session().region_name
    if not region:
        return [
            Check(
                "credentials and region",
                FAILED,
                "no AWS region configured",
                "pass --region or set AWS_REGION",
            )
        ]
    context = Context(stack_name, region, endpoint_url, now or datetime.now(UTC))
    checks = [_credentials(context)]
    if checks[0].status == FAILED:
        return [*checks, Check("everything else", SKIPPED, "needs working credentials")]
    checks.append(_bootstrap(context))
    stack_check, deployment = _stack(context)
    checks.append(stack_check)
    if deployment is None:
        return [*checks, Check("lineages", SKIPPED, "needs the deployed stack")]
    configs = _lineage_configs(deployment, lineages, checks)
    for config in configs:
        evaluation_set, parsed = _evaluation_set(deployment, config)
        checks += [_model(context, config), _model_access(context, config), evaluation_set]
        if parsed is not None:
            checks.append(_yardstick_power(deployment, config, parsed))
    checks += _pointers(deployment, configs, every_lineage=not lineages)
    checks += _quotas(context, configs)
    checks.append(subscriptions(deployment))
    checks.append(invocation_logging(context))
    checks += last_rounds(deployment, [config.name for config in configs])
    checks.append(lambda_errors(context))
    return checks


def _credentials(context: Context) -> Check:
    def probe() -> Check:
        identity = context.client("sts").get_caller_identity()
        context.account = str(identity["Account"])
        return Check(
            "credentials and region",
            PASSED,
            f"{identity['Arn']} in account {context.account}, {context.region}",
        )

    check = guarded("credentials and region", probe)
    if check.status == FAILED and not check.fix:
        return Check(check.name, FAILED, check.detail, "set AWS_PROFILE or run `aws sso login`, and --region")
    return check


def bootstrap_qualifier(cdk_json: Path = Path("cdk.json")) -> str:
    """The CDK bootstrap qualifier the app synthesizes for (cdk.json's context, else CDK's default)."""
    try:
        context = json.loads(cdk_json.read_text()).get("context", {})
    except (OSError, ValueError):
        return DEFAULT_QUALIFIER
    return str(context.get("@aws-cdk/core:bootstrapQualifier", DEFAULT_QUALIFIER))


def _bootstrap(context: Context) -> Check:
    name = f"/cdk-bootstrap/{bootstrap_qualifier()}/version"
    fix = f"npx cdk bootstrap aws://{context.account}/{context.region}"

    def probe() -> Check:
        ssm = context.client("ssm")
        try:
            value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            return Check(
                "CDK bootstrap", FAILED, f"no parameter {name}: the account is not bootstrapped", fix
            )
        if not value.isdigit() or int(value) < MIN_BOOTSTRAP_VERSION:
            return Check(
                "CDK bootstrap", FAILED, f"version {value}, the app needs {MIN_BOOTSTRAP_VERSION}+", fix
            )
        return Check("CDK bootstrap", PASSED, f"version {value} ({name})")

    return guarded("CDK bootstrap", probe)


def _stack(context: Context) -> tuple[Check, target.Deployment | None]:
    name = f"stack {context.stack_name}"
    deploy = f"make deploy ENV={context.stack_name.removeprefix('iterft-')}"
    try:
        stacks = context.client("cloudformation").describe_stacks(StackName=context.stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in error.response.get("Error", {}).get("Message", ""):
            return Check(name, FAILED, f"not deployed in {context.region}", deploy), None
        return Check(name, FAILED, target.describe_aws_error(error), permission_fix(error)), None
    stack = stacks[0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    status, deployed, local = stack["StackStatus"], outputs.get(VERSION_OUTPUT), code_version()
    try:
        deployment = target.resolve(context.stack_name, context.region, context.endpoint_url)
    except target.TargetError as error:
        return Check(name, FAILED, str(error), deploy), None
    if status not in HEALTHY_STACK:
        return Check(
            name, FAILED, f"status {status}", f"see its events in CloudFormation, then {deploy}"
        ), deployment
    if deployed != local:
        found = (
            f"deployed from code {deployed}" if deployed else f"records no {VERSION_OUTPUT} (older iterft)"
        )
        return Check(name, FAILED, f"{found}; this checkout is {local}", deploy), deployment
    return Check(name, PASSED, f"{status}, code {local}"), deployment


def _lineage_configs(
    deployment: target.Deployment, wanted: Sequence[str], checks: list[Check]
) -> list[LineageConfig]:
    """The deployed configs of the lineages to check; an unknown or unreadable one is a failed check."""
    known = lineage_names(deployment)
    configs = []
    for lineage in wanted or known:
        if lineage not in known:
            checks.append(
                Check(f"{lineage}: config", FAILED, f"not in the stack (lineages: {', '.join(known)})")
            )
            continue
        parameter = naming.lineage_parameter_prefix(deployment.stack_name) + lineage
        value = deployment.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
        try:
            configs.append(LineageConfig.model_validate_json(value))
        except ValidationError as error:
            first = error.errors()[0]
            checks.append(
                Check(
                    f"{lineage}: config",
                    FAILED,
                    f"the deployed config does not parse with this code: {first['msg']}",
                    "fix the config and redeploy",
                )
            )
    return configs


def _model(context: Context, config: LineageConfig) -> Check:
    name = f"{config.name}: base model"
    row = config.model_capabilities()
    if row is None:
        return Check(name, SKIPPED, f"{config.base_model} names no foundation model (a custom model ARN)")
    verdict = capabilities.check_use(
        row,
        context.region,
        context.now.date(),
        serving=serving_capacity_kind(config.serving.mode),
        managed_job=config.evaluation.managed_job is not None,
    )
    if verdict.problems:
        return Check(
            name, FAILED, "; ".join(verdict.problems), "change base_model or region (docs/capabilities.md)"
        )
    evaluation = row.evaluation_capacity(context.region)
    detail = f"{row.model_id} in {context.region}, evaluated on {evaluation}"
    return Check(name, PASSED, "; ".join([detail, *verdict.warnings]))


def _model_access(context: Context, config: LineageConfig) -> Check:
    name = f"{config.name}: model access"
    row = config.model_capabilities()
    if row is None:
        return Check(name, SKIPPED, "the base model is a custom model: access was granted to make it")

    def probe() -> Check:
        found = context.client("bedrock").get_foundation_model_availability(modelId=row.inference_id)
        agreement = found.get("agreementAvailability", {}).get("status", "")
        wrong = [
            f"{key} {found.get(key)}"
            for key, good in (
                ("authorizationStatus", "AUTHORIZED"),
                ("entitlementAvailability", "AVAILABLE"),
                ("regionAvailability", "AVAILABLE"),
            )
            if found.get(key) != good
        ] + ([f"agreement {agreement}"] if agreement in ("PENDING", "ERROR") else [])
        if wrong:
            fix = "request access in the Bedrock console (Model access) for this account and region"
            return Check(name, FAILED, f"{row.inference_id}: {', '.join(wrong)}", fix)
        return Check(name, PASSED, f"{row.inference_id} authorized")

    return guarded(name, probe)


def _evaluation_set(
    deployment: target.Deployment, config: LineageConfig
) -> tuple[Check, EvaluationSet | None]:
    """The lineage's evaluation set is there and usable; the parsed set when it is."""
    name = f"{config.name}: evaluation set"
    key = naming.evaluation_set_key(config.name)
    uri = f"s3://{deployment.bucket_name}/{key}"
    parsed: list[EvaluationSet] = []

    def probe() -> Check:
        s3 = deployment.client("s3")
        try:
            body = s3.get_object(Bucket=deployment.bucket_name, Key=key)["Body"]
        except s3.exceptions.NoSuchKey:
            return Check(name, FAILED, f"none at {uri}", f"aws s3 cp eval.jsonl {uri}")
        try:
            found = parse_evaluation_set(body.iter_chunks(1024 * 1024), uri)
            if config.evaluation.managed_job is not None:
                check_prompt_count(len(found.items))
        except (EvaluationSetError, ManagedEvaluationError) as error:
            return Check(name, FAILED, str(error), f"fix the file and upload it again to {uri}")
        parsed.append(found)
        return Check(name, PASSED, f"{len(found.items)} records, version {found.version}")

    check = guarded(name, probe)
    return check, parsed[0] if parsed else None


def _yardstick_power(deployment: target.Deployment, config: LineageConfig, parsed: EvaluationSet) -> Check:
    """Whether the set can detect the lineage's min_improvement at its confidence: from the champion's
    per-record score spread on this set version when it was scored on it (taken for both models), else
    from the widest spread a 0..1 score can have."""
    name = f"{config.name}: yardstick power"
    gate = config.gate

    def probe() -> Check:
        spread = _champion_spread(deployment, config, parsed.version)
        power = yardstick_power(
            len(parsed.items),
            gate.min_improvement,
            gate.confidence,
            spreads=(spread, spread) if spread is not None else None,
        )
        warning = power_warning(power)
        if warning is None:
            return Check(
                name,
                PASSED,
                f"{power.records} records detect about {power.detectable:.4f} at {power.confidence:.0%} "
                f"confidence, within gate.min_improvement {power.min_improvement:g}",
            )
        fix = (
            f"grow the evaluation set towards {power.records_needed:,} records, or raise "
            f"gate.min_improvement to about {power.detectable:.2f}"
            if power.records_needed is not None
            else "set gate.min_improvement above 0"
        )
        return Check(name, WARNING, warning, fix)

    return guarded(name, probe)


def _champion_spread(deployment: target.Deployment, config: LineageConfig, version: str) -> float | None:
    """The champion's per-record spread of the primary metric on this set version, when kept."""
    state = Registry(deployment.table_name).get_state(config.name)
    if state is None:
        return None
    key = naming.record_scores_key(config.name, state.champion_iteration, version)
    s3 = deployment.client("s3")
    try:
        document = json.loads(s3.get_object(Bucket=deployment.bucket_name, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None
    values = (document.get("scores") or {}).get(config.evaluation.metric)
    return spread([float(value) for value in values]) if values else None


def _pointers(
    deployment: target.Deployment, configs: Sequence[LineageConfig], *, every_lineage: bool
) -> list[Check]:
    """Each lineage's serving pointer is there (a retired one still configured: remove it from the
    config); with `every_lineage`, a pointer whose lineage left the config without `iterft retire`."""

    def probe() -> list[Check]:
        prefix = naming.serving_parameter_prefix(deployment.stack_name)
        pages = deployment.client("ssm").get_paginator("get_parameters_by_path").paginate(Path=prefix)
        pointers = {
            item["Name"][len(prefix) :]: item["Value"] for page in pages for item in page["Parameters"]
        }
        registry, checks = Registry(deployment.table_name), []
        for config in configs:
            name = f"{config.name}: serving pointer"
            retired = retired_line(registry.get_state(config.name))
            if retired:
                fix = f"remove {config.name} from the config and deploy"
                checks.append(Check(name, FAILED, f"the lineage was {retired}", fix))
            elif config.name in pointers:
                checks.append(Check(name, PASSED, pointers[config.name]))
            else:
                fix = f"iterft repair {config.name} puts it back with what the registry says serves"
                checks.append(Check(name, FAILED, f"{prefix}{config.name} is missing", fix))
        known = {config.name for config in configs}
        for lineage in sorted(set(pointers) - known) if every_lineage else ():
            state = registry.get_state(lineage)
            serving = (state.serving_capacity or {}).get("arn") if state else None
            detail = f"not in the config, but its pointer still says {pointers[lineage]}" + (
                f" and {serving} still serves it (billed)" if serving else ""
            )
            fix = f'iterft retire {lineage} --reason "..." deletes its serving capacity and pointer'
            checks.append(Check(f"{lineage}: removed lineage", FAILED, detail, fix))
        return checks

    try:
        return probe()
    except (BotoCoreError, ClientError) as error:
        fix = permission_fix(error)
        return [Check("serving pointers", FAILED, target.describe_aws_error(error), fix)]


def quota_needs(configs: Iterable[LineageConfig], region: str) -> tuple[int, int, list[str]]:
    """What rounds need of the account: customization jobs, no-commitment model units (every lineage's
    serving throughput without commitment, and one unit for an evaluation on provisioned throughput), and
    the lineages that need those units."""
    units, users, evaluates_on_units = 0, [], False
    for config in configs:
        row = config.model_capabilities()
        serving = config.serving
        if serving.mode is ServingMode.PROVISIONED and serving.provisioned_commitment is Commitment.NONE:
            units += serving.provisioned_model_units
            users.append(config.name)
        if row is not None and row.evaluation_capacity(region) is CapacityKind.PROVISIONED:
            evaluates_on_units = True
            users.append(config.name)
    return 1, units + (1 if evaluates_on_units else 0), sorted(set(users))


def _quotas(context: Context, configs: Sequence[LineageConfig]) -> list[Check]:
    if not configs:
        return []
    jobs_needed, units_needed, users = quota_needs(configs, context.region)
    quotas = context.client("service-quotas")

    def quota(code: str, title: str, needed: int, why: str) -> Check:
        name = f"quota {title} ({code})"

        def probe() -> Check:
            try:
                value = quotas.get_service_quota(ServiceCode="bedrock", QuotaCode=code)["Quota"]["Value"]
            except quotas.exceptions.NoSuchResourceException:
                return Check(name, SKIPPED, f"Service Quotas lists no such quota in {context.region}")
            if value < needed:
                fix = (
                    "request an increase: aws service-quotas request-service-quota-increase "
                    f"--service-code bedrock --quota-code {code} --desired-value {needed}"
                )
                return Check(name, FAILED, f"{value:g}, a round needs {needed} ({why})", fix)
            return Check(name, PASSED, f"{value:g}, a round needs {needed} ({why})")

        return guarded(name, probe)

    checks = [quota(*SCHEDULED_JOBS_QUOTA, jobs_needed, "one fine-tuning job")]
    if units_needed:
        why = f"serving and evaluation of {', '.join(users)}"
        checks.append(quota(*NO_COMMITMENT_UNITS_QUOTA, units_needed, why))
    else:
        checks.append(
            Check(
                f"quota {NO_COMMITMENT_UNITS_QUOTA[1]}",
                SKIPPED,
                "no lineage uses no-commitment provisioned throughput",
            )
        )
    return checks


def report(
    stack_name: str,
    region: str | None,
    endpoint_url: str | None,
    lineages: Sequence[str],
    console: Any,
    *,
    as_json: bool = False,
) -> int:
    """Print every check (or a JSON list); 1 when any failed, else 0."""
    checks = diagnose(stack_name, region=region, endpoint_url=endpoint_url, lineages=lineages)
    if as_json:
        print(json.dumps([check.__dict__ for check in checks], indent=2))
    else:
        colours = {PASSED: "green", FAILED: "red", SKIPPED: "yellow", WARNING: "magenta"}
        for check in checks:
            console.print(check.line(), style=colours[check.status], markup=False)
        counts = {status: sum(check.status == status for check in checks) for status in colours}
        console.print(", ".join(f"{count} {status}" for status, count in counts.items()), markup=False)
    return 1 if any(check.status == FAILED for check in checks) else 0
