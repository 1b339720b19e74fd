"""What IAM authorizes for an API call: its actions, the resource ARNs each is checked against, and the
request's condition keys, as the Service Authorization Reference defines them.

One function per service turns an operation and its parameters (botocore's member names, as the client
was called) into `IamRequest`s. An operation no function knows is refused with `UnmappedOperation`
rather than let through: a new call in the runtime needs its line here before any test can pass.
Besides the action named like the operation, a call may need others that AWS checks on the caller's
behalf (documented on each): `iam:PassRole` for a role handed to a service, KMS for SSE-KMS objects,
encrypted topics and queues, `bedrock:TagResource` for tags given at creation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

Context = Mapping[str, "str | list[str]"]


@dataclass(frozen=True)
class IamRequest:
    """One authorization: `action` on `resource` ("*" for actions with no resource type)."""

    action: str
    resource: str
    context: Mapping[str, str | list[str]] = field(default_factory=dict)


class UnmappedOperation(Exception):
    """An operation whose IAM requests this module does not know."""


class Resolver(Protocol):
    """What the mapping needs to know about the account: ARNs behind names, keys behind resources."""

    def bucket_key(self, bucket: str) -> str | None: ...
    def topic_key(self, topic_arn: str) -> str | None: ...
    def queue_key(self, queue_arn: str) -> str | None: ...
    def bedrock_arn(self, region: str, identifier: str) -> str | None: ...
    def served_model(self, region: str, capacity_arn: str) -> str | None: ...


@dataclass(frozen=True)
class Call:
    """An API call as the client made it."""

    service: str  # botocore's service name: "s3", "stepfunctions", "bedrock-runtime", ...
    operation: str  # "GetObject"
    params: Mapping[str, Any]
    region: str
    account: str
    resolver: Resolver

    def arn(
        self, service: str, resource: str, *, region: str | None = None, account: str | None = None
    ) -> str:
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:aws:{service}:{region}:{account}:{resource}"


def requests_for(call: Call) -> list[IamRequest]:
    mapper = _SERVICES.get(call.service)
    if mapper is None:
        raise UnmappedOperation(f"{call.service}:{call.operation}")
    return mapper(call)


def _kms(key_arn: str | None, actions: Iterable[str], via: str, call: Call) -> list[IamRequest]:
    """The KMS requests a service makes with the caller's permissions (kms:ViaService)."""
    if not key_arn:
        return []
    context = {"kms:ViaService": f"{via}.{call.region}.amazonaws.com", "kms:CallerAccount": call.account}
    return [IamRequest(f"kms:{action}", key_arn, context) for action in actions]


def _unmapped(call: Call) -> UnmappedOperation:
    return UnmappedOperation(f"{call.service}:{call.operation}")


# --- S3 (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html) ---------

_S3_OBJECT_READS = {"GetObject": "GetObject", "HeadObject": "GetObject"}


