"""The built Lambda layer as the tests read it: its distributions and its own botocore's service models.

Read from build/layer (what `make setup` builds and the stack packages), never from the test
virtualenv, so a check passes only if what ships to Lambda passes it.
"""

from __future__ import annotations

import functools
import re
from importlib import metadata
from pathlib import Path

import pytest
from botocore import xform_name
from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

from stacks.functions import LAYER_DIR, REPO_ROOT

LAYER_PYTHON = LAYER_DIR / "python"
CONSTRAINTS = REPO_ROOT / "constraints.txt"


def layer_path(relative: str) -> Path:
    """A path inside the layer's `python/` folder; fails the test when the layer was not built."""
    if not LAYER_PYTHON.is_dir():
        pytest.fail(f"{LAYER_PYTHON} is missing: run `make setup` (it builds the Lambda layer)")
    return LAYER_PYTHON / relative


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (`aws_lambda_powertools` = `aws-lambda-powertools`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def layer_distributions() -> dict[str, metadata.Distribution]:
    """Every distribution installed in the layer, by canonical name."""
    return {
        canonical(dist.metadata["Name"]): dist for dist in metadata.distributions(path=[str(layer_path(""))])
    }


def layer_version(name: str) -> str:
    dist = layer_distributions().get(canonical(name))
    if dist is None:
        pytest.fail(f"the Lambda layer ({LAYER_PYTHON}) does not contain {name}")
    return dist.version


def pins(path: Path = CONSTRAINTS) -> dict[str, str]:
    """A requirements file's `name==version` lines (constraints.txt by default), by canonical name."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            found[canonical(name)] = version.strip()
    return found


@functools.cache
def _loader() -> Loader:
    """botocore's Loader over the layer's own data folder only (not the virtualenv's botocore data)."""
    return Loader(extra_search_paths=[str(layer_path("botocore/data"))], include_default_search_paths=False)


def layer_services() -> list[str]:
    """The service names the layer's botocore has models for (`bedrock`, `bedrock-runtime`, ...)."""
    return list(_loader().list_available_services("service-2"))


@functools.cache
def layer_service_model(service: str) -> ServiceModel:
    return ServiceModel(_loader().load_service_model(service, "service-2"), service_name=service)


@functools.cache
def _operations_by_method(service: str) -> dict[str, str]:
    model = layer_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


def layer_operation(service: str, action: str) -> OperationModel | None:
    """The layer's model of `action` (an operation name, camelCase or snake_case, as botocore's
    xform_name maps client methods to operations); None when the layer's botocore has no such operation."""
    name = _operations_by_method(service).get(xform_name(action))
    return layer_service_model(service).operation_model(name) if name else None


def layer_paginators(service: str) -> set[str]:
    """The operations the layer's botocore can paginate (`get_paginator`)."""
    return set(_loader().load_service_model(service, "paginators-1")["pagination"])


def layer_waiter_operation(service: str, waiter: str) -> str | None:
    """The operation a waiter of the layer's botocore polls (`get_waiter(name)`), or None."""
    try:
        waiters = _loader().load_service_model(service, "waiters-2")["waiters"]
    except Exception:
        return None
    for name, spec in waiters.items():
        if xform_name(name) == waiter:
            return str(spec["operation"])
    return None


def missing_operation(service: str, action: str, where: str) -> str:
    """The failure message for an operation the layer's botocore lacks."""
    wanted = action[:1].upper() + action[1:] if "_" not in action else action.title().replace("_", "")
    return (
        f"{where} calls {service}:{wanted}, which the Lambda layer's botocore "
        f"{layer_version('botocore')} does not have (no such operation in "
        f"{LAYER_PYTHON.relative_to(REPO_ROOT)}/botocore/data/{service}/*/service-2.json)"
    )
