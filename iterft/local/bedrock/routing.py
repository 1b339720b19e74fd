"""The moto routing of the Bedrock stand-in: moto's Bedrock and Bedrock Runtime routes lead to it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import moto.bedrock.urls as bedrock_urls
import moto.bedrockruntime.urls as bedrockruntime_urls
from moto.bedrock.responses import BedrockResponse
from moto.bedrockruntime.responses import BedrockRuntimeResponse
from moto.core.responses import ActionResult

from iterft.local.account_standin import account_backend, install_service_quotas_standin
from iterft.local.bedrock.backend import BedrockStandIn, standin_backend
from iterft.local.bedrock.invocation_logging import check_destination
from iterft.local.comprehend_standin import install_comprehend_standin


class BedrockStandInResponse(BedrockResponse):
    """Serves the Bedrock control plane from the stand-in; moto parses requests and serializes responses.

    Operations the stand-in does not implement (model invocation logging) fall through to moto's.

    moto annotates its own handlers of some operations as returning `str` (or `None`); its dispatch
    serializes an `ActionResult` just as well, hence the `override` ignores below.
    """

    def __init__(self) -> None:
        super().__init__()
        self.automated_parameter_parsing = True

    def _call(self, operation: Callable[[BedrockStandIn, Mapping[str, Any]], dict[str, Any]]) -> ActionResult:
        backend = standin_backend(self.current_account, self.region)
        result = operation(backend, self.params)
        backend.check_lost_response("".join(part.capitalize() for part in operation.__name__.split("_")))
        return ActionResult(result)

    def create_model_customization_job(self) -> ActionResult:  # type: ignore[override]  # see the class docstring
        return self._call(BedrockStandIn.create_model_customization_job)

    def get_model_customization_job(self) -> ActionResult:  # type: ignore[override]  # see the class docstring
        return self._call(BedrockStandIn.get_model_customization_job)

    def list_model_customization_jobs(self) -> ActionResult:  # type: ignore[override]  # see the class docstring
        return self._call(BedrockStandIn.list_model_customization_jobs)

    def create_evaluation_job(self) -> ActionResult:
        return self._call(BedrockStandIn.create_evaluation_job)

    def get_evaluation_job(self) -> ActionResult:
        return self._call(BedrockStandIn.get_evaluation_job)

    def list_evaluation_jobs(self) -> ActionResult:
        return self._call(BedrockStandIn.list_evaluation_jobs)

    def stop_evaluation_job(self) -> ActionResult:
        return self._call(BedrockStandIn.stop_evaluation_job)

    def stop_model_customization_job(self) -> ActionResult:  # type: ignore[override]  # see the class docstring
        return self._call(BedrockStandIn.stop_model_customization_job)

    def get_custom_model(self) -> ActionResult:  # type: ignore[override]  # see the class docstring
        return self._call(BedrockStandIn.get_custom_model)

    def list_custom_models(self) -> ActionResult:  # type: ignore[override]  # see the class docstring
        return self._call(BedrockStandIn.list_custom_models)

    def delete_custom_model(self) -> ActionResult:  # type: ignore[override]  # see the class docstring
        return self._call(BedrockStandIn.delete_custom_model)

    def create_custom_model_deployment(self) -> ActionResult:
        return self._call(BedrockStandIn.create_custom_model_deployment)

    def get_custom_model_deployment(self) -> ActionResult:
        return self._call(BedrockStandIn.get_custom_model_deployment)

    def list_custom_model_deployments(self) -> ActionResult:
        return self._call(BedrockStandIn.list_custom_model_deployments)

    def update_custom_model_deployment(self) -> ActionResult:
        return self._call(BedrockStandIn.update_custom_model_deployment)

    def delete_custom_model_deployment(self) -> ActionResult:
        return self._call(BedrockStandIn.delete_custom_model_deployment)

    def create_provisioned_model_throughput(self) -> ActionResult:
        return self._call(BedrockStandIn.create_provisioned_model_throughput)

    def get_provisioned_model_throughput(self) -> ActionResult:
        return self._call(BedrockStandIn.get_provisioned_model_throughput)

    def list_provisioned_model_throughputs(self) -> ActionResult:
        return self._call(BedrockStandIn.list_provisioned_model_throughputs)

    def update_provisioned_model_throughput(self) -> ActionResult:
        return self._call(BedrockStandIn.update_provisioned_model_throughput)

    def delete_provisioned_model_throughput(self) -> ActionResult:
        return self._call(BedrockStandIn.delete_provisioned_model_throughput)

    def tag_resource(self) -> ActionResult:  # type: ignore[override]  # see the class docstring
        return self._call(BedrockStandIn.tag_resource)

    def untag_resource(self) -> ActionResult:  # type: ignore[override]  # see the class docstring
        return self._call(BedrockStandIn.untag_resource)

    def list_tags_for_resource(self) -> ActionResult:  # type: ignore[override]  # see the class docstring
        return self._call(BedrockStandIn.list_tags_for_resource)

    def put_model_invocation_logging_configuration(self) -> None:
        """moto's, once the destination is one Bedrock could write to (invocation_logging)."""
        config = self.params.get("loggingConfig") or {}
        check_destination(self.current_account, self.region, config, self.partition)
        super().put_model_invocation_logging_configuration()

    def get_foundation_model_availability(self) -> ActionResult:
        backend = account_backend(self.current_account, self.region)
        return ActionResult(backend.foundation_model_availability(str(self.params["modelId"])))


