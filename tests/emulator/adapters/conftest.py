"""The embedded AWS the adapter tests share, one per test module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from adapter_support import embedded_aws

from iterft.local.server import EmbeddedAws


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with embedded_aws() as embedded:
        yield embedded


@pytest.fixture(scope="module")
def sfn(aws: EmbeddedAws) -> Any:
    return aws.client("stepfunctions")
