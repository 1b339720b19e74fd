"""Fixtures of the synthesized-template tests, loaded with `pytest_plugins = ("stack_template_fixtures",)`:
each environment of SYNTHESIZED synthesized once per module (template_support.Synths caches the synth)."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template
from template_support import SYNTHESIZED, Synths

from stacks.app_builder import SynthResult


@pytest.fixture(scope="module")
def synths(tmp_path_factory: pytest.TempPathFactory) -> Synths:
    return Synths(tmp_path_factory)


@pytest.fixture(params=SYNTHESIZED)
def synth(request: pytest.FixtureRequest, synths: Synths) -> SynthResult:
    return synths.result(request.param)


@pytest.fixture
def template(synth: SynthResult, synths: Synths) -> Template:
    return synths.template(synth.config.environment)
