"""Every AWS SDK call the Lambda runtime makes, read from its source (an AST walk, not a hand list).

The runtime obtains clients only through `iterft_runtime.dal.clients.client("<service>")`. A client
is followed from that call to the methods called on it: directly (`client("s3").put_object(...)`),
through a local name (`bedrock = client("bedrock")`, then `bedrock.get_...(...)`), or through a
property that returns it (`Registry._db`, then `self._db.query(...)`). Any other use of a client, a
service name that is not a string literal, or a client built some other way (boto3 directly) is
reported as untraceable, so the walk cannot silently miss calls.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CLIENTS_MODULE = "iterft_runtime.dal.clients"
CLIENT_FACTORY = "client"
CLIENT_ATTRIBUTES = frozenset({"exceptions", "meta"})
"""Client attributes that are not operations (error classes, the client's metadata)."""
CLIENT_MAKERS = frozenset({"boto3", "boto3.session", "botocore.session", "botocore.client"})
"""Modules that build clients; `boto3.dynamodb.types` and `botocore.exceptions` build none."""
LIBRARY_CALLS: dict[str, dict[str, tuple[str, str]]] = {
    # aws_lambda_powertools/utilities/parameters/ssm.py: get_parameter -> SSMProvider._get ->
    # client.get_parameter; get_parameters -> SSMProvider._get_multiple ->
    # get_paginator("get_parameters_by_path").
    "aws_lambda_powertools.utilities.parameters": {
        "get_parameter": ("ssm", "get_parameter"),
        "get_parameters": ("ssm", "get_paginator:get_parameters_by_path"),
    },
}
"""Library functions the runtime calls that call AWS with their own client, by module: function ->
(service, client method). A function of these modules missing here is reported as untraceable."""
UNMAPPED_SDK_LIBRARIES = tuple(
    f"aws_lambda_powertools.utilities.{name}"
    for name in ("idempotency", "feature_flags", "streaming", "data_masking")
)
"""Powertools utilities that call AWS themselves: importing one needs its calls in LIBRARY_CALLS first."""


@dataclass(frozen=True)
class SdkCall:
    service: str
    method: str
    """The client method called (`get_model_customization_job`, `get_paginator`, `copy`, ...)."""
    argument: str | None
    """The first argument when it is a string literal (a paginator's or waiter's name)."""
    where: str
    """`path:line`, relative to the repository."""


class UntraceableClient(AssertionError):
    """A client use the walk cannot follow to its operations."""


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _factory_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names bound to the client factory (`from ...clients import client`) and to its module."""
    functions: set[str] = set()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == CLIENTS_MODULE:
            functions |= {alias.asname or alias.name for alias in node.names if alias.name == CLIENT_FACTORY}
        elif isinstance(node, ast.ImportFrom) and f"{node.module}.clients" == CLIENTS_MODULE:
            modules |= {alias.asname or alias.name for alias in node.names if alias.name == "clients"}
    return functions, modules


def _is_factory_call(node: ast.AST, functions: set[str], modules: set[str]) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return func.id in functions
    return (
        isinstance(func, ast.Attribute)
        and func.attr == CLIENT_FACTORY
        and isinstance(func.value, ast.Name)
        and func.value.id in modules
    )


def _enclosing_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST | None:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return node
    return None


class _Walk:
    def __init__(self, path: Path, relative: str) -> None:
        self.relative = relative
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.parents = _parents(self.tree)
        self.calls: list[SdkCall] = []

    def where(self, node: ast.AST) -> str:
        return f"{self.relative}:{getattr(node, 'lineno', '?')}"

    def untraceable(self, node: ast.AST, why: str) -> UntraceableClient:
        return UntraceableClient(f"{self.where(node)}: {why}: {ast.unparse(node)}")

    def use(self, receiver: ast.AST, service: str) -> None:
        """`receiver` evaluates to the client of `service`: record what is called on it."""
        attribute = self.parents.get(receiver)
        if not isinstance(attribute, ast.Attribute) or attribute.value is not receiver:
            raise self.untraceable(receiver, f"a {service} client used other than by calling its methods")
        if attribute.attr in CLIENT_ATTRIBUTES:
            return
        call = self.parents.get(attribute)
        if not isinstance(call, ast.Call) or call.func is not attribute:
            raise self.untraceable(attribute, f"a {service} client attribute read but not called")
        first = call.args[0] if call.args else None
        argument = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
        self.calls.append(SdkCall(service, attribute.attr, argument, self.where(call)))

    def follow(self, factory_call: ast.Call) -> None:
        if len(factory_call.args) != 1 or not isinstance(factory_call.args[0], ast.Constant):
            raise self.untraceable(factory_call, "the service is not a string literal")
        service = str(factory_call.args[0].value)
        parent = self.parents.get(factory_call)
        if isinstance(parent, ast.Attribute):
            self.use(factory_call, service)
        elif isinstance(parent, ast.Assign) and [type(t) for t in parent.targets] == [ast.Name]:
            self.follow_name(parent, parent.targets[0].id, service)  # type: ignore[attr-defined]
        elif isinstance(parent, ast.Return):
            self.follow_property(parent, service)
        else:
            raise self.untraceable(factory_call, "a client neither called, named locally nor returned")

    def follow_name(self, assign: ast.Assign, name: str, service: str) -> None:
        """Every use of the local `name` in the function that binds it."""
        scope = _enclosing_function(assign, self.parents) or self.tree
        for node in ast.walk(scope):
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
                self.use(node, service)

    def follow_property(self, returned: ast.Return, service: str) -> None:
        """Every use of the function that returns the client: `self.<name>` for a property, else calls."""
        function = _enclosing_function(returned, self.parents)
        if not isinstance(function, ast.FunctionDef):
            raise self.untraceable(returned, "a client returned outside a function")
        is_property = any(
            isinstance(decorator, ast.Name) and decorator.id == "property"
            for decorator in function.decorator_list
        )
        for node in ast.walk(self.tree):
            named = (isinstance(node, ast.Name) and node.id == function.name) or (
                isinstance(node, ast.Attribute) and node.attr == function.name
            )
            if not named or node is function:
                continue
            if is_property:
                self.use(node, service)
                continue
            call = self.parents.get(node)
            if not isinstance(call, ast.Call) or call.func is not node:
                raise self.untraceable(node, f"{function.name}, which returns a {service} client, not called")
            self.use(call, service)

    def run(self) -> list[SdkCall]:
        functions, modules = _factory_names(self.tree)
        libraries = self.library_names()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                self.refuse_direct_boto3(node)
            if _is_factory_call(node, functions, modules):
                self.follow(node)  # type: ignore[arg-type]
            elif isinstance(node, ast.Name) and node.id in libraries:
                self.library_call(node, libraries[node.id])
        return self.calls

    def library_names(self) -> dict[str, str]:
        """Local names of LIBRARY_CALLS modules (`from aws_lambda_powertools.utilities import parameters`)."""
        names: dict[str, str] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    module = f"{node.module}.{alias.name}"
                    if module in LIBRARY_CALLS:
                        names[alias.asname or alias.name] = module
                    elif (node.module or "").startswith(UNMAPPED_SDK_LIBRARIES) or module.startswith(
                        UNMAPPED_SDK_LIBRARIES
                    ):
                        raise self.untraceable(node, "a library that calls AWS itself, not in LIBRARY_CALLS")
        return names

    def library_call(self, name: ast.Name, module: str) -> None:
        attribute = self.parents.get(name)
        call = self.parents.get(attribute) if isinstance(attribute, ast.Attribute) else None
        if not isinstance(call, ast.Call) or call.func is not attribute:
            raise self.untraceable(name, f"{module} used other than by calling its functions")
        mapped = LIBRARY_CALLS[module].get(attribute.attr)  # type: ignore[union-attr]
        if mapped is None:
            raise self.untraceable(call, f"{module}.{attribute.attr} is not in LIBRARY_CALLS")  # type: ignore[union-attr]
        service, method = mapped
        method, _, argument = method.partition(":")
        self.calls.append(SdkCall(service, method, argument or None, self.where(call)))

    def refuse_direct_boto3(self, node: ast.Import | ast.ImportFrom) -> None:
        """Clients made with boto3 directly would escape the walk: only dal/clients.py may do that."""
        if self.relative.endswith("dal/clients.py"):
            return
        modules = (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
        for module in modules:
            if module in CLIENT_MAKERS:
                raise self.untraceable(node, "a client maker imported outside dal/clients.py")


def runtime_sdk_calls(package: Path, root: Path) -> Iterator[SdkCall]:
    """Every SDK call in the Python files under `package`, paths reported relative to `root`."""
    for path in sorted(package.rglob("*.py")):
        yield from _Walk(path, str(path.relative_to(root))).run()


def module_client_calls(path: Path) -> set[str]:
    """The methods a module calls on anything named `client` or `*_client` (s3transfer's style)."""
    methods: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            name = receiver.id if isinstance(receiver, ast.Name) else getattr(receiver, "attr", "")
            if name == "client" or name.endswith("_client"):
                methods.add(node.func.attr)
    return methods
