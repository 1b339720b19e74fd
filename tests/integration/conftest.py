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