class BedrockRuntimeStandInResponse(BedrockRuntimeResponse):
    """Serves Converse and InvokeModel from the stand-in; the response's request id is the one the call's
    invocation log record carries (invocation_logging)."""

    _request_id: str | None = None

    def converse(self) -> ActionResult:
        self._request_id = str(uuid.uuid4())
        backend = standin_backend(self.current_account, self.region)
        return ActionResult(backend.converse(self.params, self._request_id))

    def invoke_model(self) -> ActionResult:
        self._request_id = str(uuid.uuid4())
        backend = standin_backend(self.current_account, self.region)
        return ActionResult(backend.invoke_model(self.params, self._request_id))

    def _enrich_response(self, headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:  # type: ignore[override]  # moto's is a staticmethod, called on the instance
        headers, body = BedrockRuntimeResponse._enrich_response(headers, body)
        if self._request_id is not None:
            headers["x-amzn-requestid"] = self._request_id
        return headers, body


def _reroute(url_paths: dict[str, Any], original: Any, replacement: Any) -> None:
    routes = [path for path, handler in url_paths.items() if handler in (original, replacement)]
    if not routes:
        raise RuntimeError(
            f"moto's routes no longer lead to {original.__self__.__name__}: the Bedrock stand-in cannot be "
            "installed on this moto version (it is written for moto 5.2.5)."
        )
    for path in routes:
        url_paths[path] = replacement


def install_bedrock_standin() -> None:
    """Route moto's Bedrock and Bedrock Runtime requests to the stand-in. Idempotent.

    Call it before the first Bedrock request reaches a moto server (the server builds a service's
    routes once, on its first request). Patch points in moto 5.2.5, each exercised by
    tests/emulator/bedrock/test_bedrock_routing.py:

    1. `moto.bedrock.urls.url_paths`: every route to `BedrockResponse.dispatch` now leads to
       `BedrockStandInResponse.dispatch` (a subclass of moto's `BedrockResponse`). moto has no
       evaluation-job routes of its own: its catch-all `{0}/.*$` route carries `/evaluation-jobs...`
       and `/evaluation-job/{id}/stop` to the stand-in, and moto picks the operation from botocore's
       model, so methods named after the operations (`create_evaluation_job`, ...) serve them.
    2. `moto.bedrockruntime.urls.url_paths`: every route to `BedrockRuntimeResponse.dispatch` now leads
       to `BedrockRuntimeStandInResponse.dispatch` (a subclass of moto's `BedrockRuntimeResponse`).
    3. `moto.servicequotas.urls.url_paths`: Service Quotas answers Bedrock's quotas
       (`iterft.local.account_standin`, which also holds model access for GetFoundationModelAvailability).

    Also relied on, without patching: moto's request parsing and response serialization from
    botocore's models (`automated_parameter_parsing`, `ActionResult`, `ServiceException`), its
    `BackendDict` (the stand-in's state, reset with moto's), and its S3 backend
    (`moto.s3.models.s3_backends`: `get_object`, `get_bucket`, `put_object`) for job data and outputs.
    """
    _reroute(bedrock_urls.url_paths, BedrockResponse.dispatch, BedrockStandInResponse.dispatch)
    _reroute(
        bedrockruntime_urls.url_paths, BedrockRuntimeResponse.dispatch, BedrockRuntimeStandInResponse.dispatch
    )
    install_service_quotas_standin()  # model access (above, GetFoundationModelAvailability) and quotas
    install_comprehend_standin()  # DetectPiiEntities, which curation's redaction calls


def uninstall_bedrock_standin() -> bool:
    """Route moto's Bedrock and Bedrock Runtime requests back to moto's own responses; whether the
    stand-in was installed. For tests written against moto's Bedrock that share a process with
    the embedded default (install is process-wide)."""
    installed = BedrockStandInResponse.dispatch in bedrock_urls.url_paths.values()
    _reroute(bedrock_urls.url_paths, BedrockStandInResponse.dispatch, BedrockResponse.dispatch)
    _reroute(
        bedrockruntime_urls.url_paths, BedrockRuntimeStandInResponse.dispatch, BedrockRuntimeResponse.dispatch
    )
    return installed
