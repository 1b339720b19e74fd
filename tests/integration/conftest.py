"""One deployment of the integration environment (tests/fixtures/config/itest.yaml) per worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from iterft.local.session import LocalSession

CONFIG_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "config"


@pytest.fixture(scope="session")
def itest_session() -> Iterator[LocalSession]:
    session = LocalSession.start("itest", config_dir=CONFIG_DIR)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(autouse=True)
def no_iam_denials(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every request a handler, the state machine or a Bedrock service role made during the test was
    allowed by the template's IAM; a denial fails the test naming caller, action, resource and statement."""
    from iterft.local.iam import active_checker

    checker = active_checker()
    if checker is None:
        yield
        return
    checker.take_denials()
    yield
    denials = checker.take_denials()
    if denials:
        listed = "\n".join(f"- {denial.describe()}" for denial in denials)
        pytest.fail(f"{len(denials)} request(s) the template's IAM does not allow:\n{listed}", pytrace=False)
