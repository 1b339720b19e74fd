"""Fixtures of the synthesized-template tests, loaded with `pytest_plugins = ("stack_template_fixtures",)`:
each environment of SYNTHESIZED synthesized once per session (per worker under xdist), shared by the
test_stack_template_*.py modules as it was by the one module they were split from."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template
from template_support import SYNTHESIZED, Synths

from stacks.app_builder import SynthResult


@pytest.fixture(scope="session")
def synths(tmp_path_factory: pytest.TempPathFactory) -> Synths:
    return Synths(tmp_path_factory)


@pytest.fixture(params=SYNTHESIZED)
def synth(request: pytest.FixtureRequest, synths: Synths) -> SynthResult:
    return synths.result(request.param)


@pytest.fixture
def template(synth: SynthResult, synths: Synths) -> Template:
    return synths.template(synth.config.environment)
