"""What a Bedrock account has beyond its resources, on the embedded default: model access and the
Bedrock quotas Service Quotas reports. `iterft doctor` reads both; moto has neither (its Service Quotas
backend knows only `vpc`, its Bedrock no `GetFoundationModelAvailability`).

- **Model access**: `GetFoundationModelAvailability` answers for the foundation models of the capability
  table (by on-demand id or customization id): authorized and entitled unless a test revoked access
  (`revoke_model_access`), available in a region where the table lists any capability of the model
  there. An id the table does not know is a `ResourceNotFoundException`.
- **Quotas**: `GetServiceQuota` with `ServiceCode=bedrock` answers the quotas in `BEDROCK_QUOTAS`, by the
  codes and names AWS uses, with `STANDIN_QUOTA_VALUE` unless a test set another value
  (`set_service_quota`). Nothing enforces them: the stand-in starts any number of jobs and throughputs
  (inject a refusal with the Bedrock stand-in's `throttle_next`). Other service codes go to moto.
- **Subscription confirmation**: moto lists every SNS subscription as confirmed. AWS lists one that
  needs its endpoint's owner to confirm it (e-mail, e-mail-json, HTTP, HTTPS) as `PendingConfirmation`
  until then; so does the stand-in, until a test confirms it (`confirm_subscription`: nobody can click
  the link offline). SQS and Lambda subscriptions in the account are confirmed at once, as on AWS.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import moto.servicequotas.urls as servicequotas_urls
import moto.sns.urls as sns_urls
from iterft_runtime.models import capabilities
from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.exceptions import JsonRESTError, ServiceException
from moto.core.responses import ActionResult
from moto.servicequotas.responses import ServiceQuotasResponse
from moto.sns.models import sns_backends
from moto.sns.responses import SNSResponse


@dataclass(frozen=True)
class Quota:
    code: str
    name: str


SCHEDULED_CUSTOMIZATION_JOBS = Quota("L-0406044C", "(Model customization) Scheduled customization jobs")
"""Customization jobs an account may have scheduled (submitted and not yet ended) at once."""
NO_COMMITMENT_CUSTOM_UNITS = Quota(
    "L-BE77399C", "Model units no-commitment Provisioned Throughputs across custom models"
)
"""Model units of no-commitment provisioned throughput across the account's custom models."""
BEDROCK_QUOTAS = (SCHEDULED_CUSTOMIZATION_JOBS, NO_COMMITMENT_CUSTOM_UNITS)
CONFIRMED_BY_OWNER = {"email", "email-json", "http", "https"}
"""Protocols whose subscriptions wait for the endpoint's owner to confirm them."""
STANDIN_QUOTA_VALUE = 100.0
"""What the stand-in reports for a quota nobody set: enough for any test deployment (none is enforced)."""


class AccountStandIn(BaseBackend):
    """One account and region: model access and Bedrock quota values."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self._lock = threading.RLock()
        self._revoked: set[str] = set()
        self._quotas: dict[str, float] = {}
        self._confirmed: set[str] = set()

    def revoke_model_access(self, model_id: str) -> None:
        """Model access to this foundation model (on-demand or customization id) is not granted."""
        with self._lock:
            self._revoked.add(_row(model_id).inference_id)

    def grant_model_access(self, model_id: str) -> None:
        with self._lock:
            self._revoked.discard(_row(model_id).inference_id)

    def set_service_quota(self, code: str, value: float | None) -> None:
        """The applied value of a Bedrock quota (None: back to STANDIN_QUOTA_VALUE)."""
        _quota(code)
        with self._lock:
            if value is None:
                self._quotas.pop(code, None)
            else:
                self._quotas[code] = float(value)

    def confirm_subscription(self, subscription_arn: str) -> None:
        """What the endpoint's owner does by following the link AWS sends (e-mail, HTTP)."""
        with self._lock:
            self._confirmed.add(subscription_arn)

    def is_pending(self, subscription_arn: str, protocol: str) -> bool:
        with self._lock:
            return protocol in CONFIRMED_BY_OWNER and subscription_arn not in self._confirmed

    def foundation_model_availability(self, model_id: str) -> dict[str, Any]:
        row = _row(model_id)
        available = any(
            self.region_name in fact for fact in (*row.customization.values(), row.on_demand, row.provisioned)
        )
        with self._lock:
            authorized = row.inference_id not in self._revoked
        return {
            "modelId": row.inference_id,
            "agreementAvailability": {"status": "AVAILABLE"},
            "authorizationStatus": "AUTHORIZED" if authorized else "NOT_AUTHORIZED",
            "entitlementAvailability": "AVAILABLE",
            "regionAvailability": "AVAILABLE" if available else "NOT_AVAILABLE",
        }

    def service_quota(self, code: str) -> dict[str, Any]:
        quota = _quota(code)
        with self._lock:
            value = self._quotas.get(code, STANDIN_QUOTA_VALUE)
        return {
            "ServiceCode": "bedrock",
            "ServiceName": "Amazon Bedrock",
            "QuotaArn": f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:bedrock/{code}",
            "QuotaCode": code,
            "QuotaName": quota.name,
            "Value": value,
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }


