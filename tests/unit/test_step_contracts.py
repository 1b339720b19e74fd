"""Every JSONPath the synthesized state machine reads or writes resolves against the step contracts
(lambda/iterft_runtime/models/steps.py): a field renamed in a model, or a path renamed in the workflow,
fails here rather than in an integration run."""

from __future__ import annotations

import copy
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from iterft_runtime.models import steps
from iterft_runtime.models.records import DatasetRef
from iterft_runtime.models.steps import STEP_INPUTS, STEP_RESULTS, BeginResult, RoundState, StepModel
from pydantic import BaseModel, create_model
from template_support import SYNTHESIZED, state_machine_definitions, synthesized

from stacks.app_builder import SynthResult

_PATH = re.compile(r"(?<!\$)\$(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?![A-Za-z0-9_.$])")
"""A reference path inside a value or an intrinsic function (`$$.` context paths are left out)."""
_PATH_KEYS = ("InputPath", "OutputPath", "ItemsPath", "TimeoutSecondsPath", "HeartbeatSecondsPath")


def _models(annotation: Any) -> list[Any]:
    """The types a field may hold, Optional and list unwrapped."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [
            inner for arg in typing.get_args(annotation) if arg is not type(None) for inner in _models(arg)
        ]
    if origin is list:
        return _models(typing.get_args(annotation)[0])
    return [annotation]


def resolve(model: Any, path: str) -> tuple[Any, str | None]:
    """The type at `path` under `model`, or the problem: a name no model on the way declares."""
    current: list[Any] = [model]
    for name in [part for part in path.split(".")[1:] if part]:
        found: list[Any] = []
        for candidate in current:
            if not (isinstance(candidate, type) and issubclass(candidate, BaseModel)):
                return Any, None  # a dict or Any: not typed further
            field = candidate.model_fields.get(name)
            if field is not None:
                found += _models(field.annotation)
        if not found:
            return None, f"{path}: {name!r} is not a field of {', '.join(c.__name__ for c in current)}"
        current = found
    return (current[0] if len(current) == 1 else current), None


def _fields(target: Any) -> set[str] | None:
    models = [m for m in _models(target) if isinstance(m, type) and issubclass(m, BaseModel)]
    return {name for m in models for name in m.model_fields} if models else None


def _values(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every `(where, path)` a Parameters-like block reads."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(".$") and isinstance(item, str):
                for path in _PATH.findall(item):
                    yield f"{where}.{key}", path
            else:
                yield from _values(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _values(item, where)


def check(
    definition: dict[str, Any],
    template: dict[str, Any],
    document: type[BaseModel] = RoundState,
    results: dict[str, type[BaseModel]] = STEP_RESULTS,
) -> list[str]:
    """Every problem of the definition's paths against the contracts, `state: what`."""
    handlers = {
        logical_id: resource["Properties"]["Handler"].split(".")[-2]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function" and "Handler" in resource.get("Properties", {})
    }
    problems: list[str] = []

    def read(state: str, model: Any, path: str) -> Any:
        found, problem = resolve(model, path)
        if problem:
            problems.append(f"{state}: {problem}")
        return found

    def walk(states: dict[str, Any], model: type[BaseModel], prefix: str) -> None:
        for name, state in states.items():
            where = prefix + name
            resource = state.get("Resource")
            function = resource.rsplit(":", 1)[-1] if isinstance(resource, str) else None
            step = handlers.get(function or "")
            for key in _PATH_KEYS:
                if isinstance(state.get(key), str) and state[key].startswith("$."):
                    base = STEP_INPUTS.get(step or "", model) if key == "OutputPath" and step else model
                    read(where, base, state[key])
            for choice in _choices(state.get("Choices", [])):
                read(where, model, choice)
            for block in ("Parameters", "ItemSelector", "ResultSelector", "Arguments"):
                for at, path in _values(state.get(block), block):
                    read(f"{where} {at}", model, path)
            inner = model
            if "ItemSelector" in state:
                inner = STEP_INPUTS["score_shard"]
                _keys(where, state["ItemSelector"], inner, problems)
            if step in STEP_INPUTS and isinstance(state.get("Parameters"), dict):
                _keys(where, state["Parameters"], STEP_INPUTS[step], problems)
            result_path = state.get("ResultPath")
            if isinstance(result_path, str):
                target = model if result_path == "$" else read(where, model, result_path)
                if step is not None and target is not None and results[step] not in _models(target):
                    problems.append(f"{where}: {result_path} holds {target}, not {results[step].__name__}")
                for block in ("Parameters", "Result"):
                    if state["Type"] == "Pass" and isinstance(state.get(block), dict):
                        _keys(where, state[block], target, problems)
            for catch in state.get("Catch", []):
                if catch.get("ResultPath"):
                    read(f"{where} Catch", model, catch["ResultPath"])
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                walk(processor["States"], inner, f"{where}/")
            for index, branch in enumerate(state.get("Branches", [])):
                walk(branch["States"], model, f"{where}[{index}]/")

    walk(definition["States"], document, "")
    return problems


