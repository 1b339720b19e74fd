"""The shape of `iterft doctor`'s checks: a line each, and the context every probe reads AWS through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from iterft import target

PASSED, FAILED, SKIPPED, WARNING = "passed", "failed", "skipped", "warning"
"""A warning does not fail the preflight (exit 0): it says what the lineage should change."""


@dataclass(frozen=True)
class Check:
    """One line of the preflight."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:7}  {self.name}: {self.detail}"
        return f"{text}\n         fix: {self.fix}" if self.fix else text


@dataclass
class Context:
    stack_name: str
    region: str
    endpoint_url: str | None
    now: datetime
    account: str = ""

    def client(self, service: str) -> Any:
        # boto3-stubs type one overload per service name literal; any name boto3 knows is fine here.
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]  # any service name


def guarded(name: str, probe: Callable[[], Check]) -> Check:
    """A check whose AWS call failed is a failed check saying why (e.g. a missing read permission)."""
    try:
        return probe()
    except (BotoCoreError, ClientError) as error:
        return Check(name, FAILED, target.describe_aws_error(error), permission_fix(error))


def permission_fix(error: BotoCoreError | ClientError) -> str:
    if isinstance(error, ClientError) and "AccessDenied" in error.response.get("Error", {}).get("Code", ""):
        return f"grant the read-only actions in README 'Proving a new account' ({error.operation_name})"
    return ""
