"""Request helpers of the Bedrock stand-in, shared by its resource modules: the service's errors,
member validation (required members, name and ARN patterns), List filtering and paging, S3 URIs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError
from moto.core.exceptions import ServiceException

from iterft.local.iam import Principal

if TYPE_CHECKING:
    from iterft.local.bedrock.customization import CustomizationJob
    from iterft.local.bedrock.evaluation import EvaluationJob

RESOURCE_NAME = re.compile(r"([0-9a-zA-Z][_-]?){1,63}")
PROVISIONED_NAME = re.compile(r"([0-9a-zA-Z][_-]?)+")
ROLE_ARN = re.compile(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+")
_S3_URI = re.compile(r"s3://([a-z0-9][-.a-z0-9]{1,61}[a-z0-9])(?:/(.*))?")
FOUNDATION_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:[a-z0-9-]+::foundation-model/(.+)")
INFERENCE_PROFILE_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:inference-profile/(.+)")

T = TypeVar("T")


class BedrockError(ServiceException):
    """An error as the service returns it: `code` is the exception's shape name in botocore's model."""


def invalid(message: str) -> BedrockError:
    return BedrockError("ValidationException", message)


def lookup(store: Mapping[str, T], identifier: str, other_id: Callable[[T], str]) -> T | None:
    """A resource by its key in `store`, else by its other identifier (the API takes either)."""
    return store.get(identifier) or next(
        (item for item in store.values() if other_id(item) == identifier), None
    )


def job_role(request: Mapping[str, Any], kind: str, name: str) -> Principal:
    """Bedrock acting for a job, through the service role the job was given."""
    return Principal(str(request["roleArn"]), f"Bedrock, as the service role of {kind} {name}")


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", error))


def not_found(message: str) -> BedrockError:
    return BedrockError("ResourceNotFoundException", message)


def conflict(message: str) -> BedrockError:
    return BedrockError("ConflictException", message)


END_OF_LIFE_MESSAGE = "This model version has reached the end of its life."
"""What Bedrock answers (ResourceNotFoundException) for a model past its end of life (its model card)."""


def now() -> datetime:
    return datetime.now(UTC)


class JobDataError(Exception):
    """A job's data cannot be used: the job fails with this message."""


def take_failure(injected: list[tuple[str, str]], name: str) -> str | None:
    """The message of the first injected failure whose match is in `name`, removed from `injected`."""
    for index, (match, message) in enumerate(injected):
        if match in name:
            del injected[index]
            return message
    return None


def due(job: CustomizationJob | EvaluationJob) -> bool:
    """Whether an InProgress job runs on this poll: once the polls it reports InProgress are used up."""
    if job.polls_left:
        job.polls_left -= 1
        return False
    return True


def parse_s3_uri(uri: str) -> tuple[str, str]:
    match = _S3_URI.fullmatch(uri)
    if match is None:
        raise invalid(f"Value '{uri}' failed to satisfy constraint: Member must be an s3:// URI.")
    return match.group(1), match.group(2) or ""


def required(request: Mapping[str, Any], name: str, key: str | None = None) -> Any:
    value = request.get(key or name)
    if value is None or value == "":
        raise invalid(
            f"1 validation error detected: Value null at '{name}' failed to satisfy constraint: "
            "Member must not be null."
        )
    return value


def required_pattern(
    request: Mapping[str, Any], name: str, pattern: re.Pattern[str], maximum: int = 63
) -> str:
    value = required(request, name)
    if not isinstance(value, str) or len(value) > maximum or not pattern.fullmatch(value):
        raise invalid(
            f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern.pattern} "
            f"and have length at most {maximum}."
        )
    return value


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def filtered(
    items: Iterable[T],
    request: Mapping[str, Any],
    *,
    created: Callable[[T], datetime],
    filters: Mapping[str, Callable[[T, Any], bool]],
    after: str = "creationTimeAfter",
    before: str = "creationTimeBefore",
) -> list[T]:
    """A List operation's filtering and sorting (by creation time, newest first unless asked otherwise)."""
    selected = list(items)
    for name, keep in filters.items():
        if request.get(name) is not None:
            selected = [item for item in selected if keep(item, request[name])]
    if request.get(after) is not None:
        selected = [item for item in selected if created(item) > _as_utc(request[after])]
    if request.get(before) is not None:
        selected = [item for item in selected if created(item) < _as_utc(request[before])]
    order = request.get("sortOrder") or "Descending"
    if order not in ("Ascending", "Descending"):
        raise invalid(f"Invalid sort order: {order}.")
    return sorted(selected, key=created, reverse=order == "Descending")


def paged(items: list[T], request: Mapping[str, Any]) -> tuple[list[T], str | None]:
    try:
        start = int(request.get("nextToken") or 0)
    except ValueError:
        raise invalid("The pagination token is invalid.") from None
    size = int(request.get("maxResults") or 100)
    end = start + size
    return items[start:end], str(end) if end < len(items) else None


def with_token(response: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        response["nextToken"] = token
    return response