def _choices(rules: list[dict[str, Any]]) -> Iterator[str]:
    for rule in rules:
        if "Variable" in rule:
            yield rule["Variable"]
        for key, value in rule.items():
            if key.endswith("Path") and isinstance(value, str) and value.startswith("$."):
                yield value
        for nested in [*rule.get("And", []), *rule.get("Or", []), *([rule["Not"]] if "Not" in rule else [])]:
            yield from _choices([nested])


def _keys(where: str, block: dict[str, Any], target: Any, problems: list[str]) -> None:
    """The keys a Parameters / Result / ItemSelector block writes are fields of the model it feeds."""
    declared = _fields(target)
    if declared is None:
        return
    for key in block:
        if key.removesuffix(".$") not in declared:
            problems.append(f"{where}: writes {key.removesuffix('.$')!r}, not a field of its model")


@pytest.fixture(scope="module", params=SYNTHESIZED)
def synth(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synthesized(request.param, tmp_path_factory)


def test_every_path_of_the_workflow_resolves_against_the_step_contracts(synth: SynthResult) -> None:
    definitions = state_machine_definitions(synth)
    assert definitions
    for definition in definitions.values():
        assert check(definition, synth.template) == []


def test_a_renamed_field_is_reported(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A copy of Begin's result with `job_name` renamed: every state reading `$.round.job_name` says so."""
    synth = synthesized("dev", tmp_path_factory)
    (definition,) = state_machine_definitions(synth).values()
    fields: dict[str, Any] = {
        ("job" if name == "job_name" else name): (field.annotation, field)
        for name, field in BeginResult.model_fields.items()
    }
    renamed = create_model("BeginResult", __base__=StepModel, **fields)
    document = create_model("RoundState", __base__=RoundState, round=(renamed | None, None))
    results = {**STEP_RESULTS, "begin": renamed, "begin_rollback": document}
    problems = check(definition, synth.template, document, results)
    assert any("Fine-tune candidate" in problem and "$.round.job_name" in problem for problem in problems)
    assert all("job_name" in problem for problem in problems), problems


def test_a_renamed_path_in_the_definition_is_reported(tmp_path_factory: pytest.TempPathFactory) -> None:
    synth = synthesized("dev", tmp_path_factory)
    (definition,) = state_machine_definitions(synth).values()
    changed = copy.deepcopy(definition)
    changed["States"]["Promote?"]["Choices"][0]["Variable"] = "$.decision.promoted"
    assert check(changed, synth.template) == [
        "Promote?: $.decision.promoted: 'promoted' is not a field of DecisionResult"
    ]


def test_every_step_handler_has_a_result_model() -> None:
    handlers = Path(steps.__file__).parents[1] / "handlers"
    # curate is no workflow state: its request and result are models/curation.py
    not_steps = {"__init__", "settings", "trigger", "reconcile", "curate", "stack_resources", "grade"}
    assert {path.stem for path in handlers.glob("*.py")} - not_steps == set(STEP_RESULTS)


def test_the_execution_input_names_its_dataset() -> None:
    lineage = {"name": "bot", "base_model": "amazon.nova-micro-v1:0:128k"}
    dataset = {"bucket": "data", "key": "incoming/bot/a.jsonl", "version_id": "v1", "etag": "e", "size": 9}
    doc = RoundState.model_validate(
        {"kind": "round", "lineage": lineage, "iteration": "2", "dataset": {**dataset, "uploaded_at": "t"}}
    )
    assert (doc.lineage.name, doc.iteration) == ("bot", 2)
    assert doc.dataset_ref == DatasetRef("data", "incoming/bot/a.jsonl", "v1", "e", 9, "t")
    rollback = {"to_iteration": 1, "requested_by": "ana", "reason": "r"}
    with pytest.raises(ValueError, match="is a rollback"):
        _ = RoundState.model_validate(
            {"kind": "rollback", "lineage": lineage, "iteration": 3, "rollback": rollback}
        ).dataset_ref