def _s3(call: Call) -> list[IamRequest]:
    params, operation = call.params, call.operation
    bucket = str(params.get("Bucket", ""))
    bucket_arn = f"arn:aws:s3:::{bucket}"
    key_arn = call.resolver.bucket_key(bucket) if bucket else None
    if operation in _S3_OBJECT_READS:
        action = "s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject"
        found = [IamRequest(action, f"{bucket_arn}/{params['Key']}")]
        # HeadObject returns metadata only: no data key is decrypted.
        return found + (_kms(key_arn, ["Decrypt"], "s3", call) if operation == "GetObject" else [])
    if operation == "PutObject":
        write = IamRequest("s3:PutObject", f"{bucket_arn}/{params['Key']}")
        return [write, *_kms(key_arn, ["GenerateDataKey"], "s3", call)]
    if operation == "DeleteObject":
        action = "s3:DeleteObjectVersion" if params.get("VersionId") else "s3:DeleteObject"
        return [IamRequest(action, f"{bucket_arn}/{params['Key']}")]
    if operation == "CopyObject":
        source = params["CopySource"]
        if isinstance(source, Mapping):
            source_bucket, source_key, version = source["Bucket"], source["Key"], source.get("VersionId")
        else:
            path, _, query = str(source).lstrip("/").partition("?")
            source_bucket, _, source_key = unquote(path).partition("/")
            version = query.removeprefix("versionId=") if query.startswith("versionId=") else None
        read = "s3:GetObjectVersion" if version else "s3:GetObject"
        return [
            IamRequest(read, f"arn:aws:s3:::{source_bucket}/{source_key}"),
            *_kms(call.resolver.bucket_key(source_bucket), ["Decrypt"], "s3", call),
            IamRequest("s3:PutObject", f"{bucket_arn}/{params['Key']}"),
            *_kms(key_arn, ["GenerateDataKey"], "s3", call),
        ]
    if operation in ("ListObjectsV2", "ListObjects"):
        return [IamRequest("s3:ListBucket", bucket_arn, {"s3:prefix": str(params.get("Prefix", ""))})]
    if operation == "ListObjectVersions":
        return [IamRequest("s3:ListBucketVersions", bucket_arn, {"s3:prefix": str(params.get("Prefix", ""))})]
    if operation == "DeleteObjects":  # authorized object by object, as DeleteObject(Version)
        return [
            IamRequest(
                "s3:DeleteObjectVersion" if item.get("VersionId") else "s3:DeleteObject",
                f"{bucket_arn}/{item['Key']}",
            )
            for item in params["Delete"]["Objects"]
        ]
    raise _unmapped(call)


# --- DynamoDB (list_amazondynamodb.html) ---------------------------------------------------------------

_DYNAMODB_TABLE_OPERATIONS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "DescribeTable",
}
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _table_arn(call: Call, table: str, index: str | None = None) -> str:
    arn = table if table.startswith("arn:") else call.arn("dynamodb", f"table/{table}")
    return f"{arn}/index/{index}" if index else arn


def _dynamodb(call: Call) -> list[IamRequest]:
    params, operation = call.params, call.operation
    if operation in _DYNAMODB_TABLE_OPERATIONS:
        index = params.get("IndexName") if operation in ("Query", "Scan") else None
        return [IamRequest(f"dynamodb:{operation}", _table_arn(call, params["TableName"], index))]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [
            IamRequest(f"dynamodb:{operation}", _table_arn(call, table)) for table in params["RequestItems"]
        ]
    if operation == "TransactWriteItems":
        found = []
        for item in params["TransactItems"]:
            ((kind, body),) = item.items()
            found.append(
                IamRequest(f"dynamodb:{_TRANSACT_ACTIONS[kind]}", _table_arn(call, body["TableName"]))
            )
        return found
    if operation == "TransactGetItems":
        return [
            IamRequest("dynamodb:GetItem", _table_arn(call, item["Get"]["TableName"]))
            for item in params["TransactItems"]
        ]
    raise _unmapped(call)


# --- SNS, SQS, SSM, EventBridge, CloudWatch ------------------------------------------------------------


def _sns(call: Call) -> list[IamRequest]:
    if call.operation != "Publish":
        raise _unmapped(call)
    topic = str(call.params.get("TopicArn") or call.params.get("TargetArn"))
    # Publishing to a topic encrypted with a customer managed key (sns-key-management.html).
    key = call.resolver.topic_key(topic)
    return [IamRequest("sns:Publish", topic), *_kms(key, ["GenerateDataKey", "Decrypt"], "sns", call)]


_SQS_KMS = {
    "SendMessage": ["GenerateDataKey", "Decrypt"],
    "SendMessageBatch": ["GenerateDataKey", "Decrypt"],
    "ReceiveMessage": ["Decrypt"],
}
_SQS_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage"}


def queue_arn(queue_url: str, region: str) -> str:
    """The ARN of a queue URL (`https://sqs.<region>.amazonaws.com/<account>/<name>` or moto's form)."""
    account, name = urlparse(queue_url).path.strip("/").split("/")[-2:]
    return f"arn:aws:sqs:{region}:{account}:{name}"


def _sqs(call: Call) -> list[IamRequest]:
    if "QueueUrl" not in call.params:
        raise _unmapped(call)
    queue = queue_arn(str(call.params["QueueUrl"]), call.region)
    action = _SQS_ACTIONS.get(call.operation, call.operation)
    kms = _kms(call.resolver.queue_key(queue), _SQS_KMS.get(call.operation, []), "sqs", call)
    return [IamRequest(f"sqs:{action}", queue), *kms]


