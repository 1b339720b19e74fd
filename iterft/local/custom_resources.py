"""CloudFormation's stack lifecycle as the embedded default runs it: custom resources, deletion, status.

moto 5.2.5's CloudFormation sends a custom resource's function only a Create request, asynchronously,
to a Docker container, and ignores updates and deletions of it; it deletes a stack's resources in no
particular order, deletes a non-empty bucket by silently leaving it, and shows no status while a stack
is updated or deleted. Each point is adapted here, one named function each, with a test in
tests/emulator/test_custom_resources.py:

* `adapt_custom_resources`: Create, Update (with `OldResourceProperties`) and Delete requests go to the
  function's real handler, run in-process as its role (every request IAM-checked, adapters.invoke_function),
  synchronously; the handler answers by PUT to the request's ResponseURL, here a loopback receiver. A
  FAILED answer, or none, fails the stack operation with the handler's reason. An Update answered with
  a new PhysicalResourceId is a replacement: the old one gets its Delete, as in CloudFormation's cleanup.
* `adapt_deletion_order`: a stack's resources are deleted in reverse dependency order (Ref, GetAtt,
  Sub, DependsOn), as CloudFormation does, so a custom resource's Delete runs while its function and
  role exist; `DeletionPolicy: Retain` (and `RetainExceptOnCreate`) resources are kept.
* `adapt_bucket_deletion`: CloudFormation fails to delete a bucket that still holds objects (AWS:
  `BucketNotEmpty`, DELETE_FAILED); moto would report it deleted and leave it.
* `adapt_stack_status`: DescribeStacks says `UPDATE_IN_PROGRESS` / `DELETE_IN_PROGRESS` while the
  resources of an update or a deletion are handled (finding the stack by its id meanwhile), which the
  stack's handler asks to tell a stack deletion from a resource an update removed.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.cloudformation.custom_model import CustomModel
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Stack
from moto.cloudformation.parsing import ResourceMap
from moto.s3.exceptions import BucketNotEmpty
from moto.s3.models import FakeBucket, s3_backends
from moto.utilities.utils import get_partition

RETAINED = frozenset({"Retain", "RetainExceptOnCreate", "Snapshot"})


class CustomResourceFailed(ValidationError):
    """The handler answered FAILED (or not at all): the stack operation fails with its reason."""


# --- template dependencies -----------------------------------------------------------------------------


def references(value: Any) -> set[str]:
    """Logical ids a template fragment refers to (Ref, Fn::GetAtt, ${Id} in Fn::Sub)."""
    if isinstance(value, list):
        return set().union(*(references(item) for item in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found: set[str] = set()
    for key, item in value.items():
        if key == "Ref" and isinstance(item, str):
            found.add(item)
        elif key == "Fn::GetAtt":
            found.add(item[0] if isinstance(item, list) else str(item).split(".")[0])
        elif key == "Fn::Sub":
            text = item[0] if isinstance(item, list) else item
            found |= {match.split(".")[0] for match in re.findall(r"\$\{([^!}][^}]*)\}", str(text))}
            found |= references(item[1:] if isinstance(item, list) else [])
        else:
            found |= references(item)
    return found


def dependencies(resource: dict[str, Any]) -> set[str]:
    depends_on = resource.get("DependsOn", [])
    return references(resource.get("Properties", {})) | set(
        [depends_on] if isinstance(depends_on, str) else depends_on
    )


def deletion_order(resources: dict[str, Any]) -> list[str]:
    """Every logical id after everything that depends on it (CloudFormation's deletion order)."""
    created: list[str] = []
    seen: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in seen:
            return
        seen.add(logical_id)
        for dependency in sorted(dependencies(resources[logical_id]) & set(resources)):
            visit(dependency)
        created.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return list(reversed(created))


# --- the ResponseURL ---------------------------------------------------------------------------------


class _Receiver:
    """A loopback HTTP endpoint for custom resource answers (CloudFormation's pre-signed S3 URL)."""

    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request_id = self.path.rsplit("/", 1)[-1]
                receiver.answers[request_id] = json.loads(body or b"{}")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cfn-response/"
        threading.Thread(target=self.server.serve_forever, name="cfn-response", daemon=True).start()


_receiver: _Receiver | None = None
_lock = threading.Lock()


def _response_url(request_id: str) -> str:
    global _receiver
    with _lock:
        if _receiver is None:
            _receiver = _Receiver()
        return _receiver.url + request_id


def send_request(
    account_id: str,
    region: str,
    request_type: str,
    model: CustomModel,
    properties: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """Send one request to the resource's function, run it, and return its SUCCESS answer."""
    from iterft.local.adapters import invoke_function  # adapters imports moto's Step Functions parser

    request_id = str(uuid.uuid4())
    event = {
        "RequestType": request_type,
        "ServiceToken": properties["ServiceToken"],
        "ResponseURL": _response_url(request_id),
        "StackId": model.stack_id,  # type: ignore[attr-defined]  # set by _model
        "RequestId": request_id,
        "LogicalResourceId": model.logical_id,
        "ResourceType": model.resource_type,  # type: ignore[attr-defined]  # set by _model
        "ResourceProperties": properties,
        **extra,
    }
    function = get_lambda_backend(account_id, region).get_function(properties["ServiceToken"])
    payload, errored = invoke_function(function, event)
    answer = _receiver.answers.pop(request_id, None) if _receiver else None
    where = f"{model.logical_id} ({model.resource_type}) {request_type}"  # type: ignore[attr-defined]  # set by _model
    if answer is None:
        detail = payload.decode(errors="replace") if errored else "the function returned without answering"
        raise CustomResourceFailed(model.stack_id, f"{where}: no answer from its function: {detail}")  # type: ignore[attr-defined]  # set by _model
    if answer.get("Status") != "SUCCESS":
        raise CustomResourceFailed(model.stack_id, f"{where} failed: {answer.get('Reason')}")  # type: ignore[attr-defined]  # set by _model
    return answer


def _model(
    region: str,
    logical_id: str,
    physical_id: str,
    stack_id: str,
    resource_type: str,
    properties: dict[str, Any],
) -> CustomModel:
    # Abstract to mypy: moto leaves CustomModel's CloudFormation hooks to adapters (adapt_custom_resources).
    model = CustomModel(region, str(uuid.uuid4()), logical_id, physical_id)  # type: ignore[abstract]  # see above
    model.stack_id = stack_id  # type: ignore[attr-defined]  # carried for send_request
    model.resource_type = resource_type  # type: ignore[attr-defined]  # carried for send_request
    model.properties = properties  # type: ignore[attr-defined]  # carried for send_request
    model.set_data({})
    return model


def adapt_custom_resources() -> Iterator[tuple[Any, str, Any]]:
    """Replacements for moto's CustomModel: (owner, attribute, value) for the caller to apply."""

    def create(
        cls: type[CustomModel],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CustomModel:
        properties = cloudformation_json["Properties"]
        model = _model(
            region_name,
            kwargs["LogicalId"],
            resource_name,
            kwargs["StackId"],
            kwargs["ResourceType"],
            properties,
        )
        answer = send_request(account_id, region_name, "Create", model, properties)
        model.resource_name = str(answer.get("PhysicalResourceId") or resource_name)
        return model

    def update(
        cls: type[CustomModel],
        original_resource: CustomModel,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CustomModel:
        properties = cloudformation_json["Properties"]
        old = original_resource
        stack_id, resource_type = old.stack_id, old.resource_type  # type: ignore[attr-defined]  # set by _model
        model = _model(
            region_name, old.logical_id, old.physical_resource_id, stack_id, resource_type, properties
        )
        answer = send_request(
            account_id,
            region_name,
            "Update",
            model,
            properties,
            PhysicalResourceId=old.physical_resource_id,
            OldResourceProperties=old.properties,  # type: ignore[attr-defined]  # set by _model
        )
        model.resource_name = str(answer.get("PhysicalResourceId") or old.physical_resource_id)
        if model.resource_name != old.physical_resource_id:  # replaced: the old one is deleted in cleanup
            old.delete(account_id, region_name)  # type: ignore[attr-defined]  # added by this adapter
        return model

    def delete(self: CustomModel, account_id: str, region_name: str) -> None:
        send_request(
            account_id,
            region_name,
            "Delete",
            self,
            self.properties,  # type: ignore[attr-defined]  # set by _model
            PhysicalResourceId=self.physical_resource_id,
        )

    # mypy takes type[CustomModel] (abstract, as above) for no match of classmethod's type[Any].
    yield CustomModel, "create_from_cloudformation_json", classmethod(create)  # type: ignore[arg-type]  # see above
    yield CustomModel, "update_from_cloudformation_json", classmethod(update)
    yield CustomModel, "delete", delete


def adapt_deletion_order() -> Iterator[tuple[Any, str, Any]]:
    def delete(self: ResourceMap) -> None:
        resources = self._resource_json_map
        for logical_id in deletion_order(resources):
            if resources[logical_id].get("DeletionPolicy") in RETAINED:
                continue
            parsed = self._parsed_resources.get(logical_id)
            if parsed is None or isinstance(parsed, str):
                continue
            self._delete_resource(parsed, resources[logical_id])
            self._parsed_resources.pop(logical_id)

    yield ResourceMap, "delete", delete


def adapt_bucket_deletion() -> Iterator[tuple[Any, str, Any]]:
    def delete(
        cls: type[FakeBucket], resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        backend = s3_backends[account_id][get_partition(region_name)]
        if backend.get_bucket(resource_name).keys:
            raise BucketNotEmpty(resource_name)
        backend.delete_bucket(resource_name)

    yield FakeBucket, "delete_from_cloudformation_json", classmethod(delete)


def adapt_stack_status(
    original_update: Callable[..., None], original_delete_stack: Callable[[CloudFormationBackend, str], None]
) -> Iterator[tuple[Any, str, Any]]:
    def update(self: Stack, *args: Any, **kwargs: Any) -> None:
        previous = self.status
        self.status = "UPDATE_IN_PROGRESS"
        try:
            original_update(self, *args, **kwargs)
        except BaseException:
            self.status = "UPDATE_ROLLBACK_COMPLETE" if previous != "CREATE_PENDING" else previous
            raise

    def delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
        try:
            stack = self.get_stack(name_or_stack_id)
        except ValidationError:
            return original_delete_stack(self, name_or_stack_id)
        stack.status = "DELETE_IN_PROGRESS"
        self.deleted_stacks[stack.stack_id] = stack  # found by id while its resources are deleted
        try:
            return original_delete_stack(self, stack.stack_id)
        except BaseException:
            self.deleted_stacks.pop(stack.stack_id, None)
            self.stacks[stack.stack_id] = stack
            stack.status = "DELETE_FAILED"
            raise

    yield Stack, "update", update
    yield CloudFormationBackend, "delete_stack", delete_stack


def lifecycle_adaptations() -> list[tuple[Any, str, Any]]:
    """Every replacement above, for adapters.install_adapters to apply (and restore)."""
    return [
        *adapt_custom_resources(),
        *adapt_deletion_order(),
        *adapt_bucket_deletion(),
        *adapt_stack_status(Stack.update, CloudFormationBackend.delete_stack),
    ]