account_backends = BackendDict(AccountStandIn, "bedrock")


def account_backend(account_id: str, region: str) -> AccountStandIn:
    return account_backends[account_id][region]


class _NoSuchQuota(JsonRESTError):
    def __init__(self, code: str) -> None:
        super().__init__("NoSuchResourceException", f"The quota {code} of service bedrock does not exist.")


def _quota(code: str) -> Quota:
    found = next((quota for quota in BEDROCK_QUOTAS if quota.code == code), None)
    if found is None:
        raise _NoSuchQuota(code)
    return found


def _row(model_id: str) -> capabilities.ModelCapabilities:
    row = capabilities.find(model_id) or capabilities.by_inference_id(model_id)
    if row is None:
        raise ServiceException("ResourceNotFoundException", f"The model {model_id} does not exist.")
    return row


class ServiceQuotasStandInResponse(ServiceQuotasResponse):
    """moto's Service Quotas, with the stand-in's Bedrock quotas."""

    def get_service_quota(self) -> str:
        params = json.loads(self.body)
        if params.get("ServiceCode") != "bedrock":
            return super().get_service_quota()
        quota = account_backend(self.current_account, self.region).service_quota(str(params.get("QuotaCode")))
        return json.dumps({"Quota": quota})


class SNSStandInResponse(SNSResponse):
    """moto's SNS, listing unconfirmed subscriptions as AWS does (`PendingConfirmation`)."""

    def list_subscriptions_by_topic(self) -> ActionResult:
        topic_arn = self._get_param("TopicArn")
        subscriptions, next_token = self.backend.list_subscriptions_by_topic(
            topic_arn, next_token=self._get_param("NextToken")
        )
        account = account_backend(self.current_account, self.region)
        listed = [
            {
                "SubscriptionArn": "PendingConfirmation"
                if account.is_pending(item.arn, item.protocol)
                else item.arn,
                "Owner": item.owner,
                "Protocol": item.protocol,
                "Endpoint": item.endpoint,
                "TopicArn": item.topic_arn,
            }
            for item in subscriptions
        ]
        return ActionResult({"Subscriptions": listed, "NextToken": next_token})


def subscription_arns(account_id: str, region: str, topic_arn: str, endpoint: str) -> list[str]:
    """The ARNs of the topic's subscriptions to `endpoint` (what a test confirms)."""
    backend = sns_backends[account_id][region]
    return [
        item.arn
        for item in backend.subscriptions.values()
        if item.topic_arn == topic_arn and item.endpoint == endpoint
    ]


def _reroute(url_paths: dict[str, Any], original: Any, replacement: Any, service: str) -> None:
    routes = [path for path, handler in url_paths.items() if handler in (original, replacement)]
    if not routes:
        raise RuntimeError(f"moto's {service} routes moved: the stand-in is written for moto 5.2.5")
    for path in routes:
        url_paths[path] = replacement


def install_service_quotas_standin() -> None:
    """Route moto's Service Quotas and SNS requests through the stand-in's responses. Idempotent; call it
    before the first such request reaches a moto server (patch points: moto 5.2.5's
    `moto.servicequotas.urls.url_paths` and `moto.sns.urls.url_paths`)."""
    _reroute(
        servicequotas_urls.url_paths,
        ServiceQuotasResponse.dispatch,
        ServiceQuotasStandInResponse.dispatch,
        "Service Quotas",
    )
    _reroute(sns_urls.url_paths, SNSResponse.dispatch, SNSStandInResponse.dispatch, "SNS")