def parameter_arn(call: Call, name: str) -> str:
    return name if name.startswith("arn:") else call.arn("ssm", "parameter/" + name.lstrip("/"))


def _ssm(call: Call) -> list[IamRequest]:
    params, operation = call.params, call.operation
    if operation in ("GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory"):
        return [IamRequest(f"ssm:{operation}", parameter_arn(call, params["Name"]))]
    if operation == "GetParameters":
        return [IamRequest("ssm:GetParameters", parameter_arn(call, name)) for name in params["Names"]]
    if operation == "GetParametersByPath":
        return [IamRequest("ssm:GetParametersByPath", parameter_arn(call, params["Path"]))]
    raise _unmapped(call)


def _cloudformation(call: Call) -> list[IamRequest]:
    """DescribeStacks of one stack (a stack's own custom resource handler asks for its status)."""
    if call.operation != "DescribeStacks" or "StackName" not in call.params:
        raise _unmapped(call)
    name = str(call.params["StackName"])
    return [
        IamRequest(
            "cloudformation:DescribeStacks",
            name if name.startswith("arn:") else call.arn("cloudformation", f"stack/{name}/*"),
        )
    ]


def _events(call: Call) -> list[IamRequest]:
    if call.operation != "PutEvents":
        raise _unmapped(call)
    buses = {str(entry.get("EventBusName") or "default") for entry in call.params["Entries"]}
    return [
        IamRequest(
            "events:PutEvents", bus if bus.startswith("arn:") else call.arn("events", f"event-bus/{bus}")
        )
        for bus in sorted(buses)
    ]


def _cloudwatch(call: Call) -> list[IamRequest]:
    if call.operation != "PutMetricData":
        raise _unmapped(call)
    return [
        IamRequest("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": str(call.params["Namespace"])})
    ]


# --- Step Functions and Lambda -------------------------------------------------------------------------

_STATES_BY_MACHINE = {"StartExecution", "StartSyncExecution", "ListExecutions", "DescribeStateMachine"}
_STATES_BY_EXECUTION = {"DescribeExecution", "StopExecution", "GetExecutionHistory"}
_STATES_TASK_TOKENS = {"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"}


def _states(call: Call) -> list[IamRequest]:
    params, operation = call.params, call.operation
    if operation in _STATES_BY_MACHINE:
        return [IamRequest(f"states:{operation}", str(params["stateMachineArn"]))]
    if operation in _STATES_BY_EXECUTION:
        return [IamRequest(f"states:{operation}", str(params["executionArn"]))]
    if operation in _STATES_TASK_TOKENS:
        return [IamRequest(f"states:{operation}", "*")]
    raise _unmapped(call)


def function_arn(call: Call, name: str) -> str:
    if name.startswith("arn:"):
        return name
    if ":" in name:  # "account:function:name" or "name:qualifier"
        parts = name.split(":")
        if len(parts) >= 3 and parts[1] == "function":
            return call.arn("lambda", ":".join(parts[1:]), account=parts[0])
        return call.arn("lambda", f"function:{name}")
    return call.arn("lambda", f"function:{name}")


def _lambda(call: Call) -> list[IamRequest]:
    if call.operation not in ("Invoke", "InvokeAsync"):
        raise _unmapped(call)
    return [IamRequest("lambda:InvokeFunction", function_arn(call, str(call.params["FunctionName"])))]


# --- Bedrock (list_amazonbedrock.html) -----------------------------------------------------------------

