"""The Bedrock stand-in under moto's mock_aws, for the tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bedrock_support import (
    REGION,
    Lineage,
)
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from iterft.local.bedrock import BedrockStandIn, install_bedrock_standin, standin_backend


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    install_bedrock_standin()


@pytest.fixture
def aws(credentials: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def lineage(aws: None) -> Lineage:
    return Lineage()


@pytest.fixture
def standin(aws: None) -> BedrockStandIn:
    return standin_backend(DEFAULT_ACCOUNT_ID, REGION)
