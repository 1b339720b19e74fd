"""The IAM check of every request the embedded default serves on a principal's behalf.

`IamChecker.check_call` maps a client call to its IAM requests (requests.py), asks the simulator whether
the principal's policies, as deployed from the synthesized template, allow each one, and refuses the
call with the service's own AccessDenied error otherwise. Every refusal is also kept (`denials`), with
the caller, action, resource and the statement that would allow it, so a test can fail naming them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iterft.local.iam.environment import MotoEnvironment
from iterft.local.iam.principal import Principal
from iterft.local.iam.requests import Call, IamRequest, UnmappedOperation, requests_for
from iterft.local.iam.simulator import NodeSimulator

# The error each service answers an unauthorized call with (code, HTTP status).
_ACCESS_DENIED = {
    "s3": ("AccessDenied", 403),
    "sqs": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "cloudwatch": ("AccessDenied", 403),
}


@dataclass(frozen=True)
class Denial:
    """A request the template's policies do not allow."""

    principal: Principal
    request: IamRequest
    reason: str
    operation: str = ""

    def describe(self) -> str:
        context = (
            f" with {json.dumps(dict(self.request.context), sort_keys=True)}" if self.request.context else ""
        )
        wanted = {"Effect": "Allow", "Action": self.request.action, "Resource": self.request.resource}
        call = f" (for {self.operation})" if self.operation else ""
        return (
            f"{self.principal.caller} ({self.principal.role_arn}) may not {self.request.action} on "
            f"{self.request.resource}{context}{call}: {self.reason}. Missing statement: {json.dumps(wanted)}"
        )


class AccessDenied(Exception):
    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.describe())
        self.denial = denial


@dataclass
class IamChecker:
    """Checks requests against the deployed policies of one account, keeping every denial."""

    environment: MotoEnvironment
    simulator: NodeSimulator = field(default_factory=NodeSimulator)
    denials: list[Denial] = field(default_factory=list)
    checked: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _allowed: set[tuple[Any, ...]] = field(default_factory=set)
    """Requests allowed under the policies in force then: asked again only when the policies change."""

    def take_denials(self) -> list[Denial]:
        """The denials so far, forgotten once taken (one test's worth at a time)."""
        with self._lock:
            taken, self.denials = self.denials, []
        return taken

    def check_call(
        self, principal: Principal, service: str, operation: str, params: Any, region: str
    ) -> None:
        """Raise the service's AccessDenied ClientError unless every IAM request of the call is allowed."""
        call = Call(service, operation, params, region, principal.account_id, self.environment)
        try:
            requests = requests_for(call)
        except UnmappedOperation as error:
            request = IamRequest(f"{service}:{operation}", "?")
            reason = f"the embedded default cannot check {error} yet: map it in iterft/local/iam/requests.py"
            self._refuse(Denial(principal, request, reason, operation), service, operation)
            return
        for request in requests:
            try:
                self.authorize(principal, request, operation)
            except AccessDenied as error:
                self._raise_client_error(error.denial, service, operation)

    def authorize(self, principal: Principal, request: IamRequest, operation: str = "") -> None:
        """Raise AccessDenied (and keep the denial) unless `principal` may make `request`."""
        remembered: tuple[Any, ...] = (
            self.environment.policy_fingerprint(principal.role_arn),
            request.action,
            request.resource,
        )
        remembered += tuple(sorted((key, str(value)) for key, value in request.context.items()))
        if request.action.startswith("kms:"):
            remembered += (json.dumps(self.environment.key_policy(request.resource), sort_keys=True),)
        if remembered in self._allowed:
            return
        self._authorize(principal, request, operation)
        self._allowed.add(remembered)

    def _authorize(self, principal: Principal, request: IamRequest, operation: str) -> None:
        simulation = {
            "request": {
                "principal": _session_arn(principal),
                "action": request.action,
                "resource": {"resource": request.resource, "accountId": principal.account_id},
                "contextVariables": {**_global_context(principal, request), **request.context},
            },
            "identityPolicies": self.environment.identity_policies(principal.role_arn),
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
        }
        resource_policy = self._resource_policy(request)
        if resource_policy is not None:
            simulation["resourcePolicy"] = resource_policy
        self._decide(principal, request, simulation, operation)

    def authorize_service(self, service_principal: str, role_arn: str, context: dict[str, str]) -> None:
        """A service assuming a role: the role's trust policy must let `service_principal` in, under the
        request's aws:SourceAccount / aws:SourceArn."""
        request = IamRequest("sts:AssumeRole", role_arn, context)
        principal = Principal(service_principal, f"the service {service_principal}")
        simulation = {
            "request": {
                "principal": service_principal,
                "action": "sts:AssumeRole",
                "resource": {"resource": role_arn, "accountId": role_arn.split(":")[4]},
                "contextVariables": dict(context),
            },
            "identityPolicies": [],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "resourcePolicy": self.environment.trust_policy(role_arn),
        }
        self._decide(principal, request, simulation, "AssumeRole")

    def _resource_policy(self, request: IamRequest) -> Any:
        # A KMS key's policy must allow too (the default policy delegates to the account's IAM).
        if request.action.startswith("kms:"):
            return self.environment.key_policy(request.resource)
        return None

    def _decide(
        self, principal: Principal, request: IamRequest, simulation: dict[str, Any], operation: str
    ) -> None:
        with self._lock:
            self.checked += 1
        answer = self.simulator.evaluate(simulation)
        result = answer.get("result")
        if result == "Allowed":
            return
        if result == "Error":
            reason = f"the simulator refused the request: {json.dumps(answer.get('errors'))}"
        elif result == "ExplicitlyDenied":
            reason = f"explicitly denied ({json.dumps(answer.get('denials'))})"
        else:
            names = [policy["name"] for policy in simulation["identityPolicies"]]
            reason = f"no statement allows it (policies evaluated: {', '.join(names) or 'none'})"
        denial = Denial(principal, request, reason, operation)
        with self._lock:
            self.denials.append(denial)
        raise AccessDenied(denial)

    def _refuse(self, denial: Denial, service: str, operation: str) -> None:
        with self._lock:
            self.denials.append(denial)
        self._raise_client_error(denial, service, operation)

    @staticmethod
    def _raise_client_error(denial: Denial, service: str, operation: str) -> None:
        code, status = _ACCESS_DENIED.get(service, ("AccessDeniedException", 400))
        message = (
            f"User: {_session_arn(denial.principal)} is not authorized to perform: {denial.request.action} "
            f"on resource: {denial.request.resource} because {denial.reason}"
        )
        response: Any = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        raise ClientError(response, operation)


def _session_arn(principal: Principal) -> str:
    """The assumed-role session a role's caller signs as."""
    if ":role/" not in principal.role_arn:
        return principal.role_arn
    name = principal.role_arn.rsplit("/", 1)[-1]
    return f"arn:aws:sts::{principal.account_id}:assumed-role/{name}/iterft-embedded"


def _global_context(principal: Principal, request: IamRequest) -> dict[str, str]:
    """Global condition keys every signed request carries (SDK calls always use TLS)."""
    region = request.resource.split(":")[3] if request.resource.count(":") >= 5 else ""
    context = {
        "aws:SecureTransport": "true",
        "aws:PrincipalArn": principal.role_arn,
        "aws:PrincipalAccount": principal.account_id,
        "aws:PrincipalType": "AssumedRole",
    }
    if region:
        context["aws:RequestedRegion"] = region
    return context