_PASSED_TO_BEDROCK = {"iam:PassedToService": "bedrock.amazonaws.com"}
_BEDROCK_LISTS = {
    "ListCustomModels",
    "ListModelCustomizationJobs",
    "ListEvaluationJobs",
    "ListProvisionedModelThroughputs",
    "ListCustomModelDeployments",
    "ListFoundationModels",
    # The account's per-region invocation logging configuration: no resource type.
    "GetModelInvocationLoggingConfiguration",
    "PutModelInvocationLoggingConfiguration",
    "DeleteModelInvocationLoggingConfiguration",
}
# Operation -> the parameter naming the one resource it acts on, and that resource's type.
_BEDROCK_BY_IDENTIFIER = {
    "GetModelCustomizationJob": ("jobIdentifier", "model-customization-job"),
    "StopModelCustomizationJob": ("jobIdentifier", "model-customization-job"),
    "GetEvaluationJob": ("jobIdentifier", "evaluation-job"),
    "StopEvaluationJob": ("jobIdentifier", "evaluation-job"),
    "GetCustomModel": ("modelIdentifier", "custom-model"),
    "DeleteCustomModel": ("modelIdentifier", "custom-model"),
    "GetProvisionedModelThroughput": ("provisionedModelId", "provisioned-model"),
    "DeleteProvisionedModelThroughput": ("provisionedModelId", "provisioned-model"),
    "GetCustomModelDeployment": ("customModelDeploymentIdentifier", "custom-model-deployment"),
    "DeleteCustomModelDeployment": ("customModelDeploymentIdentifier", "custom-model-deployment"),
    "ListTagsForResource": ("resourceARN", None),
    "TagResource": ("resourceARN", None),
    "UntagResource": ("resourceARN", None),
}


def model_arn(call: Call, identifier: str, kind: str | None = None) -> str:
    """The ARN IAM sees for an identifier: an ARN as given, a resource of the account by name, a name of
    `kind` that does not exist (yet, or any more) as that type's ARN, else a foundation model (or a
    cross-region inference profile, `us.`/`eu.`/... prefixed)."""
    if identifier.startswith("arn:"):
        return identifier
    known = call.resolver.bedrock_arn(call.region, identifier)
    if known:
        return known
    if kind is not None:
        return call.arn("bedrock", f"{kind}/{identifier}")
    if identifier.split(".", 1)[0] in ("us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"):
        return call.arn("bedrock", f"inference-profile/{identifier}")
    return f"arn:aws:bedrock:{call.region}::foundation-model/{identifier}"


def _tagging(resource: str, tags: Any) -> list[IamRequest]:
    """Tags given at creation: the create action sees aws:RequestTag/aws:TagKeys, and Bedrock also
    authorizes bedrock:TagResource on the new resource (an assumption the stack has always granted for)."""
    pairs = {str(tag["key"]): str(tag["value"]) for tag in tags or []}
    if not pairs:
        return []
    return [IamRequest("bedrock:TagResource", resource, tag_context(pairs))]


def tag_context(tags: Mapping[str, str]) -> dict[str, str | list[str]]:
    context: dict[str, str | list[str]] = {f"aws:RequestTag/{key}": value for key, value in tags.items()}
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    return context


def _create_tags(*tag_lists: Any) -> dict[str, str | list[str]]:
    return tag_context({str(tag["key"]): str(tag["value"]) for tags in tag_lists for tag in tags or []})


def _evaluated_model(call: Call, identifier: str) -> str:
    """The resource CreateEvaluationJob is authorized against for one evaluated model: its resource types
    are models (custom-model, foundation-model, prompt routers), so a provisioned throughput counts as
    the custom model it serves."""
    arn = model_arn(call, identifier)
    if ":provisioned-model/" in arn or ":custom-model-deployment/" in arn:
        return call.resolver.served_model(call.region, arn) or arn
    return arn


