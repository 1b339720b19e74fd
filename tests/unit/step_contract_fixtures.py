"""The step contracts held against what the handlers really return, loaded with
`pytest_plugins = ("step_contract_fixtures",)`: every step handler a test calls has its result checked
against its model (models/steps.STEP_RESULTS), key for key, so a model that drifts from its handler
fails the handler's own tests."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from iterft_runtime.models.steps import STEP_RESULTS, dump


def assert_step_result(step: str, result: Any) -> None:
    """`result` validates as the step's model, and the model's dump is `result` again: same keys (those
    set to null too), same values."""
    model = STEP_RESULTS[step].model_validate(result)
    assert dump(model) == result, f"{step}: the dump of its {type(model).__name__} differs from its result"


def _checked(step: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    def checked(event: dict[str, Any], context: Any) -> Any:
        result = handler(event, context)
        assert_step_result(step, result)
        return result

    return checked


@pytest.fixture(autouse=True)
def checked_step_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step handler, wrapped: what it returns is checked against its result model."""
    for step in STEP_RESULTS:
        module = importlib.import_module(f"iterft_runtime.handlers.{step}")
        monkeypatch.setattr(module, "handler", _checked(step, module.handler))
