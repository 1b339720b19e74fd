"""IAM for the embedded default: every request a Lambda handler, the state machine or a Bedrock service role
makes is evaluated against the policies the synthesized template gives that caller, by an IAM simulator
this project did not write (@cloud-copilot/iam-simulate). See docs/embedded-default.md."""

from iterft.local.iam.checker import AccessDenied, Denial, IamChecker
from iterft.local.iam.hooks import (
    active_checker,
    authorize_as_service_role,
    authorize_assume_role,
    authorize_event_source,
    check_as_current,
    function_principal,
    install_iam_checks,
    uninstall_iam_checks,
)
from iterft.local.iam.principal import Principal, acting_as, current
from iterft.local.iam.requests import IamRequest
from iterft.local.iam.simulator import simulator_available

__all__ = [
    "AccessDenied",
    "Denial",
    "IamChecker",
    "IamRequest",
    "Principal",
    "acting_as",
    "active_checker",
    "authorize_as_service_role",
    "authorize_assume_role",
    "authorize_event_source",
    "check_as_current",
    "current",
    "function_principal",
    "install_iam_checks",
    "simulator_available",
    "uninstall_iam_checks",
]
