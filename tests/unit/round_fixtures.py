"""The round-step tests' fixture, loaded with `pytest_plugins = (..., "round_fixtures")`: the FakeBedrock
the promotion and clean-up handlers call (helpers: round_support.py)."""

from __future__ import annotations

import pytest
from iterft_runtime.handlers import clean_up, promote, retain_models, swap_serving
from runtime_support import FakeBedrock, install_fake_bedrock


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBedrock:
    return install_fake_bedrock(monkeypatch, promote, clean_up, swap_serving, retain_models)
