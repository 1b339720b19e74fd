"""The Lambda layer carries its own SDK: pinned boto3/botocore with every operation the runtime calls,
every package at its constraints.txt version, nothing copyleft.

Lambda's python3.11 runtime ships a botocore of its own, updated on AWS's schedule (CreateCustomModel-
Deployment appeared in 1.40.0, UpdateCustomModelDeployment after 1.42.1): the layer bundles the SDK
the tests run, and these tests read what the layer holds (build/layer), not the test virtualenv.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import boto3
import botocore
import pytest
from layer_support import (
    layer_distributions,
    layer_operation,
    layer_paginators,
    layer_path,
    layer_services,
    layer_version,
    layer_waiter_operation,
    missing_operation,
    pins,
)
from runtime_sdk_calls import SdkCall, UntraceableClient, module_client_calls, runtime_sdk_calls

from stacks.functions import REPO_ROOT

RUNTIME = REPO_ROOT / "lambda" / "iterft_runtime"
TRANSFER_HELPERS = {
    ("s3", "copy"): ("s3transfer/copies.py", "s3transfer/tasks.py"),
    ("s3", "upload_fileobj"): ("s3transfer/upload.py", "s3transfer/tasks.py"),
}
"""Client methods boto3 injects (not operations), by the layer's s3transfer modules implementing them:
their operations are the client calls in those modules."""


# The SDK itself --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "package, tested", [("boto3", boto3.__version__), ("botocore", botocore.__version__)]
)
def test_layer_bundles_the_pinned_sdk_the_tests_run(package: str, tested: str) -> None:
    pinned = pins().get(package)
    assert pinned, f"constraints.txt pins no {package}"
    assert layer_version(package) == pinned == tested, (
        f"{package}: the Lambda layer holds {layer_version(package)}, constraints.txt pins {pinned}, "
        f"the tests run {tested}: rebuild the layer (`make setup`) from constraints.txt"
    )


def test_boto3_is_a_direct_requirement_of_the_layer() -> None:
    assert pins(REPO_ROOT / "lambda" / "requirements.txt").get("boto3") == pins()["boto3"]


def test_every_layer_package_has_its_constraints_version() -> None:
    pinned = pins()
    wrong = [
        f"{name} {dist.version} (constraints.txt: {pinned.get(name, 'not pinned')})"
        for name, dist in sorted(layer_distributions().items())
        if pinned.get(name) != dist.version
    ]
    assert not wrong, f"layer packages not at their constraints.txt pin: {', '.join(wrong)}"


# Every operation the runtime calls exists in the bundled botocore -----------------------------


def _methods(call: SdkCall) -> list[str]:
    """The client methods (operations in snake_case) a call stands for."""
    if call.method in ("get_paginator", "get_waiter"):
        if call.argument is None:
            raise AssertionError(f"{call.where}: {call.method} with a name that is not a string literal")
        if call.method == "get_waiter":
            return [layer_waiter_operation(call.service, call.argument) or f"(no waiter {call.argument})"]
        return [call.argument]
    helper = TRANSFER_HELPERS.get((call.service, call.method))
    if helper:
        return sorted(set().union(*(module_client_calls(layer_path(module)) for module in helper)))
    return [call.method]


def _problems(call: SdkCall) -> list[str]:
    if call.service not in layer_services():
        return [f"{call.where} uses a {call.service} client: the layer's botocore has no such service"]
    where = (
        call.where if (call.service, call.method) not in TRANSFER_HELPERS else f"{call.where} ({call.method})"
    )
    methods = _methods(call)
    problems = [
        missing_operation(call.service, m, where) for m in methods if not layer_operation(call.service, m)
    ]
    if call.method == "get_paginator" and not problems:
        operation = layer_operation(call.service, methods[0]).name  # type: ignore[union-attr]
        if operation not in layer_paginators(call.service):
            problems.append(f"{where}: the layer's botocore has no paginator for {call.service}:{operation}")
    return problems


@pytest.fixture(scope="module")
def runtime_calls() -> list[SdkCall]:
    return list(runtime_sdk_calls(RUNTIME, REPO_ROOT))


def test_every_operation_the_runtime_calls_is_in_the_bundled_botocore(runtime_calls: list[SdkCall]) -> None:
    problems = [problem for call in runtime_calls for problem in _problems(call)]
    assert not problems, "\n".join(problems)


def test_the_walk_finds_calls_in_every_module_that_makes_clients(runtime_calls: list[SdkCall]) -> None:
    """A walk that silently found nothing would pass the test above: each client-making module counts."""
    makers = {
        str(path.relative_to(REPO_ROOT))
        for path in RUNTIME.rglob("*.py")
        if "dal.clients import client" in path.read_text()
        or "utilities import parameters" in path.read_text()
    }
    found = {call.where.rsplit(":", 1)[0] for call in runtime_calls}
    assert makers and makers <= found, f"modules with clients but no call found: {sorted(makers - found)}"
    called = {method for call in runtime_calls for method in _methods(call)}
    assert {"create_custom_model_deployment", "update_custom_model_deployment", "copy_object"} <= called


WALKED = [
    ("foo(client('s3'))", "neither called, named locally nor returned"),
    ("client(name).get_object()", "not a string literal"),
    ("c = client('s3')\nhandlers.append(c)", "other than by calling its methods"),
    ("c = client('s3')\nc.put_object", "attribute read but not called"),
    ("def f():\n    return client('s3')\nx = f", "not called"),
    ("import boto3", "client maker imported"),
    ("parameters.set_parameter('x', 'y')", "not in LIBRARY_CALLS"),
]


@pytest.mark.parametrize("source, refusal", WALKED)
def test_the_walk_refuses_client_uses_it_cannot_follow(tmp_path: Path, source: str, refusal: str) -> None:
    module = tmp_path / "iterft_runtime" / "dal" / "module.py"
    module.parent.mkdir(parents=True)
    header = (
        "from iterft_runtime.dal.clients import client\n"
        "from aws_lambda_powertools.utilities import parameters\n"
    )
    module.write_text(header + textwrap.dedent(source) + "\n")
    with pytest.raises(UntraceableClient, match=refusal):
        list(runtime_sdk_calls(module.parent, tmp_path))


def test_the_walk_follows_locals_properties_and_helpers(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        textwrap.dedent(
            """
            from iterft_runtime.dal.clients import client

            class Store:
                @property
                def _db(self):
                    return client("dynamodb")

                def read(self):
                    return self._db.get_item(TableName="t", Key={})

            def _sfn():
                return client("stepfunctions")

            def run():
                bedrock = client("bedrock")
                bedrock.get_custom_model(modelIdentifier="m")
                _sfn().start_execution(stateMachineArn="a")
                client("s3").get_paginator("list_objects_v2")
                client("s3").exceptions.NoSuchKey
            """
        )
    )
    calls = {(call.service, call.method, call.argument) for call in runtime_sdk_calls(tmp_path, tmp_path)}
    assert calls == {
        ("dynamodb", "get_item", None),
        ("stepfunctions", "start_execution", None),
        ("bedrock", "get_custom_model", None),
        ("s3", "get_paginator", "list_objects_v2"),
    }


# Nothing copyleft in the Lambda asset ----------------------------------------------------------

COPYLEFT = re.compile(r"\b(A|L)?GPL|GNU (Affero |Lesser |Library )?General Public License", re.IGNORECASE)


def _license_fields(name: str) -> list[str]:
    meta = layer_distributions()[name].metadata
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return [value for value in (meta.get("License-Expression"), meta.get("License"), *classifiers) if value]


@pytest.mark.parametrize("name", sorted(layer_distributions()))
def test_no_layer_package_is_copyleft(name: str) -> None:
    fields = _license_fields(name)
    assert fields, (
        f"{name} in the Lambda layer declares no license (License-Expression, License, classifiers)"
    )
    copyleft = [field for field in fields if COPYLEFT.search(field)]
    assert not copyleft, (
        f"{name} in the Lambda layer is licensed {copyleft}: no GPL/AGPL/LGPL in the Lambda asset"
    )
