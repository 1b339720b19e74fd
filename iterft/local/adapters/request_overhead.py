"""What moto's server works out again on every request, remembered; behaviour unchanged.

Patches `DomainDispatcherApplication.get_backend_for_host` and `.infer_service_region_host`,
`BaseResponse._get_action`, `moto.core.responses.method_names_from_class`, the `boto3` of moto's
Step Functions `boto_client` module and `json_path.parse` (see `adapt_request_overhead`).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import boto3
import botocore.session
from moto.core import responses as moto_responses
from moto.core.responses import BaseResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.stepfunctions.parser.asl.utils import boto_client as sfn_boto_client
from moto.stepfunctions.parser.asl.utils import json_path

from iterft.local.adapters.state import STATE


class _ReusedClients:
    """Stands in for the `boto3` module inside moto's Step Functions `boto_client_for`: `client()` builds one
    client per service, region and endpoint and hands it out again (boto3 clients are thread-safe)."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(boto3, name)

    def client(self, **arguments: Any) -> Any:
        key = (arguments["service_name"], arguments["region_name"], arguments.get("endpoint_url"))
        with self._lock:
            existing = self._clients.get(key)
            if existing is None:
                existing = self._clients[key] = boto3.client(**arguments)
            return existing


def _first_segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0].split("?", 1)[0]


@functools.cache
def _runtime_first_segments() -> frozenset[str]:
    """The first path segments of Bedrock Runtime's operations (`model`, `guardrail`, `async-invoke`, ...)."""
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    return frozenset(
        _first_segment(model.operation_model(name).http["requestUri"]) for name in model.operation_names
    )


def _credential_scope(authorization: str | None) -> tuple[str, str] | None:
    """(region, signing name) of a SigV4 Authorization header, or None for anything else."""
    try:
        _, _, region, service, _ = (authorization or "").split(",")[0].split()[1].split("/")
    except (IndexError, ValueError):
        return None
    return region, service.lower()


def adapt_request_overhead() -> None:
    """Remember what moto's server otherwise works out again on every request; behaviour is unchanged.

    Each Converse call of an evaluation is one request, so this per-request work is what the evaluation
    benchmark measures on top of the stand-in's latency. Relies on:

    * `DomainDispatcherApplication.get_backend_for_host` (moto/moto_server/werkzeug_app.py): host -> backend,
      a pure function of the host that lists moto's package folders on disk and tries every service's URL
      pattern on each call; memoized per host.
    * `BaseResponse._get_action` (moto/core/responses.py): routes the request over the service's operations
      and is called three times per request (parse, dispatch, serialize); remembered per response object
      (moto builds one per request).
    * `moto.core.responses.method_names_from_class`: a class's method names by `inspect.getmembers`, per
      request; cached per class.
    * the module-level `boto3` of `moto.stepfunctions.parser.asl.utils.boto_client`, whose
      `boto_client_for` builds a new client (about 10 ms) for every Lambda or SDK Task state; see
      `_ReusedClients`.
    * `moto.stepfunctions.parser.asl.utils.json_path.parse` (jsonpath_ng's parser, run on every path of
      every state evaluation): parsed expressions are cached per path string.
    * `DomainDispatcherApplication.infer_service_region_host`: for requests signed `bedrock` it routes the
      path over the control plane's 130-odd operations, then Agents', before trying Bedrock Runtime's; a
      Converse path (`/model/<ARN with slashes>/converse`) makes the first two routers backtrack for about a
      millisecond. The runtime's paths begin with segments no other `bedrock`-signed service uses
      (`_runtime_first_segments`, checked by a test), so such a request is sent to the runtime directly.
    """
    backend_for_host = DomainDispatcherApplication.get_backend_for_host
    backends: dict[str | None, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in backends:
            backends[host] = backend_for_host(self, host)
        return backends[host]

    get_action = BaseResponse._get_action

    def remembered_action(self: BaseResponse) -> str:
        action = self.__dict__.get("_iterft_action")
        if not action:
            action = get_action(self)
            if action:
                self.__dict__["_iterft_action"] = action
        return action

    # moto imports it into `responses` without re-exporting it; that module's name is the one patched.
    method_names = moto_responses.method_names_from_class  # type: ignore[attr-defined]  # see above

    @functools.cache
    def method_names_of(clazz: object) -> frozenset[str]:
        return frozenset(method_names(clazz))

    infer_host = DomainDispatcherApplication.infer_service_region_host

    def infer_service_region_host(
        self: DomainDispatcherApplication, environ: dict[str, Any], path: str
    ) -> Any:
        scope = _credential_scope(environ.get("HTTP_AUTHORIZATION"))
        if scope is not None and scope[1] == "bedrock" and _first_segment(path) in _runtime_first_segments():
            return f"bedrock-runtime.{scope[0]}.amazonaws.com"
        return infer_host(self, environ, path)

    STATE.patches.replace(DomainDispatcherApplication, "get_backend_for_host", get_backend_for_host)
    STATE.patches.replace(DomainDispatcherApplication, "infer_service_region_host", infer_service_region_host)
    STATE.patches.replace(BaseResponse, "_get_action", remembered_action)
    STATE.patches.replace(moto_responses, "method_names_from_class", method_names_of)
    STATE.patches.replace(sfn_boto_client, "boto3", _ReusedClients())
    # jsonpath_ng's `parse`, imported into `json_path` without a re-export; the name there is patched.
    cached_parse = functools.lru_cache(maxsize=4096)(json_path.parse)  # type: ignore[attr-defined]  # see above
    STATE.patches.replace(json_path, "parse", cached_parse)