def _bedrock(call: Call) -> list[IamRequest]:
    params, operation = call.params, call.operation
    action = f"bedrock:{operation}"
    if operation in _BEDROCK_LISTS:
        return [IamRequest(action, "*")]
    if operation in _BEDROCK_BY_IDENTIFIER:
        parameter, kind = _BEDROCK_BY_IDENTIFIER[operation]
        return [IamRequest(action, model_arn(call, str(params[parameter]), kind))]
    if operation == "CreateModelCustomizationJob":
        context = _create_tags(params.get("jobTags"), params.get("customModelTags"))
        output = call.arn("bedrock", f"custom-model/{params['customModelName']}")
        job = call.arn("bedrock", f"model-customization-job/{params['jobName']}")
        return [
            IamRequest(action, model_arn(call, str(params["baseModelIdentifier"])), context),
            IamRequest(action, output, context),
            IamRequest("iam:PassRole", str(params["roleArn"]), _PASSED_TO_BEDROCK),
            *_tagging(job, params.get("jobTags")),
            *_tagging(output, params.get("customModelTags")),
        ]
    if operation == "CreateProvisionedModelThroughput":
        capacity = call.arn("bedrock", f"provisioned-model/{params['provisionedModelName']}")
        return [
            IamRequest(action, model_arn(call, str(params["modelId"])), _create_tags(params.get("tags"))),
            *_tagging(capacity, params.get("tags")),
        ]
    if operation == "UpdateProvisionedModelThroughput":
        requests = [
            IamRequest(action, model_arn(call, str(params["provisionedModelId"]), "provisioned-model"))
        ]
        if params.get("desiredModelId"):
            requests.append(IamRequest(action, model_arn(call, str(params["desiredModelId"]))))
        return requests
    if operation == "CreateCustomModelDeployment":
        deployment = call.arn("bedrock", f"custom-model-deployment/{params['modelDeploymentName']}")
        return [
            IamRequest(action, model_arn(call, str(params["modelArn"])), _create_tags(params.get("tags"))),
            *_tagging(deployment, params.get("tags")),
        ]
    if operation == "UpdateCustomModelDeployment":
        return [
            IamRequest(
                action,
                model_arn(call, str(params["customModelDeploymentIdentifier"]), "custom-model-deployment"),
            ),
            IamRequest(action, model_arn(call, str(params["modelArn"]))),
        ]
    if operation == "CreateEvaluationJob":
        context = _create_tags(params.get("jobTags"))
        models = [
            str(model["bedrockModel"]["modelIdentifier"])
            for model in params["inferenceConfig"].get("models", [])
            if "bedrockModel" in model
        ]
        automated = params["evaluationConfig"].get("automated") or {}
        evaluator_configs = [
            automated.get("evaluatorModelConfig") or {},
            (automated.get("customMetricConfig") or {}).get("evaluatorModelConfig") or {},
        ]
        evaluators = list(
            dict.fromkeys(
                str(model["modelIdentifier"])
                for config in evaluator_configs
                for model in config.get("bedrockEvaluatorModels", [])
            )
        )
        job = call.arn("bedrock", f"evaluation-job/{params['jobName']}")
        return [
            *(IamRequest(action, _evaluated_model(call, model), context) for model in [*models, *evaluators]),
            IamRequest("iam:PassRole", str(params["roleArn"]), _PASSED_TO_BEDROCK),
            *_tagging(job, params.get("jobTags")),
        ]
    raise _unmapped(call)


_RUNTIME_ACTIONS = {
    "Converse": "bedrock:InvokeModel",
    "InvokeModel": "bedrock:InvokeModel",
    "ConverseStream": "bedrock:InvokeModelWithResponseStream",
    "InvokeModelWithResponseStream": "bedrock:InvokeModelWithResponseStream",
}


def _bedrock_runtime(call: Call) -> list[IamRequest]:
    action = _RUNTIME_ACTIONS.get(call.operation)
    if action is None:
        raise _unmapped(call)
    return [IamRequest(action, model_arn(call, str(call.params["modelId"])))]


def _comprehend(call: Call) -> list[IamRequest]:
    """Comprehend's synchronous detection operations name no resource (the Service Authorization
    Reference lists none for them)."""
    if call.operation not in ("DetectPiiEntities",):
        raise _unmapped(call)
    return [IamRequest(f"comprehend:{call.operation}", "*")]


_SERVICES: dict[str, Callable[[Call], list[IamRequest]]] = {
    "comprehend": _comprehend,
    "s3": _s3,
    "dynamodb": _dynamodb,
    "sns": _sns,
    "sqs": _sqs,
    "ssm": _ssm,
    "cloudformation": _cloudformation,
    "events": _events,
    "cloudwatch": _cloudwatch,
    "stepfunctions": _states,
    "lambda": _lambda,
    "bedrock": _bedrock,
    "bedrock-runtime": _bedrock_runtime,
}
