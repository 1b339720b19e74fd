"""The state of one account and region of the Bedrock stand-in, and what every resource shares.

`StandInCore` holds every resource store, the settings and fault injection (the test hooks of
docs/embedded-default.md), naming (ARNs, ids), S3 access as a job's service role, and the lookups
several resources make: custom models by name or ARN, the capability table's row of a model, and
`_serving`, what answers a model id (Converse, InvokeModel and evaluation jobs all go through it).
The resource modules (`customization`, `custom_models`, `capacity`, `evaluation`, `runtime`, `tags`)
each add their operations to it; `backend.BedrockStandIn` combines them.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from iterft_runtime.models import capabilities
from iterft_runtime.models.capabilities import CustomizationType, ModelCapabilities
from moto.core.base_backend import BaseBackend
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends

from iterft.local.bedrock.requests import (
    END_OF_LIFE_MESSAGE,
    FOUNDATION_ARN,
    INFERENCE_PROFILE_ARN,
    BedrockError,
    error_message,
    invalid,
    job_role,
    lookup,
    not_found,
    now,
    parse_s3_uri,
)
from iterft.local.iam import AccessDenied, Principal, acting_as, authorize_assume_role, check_as_current
from iterft.local.standin_model import DataFormatError, Pair, StandInModel, corpus_from_jsonl

if TYPE_CHECKING:
    from iterft.local.bedrock.capacity import Deployment, Throughput
    from iterft.local.bedrock.custom_models import CustomModel
    from iterft.local.bedrock.customization import CustomizationJob
    from iterft.local.bedrock.evaluation import EvaluationJob

EMPTY_MODEL = StandInModel(foundation=True)
"""A foundation model that knows nothing (no corpus loaded for it)."""
_INJECTED_MESSAGES = {
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ServiceQuotaExceededException": "The request would exceed a service quota of this account.",
    "InternalServerException": "An internal server error occurred. Retry your request.",
    "ServiceUnavailableException": "The service isn't currently available. Try again later.",
}


class StandInCore(BaseBackend):
    """One account and region's state. Thread-safe: every operation holds the backend's lock."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self._lock = threading.RLock()
        self._jobs: dict[str, CustomizationJob] = {}
        self._models: dict[str, CustomModel] = {}
        self._deployments: dict[str, Deployment] = {}
        self._throughputs: dict[str, Throughput] = {}
        self._tags: dict[str, dict[str, str]] = {}
        self._failures: list[tuple[str, str]] = []
        self._capacity_failures: list[tuple[str, str]] = []
        self._throttles: dict[str, list[str]] = {}
        self._lost_responses: dict[str, list[str]] = {}
        self._latency = 0.0
        self._job_polls_in_progress = 0
        self._remember_job_tokens = True
        self._evaluation_jobs: dict[str, EvaluationJob] = {}
        self._evaluation_failures: list[tuple[str, str]] = []
        self._evaluation_polls_in_progress = 0
        self._deployment_polls_creating = 1
        self._sequence = 0
        self._today: date | None = None
        self._corpora: dict[str, StandInModel] = {}

    # Settings and fault injection -------------------------------------------------------------

    def reset(self) -> None:
        """Forget every resource and setting (moto does the same when it resets its backends)."""
        with self._lock:
            super().reset()

    def set_latency(self, seconds: float) -> None:
        """Make every runtime call take at least this long more (for latency benchmarks)."""
        if seconds < 0:
            raise ValueError("latency cannot be negative")
        with self._lock:
            self._latency = seconds

    def set_today(self, day: date | None) -> None:
        """The date end-of-life dates are checked against (None, the default: today, UTC)."""
        with self._lock:
            self._today = day

    def today(self) -> date:
        return self._today or now().date()

    def load_teacher_corpus(self, model_id: str, corpus: Path | Iterable[Pair | tuple[str, str]]) -> int:
        """Give a foundation model (a distillation teacher, or any base) a corpus it knows before any
        customization: question/answer pairs, or a JSONL file of `{"question", "answer"}` objects
        (`standin_model.corpus_from_jsonl`). Returns how many pairs it knows; an empty corpus makes it
        know nothing again. `model_id` is an on-demand or customization id, or a teacher's inference
        profile id (`us.amazon.nova-premier-v1:0`). Converse and InvokeModel on the model then answer
        from the corpus, distillation jobs ask it, and jobs customizing it start from what it knows.

        A stand-in: a real foundation model is not a lookup table. The corpus stands for what a large
        model knows of a topic, so that distillation from it is measurable (a teacher with no corpus
        answers `I don't know.` and teaches little)."""
        key = _foundation_key(model_id)
        if isinstance(corpus, Path):
            try:
                pairs = corpus_from_jsonl(corpus.read_text(encoding="utf-8"))
            except DataFormatError as error:
                raise ValueError(f"{corpus}: {error}") from None
        else:
            pairs = [item if isinstance(item, Pair) else Pair(*item) for item in corpus]
        with self._lock:
            self._corpora[key] = StandInModel.knowing(pairs)
        return len(pairs)

    def _foundation_knowledge(self, model_id: str) -> StandInModel:
        """What a foundation model knows (its corpus), by any of its ids; EMPTY_MODEL without one."""
        with self._lock:
            return self._corpora.get(_foundation_key(model_id), EMPTY_MODEL)

    def set_job_polls_in_progress(self, polls: int) -> None:
        """How many GetModelCustomizationJob calls report InProgress before a new job trains (default 0)."""
        if polls < 0:
            raise ValueError("polls cannot be negative")
        with self._lock:
            self._job_polls_in_progress = polls

    def forget_job_tokens(self, forget: bool = True) -> None:
        """Whether CreateModelCustomizationJob stops recognising earlier client request tokens (default:
        it recognises them). Bedrock does not say how long it remembers a token; forgetting them shows what
        a retried create meets when its token is no longer recognised: ConflictException on the job name."""
        with self._lock:
            self._remember_job_tokens = not forget

    def set_evaluation_job_polls_in_progress(self, polls: int) -> None:
        """How many GetEvaluationJob calls report InProgress before a new evaluation job runs (default 0)."""
        if polls < 0:
            raise ValueError("polls cannot be negative")
        with self._lock:
            self._evaluation_polls_in_progress = polls

    def set_deployment_polls_creating(self, polls: int) -> None:
        """How many Get calls report Creating before a new deployment is Active or a new provisioned
        throughput InService (default 1, so pollers see the transition; a large number stands for
        capacity stuck)."""
        if polls < 0:
            raise ValueError("polls cannot be negative")
        with self._lock:
            self._deployment_polls_creating = polls

    def fail_next_job(self, match: str, message: str) -> None:
        """The next job created whose name contains `match` ends Failed with `message` and makes no model."""
        with self._lock:
            self._failures.append((match, message))

    def fail_next_evaluation_job(self, match: str, message: str) -> None:
        """The next evaluation job created whose name contains `match` ends Failed with `message`
        (its only failure message) and writes no output."""
        with self._lock:
            self._evaluation_failures.append((match, message))

    def fail_next_capacity(self, match: str, message: str) -> None:
        """The next custom model deployment or provisioned throughput created whose name contains
        `match` never comes into service: it reports Failed with `message` once its Creating polls end."""
        with self._lock:
            self._capacity_failures.append((match, message))

    def throttle_next(self, operation: str, times: int = 1, error: str = "ThrottlingException") -> None:
        """The next `times` calls of `operation` (an API name such as "Converse") fail with `error`."""
        with self._lock:
            self._throttles.setdefault(operation, []).extend([error] * times)

    def lose_next_response(
        self, operation: str, times: int = 1, error: str = "InternalServerException"
    ) -> None:
        """The next `times` calls of `operation` take effect, then answer `error` (a 5xx after the service
        acted: the caller cannot tell whether it did), unlike `throttle_next`, whose calls have no effect."""
        with self._lock:
            self._lost_responses.setdefault(operation, []).extend([error] * times)

    def check_lost_response(self, operation: str) -> None:
        """Raise the error `lose_next_response` queued for `operation`, if any (the call took effect)."""
        self._raise_injected(self._lost_responses, operation)

    def _check_throttle(self, operation: str) -> None:
        self._raise_injected(self._throttles, operation)

    def _raise_injected(self, queues: dict[str, list[str]], operation: str) -> None:
        with self._lock:
            queued = queues.get(operation)
            if queued:
                error = queued.pop(0)
                raise BedrockError(error, _INJECTED_MESSAGES.get(error, f"{operation} failed: {error}."))

    # Naming -------------------------------------------------------------------------------------

    def _arn(self, resource: str) -> str:
        return f"arn:{self.partition}:bedrock:{self.region_name}:{self.account_id}:{resource}"

    def _foundation_arn(self, model_id: str) -> str:
        return f"arn:{self.partition}:bedrock:{self.region_name}::foundation-model/{model_id}"

    def resource_arn(self, identifier: str) -> str | None:
        """The ARN of this stand-in's job, model or capacity named `identifier` (a name or an ARN), or None:
        what IAM checks a request naming it against."""
        with self._lock:
            for store in (self._jobs, self._models, self._evaluation_jobs):
                found = store.get(identifier)
                if found is not None:
                    return found.arn
            capacities: list[Deployment | Throughput] = [
                *self._deployments.values(),
                *self._throughputs.values(),
            ]
            for capacity in capacities:
                if identifier in (capacity.name, capacity.arn):
                    return capacity.arn
        return None

    def served_model_arn(self, capacity_arn: str) -> str | None:
        """The custom model a deployment or provisioned throughput serves."""
        with self._lock:
            found = self._deployments.get(capacity_arn) or self._throughputs.get(capacity_arn)
            return found.model_arn if found is not None else None

    def _new_id(self, kind: str, name: str) -> str:
        """A 12-character resource id, as Bedrock's ARNs end with; deterministic for a given history."""
        self._sequence += 1
        seed = f"{self.account_id}/{self.region_name}/{kind}/{name}/{self._sequence}"
        return hashlib.sha256(seed.encode()).hexdigest()[:12]

    # S3 -----------------------------------------------------------------------------------------

    def _s3(self) -> Any:
        return s3_backends[self.account_id][self.partition]

    def _read(self, uri: str) -> bytes | None:
        """The object, read as the service role the thread acts as (its IAM is checked), or None."""
        bucket, key = parse_s3_uri(uri)
        if not key:
            return None
        check_as_current("s3", "GetObject", {"Bucket": bucket, "Key": key}, self.region_name)
        try:
            found = self._s3().get_object(bucket, key)
        except MissingBucket:
            return None
        return None if found is None else found.value

    def _listed(self, uri: str) -> list[tuple[str, bytes]]:
        """Every object under an S3 prefix, (key, content) in key order, listed and read as the service
        role the thread acts as (s3:ListBucket, then s3:GetObject on each)."""
        bucket, prefix = parse_s3_uri(uri)
        check_as_current("s3", "ListObjectsV2", {"Bucket": bucket, "Prefix": prefix}, self.region_name)
        try:
            found, _, _, _ = self._s3().list_objects(self._s3().get_bucket(bucket), prefix, None, None, None)
        except MissingBucket:
            return []
        objects = []
        for key in sorted(found, key=lambda item: item.name):
            check_as_current("s3", "GetObject", {"Bucket": bucket, "Key": key.name}, self.region_name)
            objects.append((key.name, key.value))
        return objects

    def _bucket_exists(self, uri: str) -> bool:
        try:
            self._s3().get_bucket(parse_s3_uri(uri)[0])
        except MissingBucket:
            return False
        return True

    def _write(self, uri: str, relative_key: str, body: str) -> None:
        bucket, prefix = parse_s3_uri(uri)
        prefix = prefix.strip("/")
        key = f"{prefix}/{relative_key}" if prefix else relative_key
        check_as_current("s3", "PutObject", {"Bucket": bucket, "Key": key}, self.region_name)
        self._s3().put_object(bucket, key, body.encode())

    def _service_role(self, request: Mapping[str, Any], kind: str, name: str, arn: str) -> Principal:
        """Bedrock acting as a job's service role: the role's trust policy must let Bedrock assume it for
        this job (aws:SourceAccount, aws:SourceArn), as it does before a job starts on AWS."""
        role_arn = str(request["roleArn"])
        context = {"aws:SourceAccount": self.account_id, "aws:SourceArn": arn}
        try:
            authorize_assume_role("bedrock.amazonaws.com", role_arn, context)
        except AccessDenied as error:
            raise invalid(f"Bedrock could not assume the service role {role_arn}: {error}") from None
        return job_role(request, kind, name)

    @contextlib.contextmanager
    def _as_job_role(
        self, request: Mapping[str, Any], kind: str, name: str, fail: Callable[[str], None]
    ) -> Iterator[None]:
        """Run a job's work as its service role: a request the role may not make fails the job, as on AWS."""
        with acting_as(job_role(request, kind, name)):
            try:
                yield
            except ClientError as error:
                fail(error_message(error))

    # Lookups several resources make -------------------------------------------------------------

    def _find_model(self, identifier: str) -> CustomModel | None:
        return lookup(self._models, identifier, lambda item: item.arn)

    def _model(self, identifier: str) -> CustomModel:
        model = self._find_model(identifier)
        if model is None:
            raise not_found(f"Custom model {identifier} not found.")
        return model

    def _check_end_of_life(self, row: ModelCapabilities) -> None:
        if row.past_end_of_life(self.region_name, self.today()):
            raise BedrockError("ResourceNotFoundException", END_OF_LIFE_MESSAGE)

    def _capabilities_of(self, model: CustomModel) -> ModelCapabilities:
        row = capabilities.find(model.foundation_model_id)
        assert row is not None, model.foundation_model_id  # the stand-in trained it, so the table knows it
        return row

    def _tag(self, arn: str, tags: Iterable[Mapping[str, str]] | None) -> None:
        if tags:
            self._tags.setdefault(arn, {}).update({tag["key"]: tag["value"] for tag in tags})

    def _serving(self, model_id: str) -> tuple[StandInModel, str]:
        """What answers calls to `model_id`, and its foundation model id; refuses what cannot be invoked."""
        if ":custom-model-deployment/" in model_id:
            deployment = self._deployments.get(model_id)
            if deployment is None:
                raise not_found(f"Custom model deployment {model_id} not found.")
            if deployment.status != "Active":
                raise invalid(
                    f"Custom model deployment {model_id} is not ready: its status is {deployment.status}."
                )
            model = self._model(deployment.model_arn)
            return model.model, model.foundation_model_id
        if ":provisioned-model/" in model_id:
            throughput = self._throughputs.get(model_id)
            if throughput is None:
                raise not_found(f"Provisioned model {model_id} not found.")
            if throughput.status == "Creating":
                raise invalid(f"Provisioned model {model_id} is not ready: its status is Creating.")
            served = self._find_model(throughput.model_arn)
            if served is not None:
                return served.model, served.foundation_model_id
            foundation_id = throughput.model_arn.split("foundation-model/", 1)[1]
            return self._foundation_knowledge(foundation_id), foundation_id
        if ":custom-model/" in model_id or self._find_model(model_id) is not None:
            raise invalid(
                f"Custom model {model_id} cannot be invoked directly: it must be deployed first, with a "
                "custom model deployment or provisioned throughput, and called through the deployment's ARN."
            )
        foundation = FOUNDATION_ARN.fullmatch(model_id)
        foundation_id = foundation.group(1) if foundation else model_id
        profile = INFERENCE_PROFILE_ARN.fullmatch(foundation_id)
        foundation_id = profile.group(1) if profile else foundation_id
        row = capabilities.by_inference_id(foundation_id)
        if row is None and capabilities.find(foundation_id) is not None:
            raise invalid(
                f"Invocation of model ID {foundation_id} with on-demand throughput isn't supported."
            )
        if row is None and self.region_name in teacher_regions(foundation_id):
            return self._foundation_knowledge(foundation_id), foundation_id
        if row is None:
            raise invalid("The provided model identifier is invalid.")
        self._check_end_of_life(row)
        return self._foundation_knowledge(foundation_id), foundation_id


def teacher_regions(model_id: str) -> set[str]:
    """Where a distillation teacher the capability table names (and that is no customizable model of it,
    such as Nova Premier's inference profile or Llama 3.1 405B) answers on demand: the regions where it
    teaches a student. The stand-in's reading: the prerequisites page pairs them within a region."""
    return {
        region
        for row in capabilities.MODELS.values()
        if model_id in row.teachers
        for region in row.customization_regions(CustomizationType.DISTILLATION)
    }


def _foundation_key(model_id: str) -> str:
    """One key per foundation model: its on-demand id, whichever id, ARN or customization id names it."""
    foundation = FOUNDATION_ARN.fullmatch(model_id)
    model_id = foundation.group(1) if foundation else model_id
    profile = INFERENCE_PROFILE_ARN.fullmatch(model_id)
    model_id = profile.group(1) if profile else model_id
    row = capabilities.find(model_id) or capabilities.by_inference_id(model_id)
    if row is not None:
        return row.inference_id
    if teacher_regions(model_id):
        return model_id
    raise ValueError(f"{model_id!r} is no foundation model the stand-in knows: {capabilities.known_models()}")
