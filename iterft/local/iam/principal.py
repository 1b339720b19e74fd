"""Who is calling: the identity a request of the embedded default is made as.

On AWS every caller holds its own credentials: a Lambda function its execution role, a state machine
its role, Bedrock the service role a job was given. In the embedded default they all share one process,
so the caller is carried per thread: the Lambda adapter runs a handler `acting_as` its function's role,
the Step Functions interpreter acts as its execution role, and the Bedrock stand-in acts as a job's
service role where it reads or writes on the job's behalf. Code that runs as nobody in particular (the
test harness, the operator's CLI, the deployer) is not checked: its permissions are not the template's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """A role and, for messages, what acts through it ("function iterft-dev-Begin", ...)."""

    role_arn: str
    caller: str

    @property
    def account_id(self) -> str:
        return self.role_arn.split(":")[4]


_local = threading.local()


def current() -> Principal | None:
    """The principal this thread acts as, or None."""
    return getattr(_local, "principal", None)


def set_current(principal: Principal | None) -> None:
    """Make this thread act as `principal` until told otherwise (for threads that only ever act as one)."""
    _local.principal = principal


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    """Act as `principal` within the block; the previous identity is restored afterwards."""
    previous = current()
    _local.principal = principal
    try:
        yield
    finally:
        _local.principal = previous
