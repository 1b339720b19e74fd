"""Where the embedded default asks the IAM checker: every botocore call made while a thread acts as a
principal, and the few places where moto or the stand-in act for AWS without an API call.

Relies on moto 5.2.5 / botocore internals, each covered by tests/emulator/test_iam.py:
* `botocore.client.BaseClient._make_api_call`: every client call of the process passes there (paginators
  and s3transfer included), with the operation's name and the caller's own parameters (patched once, in
  iterft/local/api_calls.py, shared with the chaos injector);
* `moto.stepfunctions.parser.asl.component.eval_component.EvalComponent.eval`: every state, Map
  iteration and branch of an execution is evaluated there, on the interpreter's threads, with the
  execution's `Environment` (whose `aws_execution_details.role_arn` is the state machine's role);
* `concurrent.futures.ThreadPoolExecutor.submit`: work handed to a pool (s3transfer's copies) keeps its
  submitter's identity, as a Lambda function's threads all hold its credentials;
* `DistributedItemProcessorWorker._eval_job` (moto's Distributed Map, one call per child execution): Step
  Functions starts each child as the state machine's role, which needs states:StartExecution on the
  state machine itself (Distributed Map's IAM page).
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.client import BaseClient
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
    DistributedItemProcessorWorker,
)

from iterft.local.api_calls import add_call_wrapper, remove_call_wrapper
from iterft.local.iam.checker import AccessDenied, IamChecker
from iterft.local.iam.environment import MotoEnvironment
from iterft.local.iam.principal import Principal, acting_as, current, set_current
from iterft.local.iam.requests import IamRequest

_checker: IamChecker | None = None
_originals: list[tuple[Any, str, Any]] = []
IAM_WRAPPER = "iam"
"""The IAM checks' name among the call wrappers (api_calls.py)."""


def active_checker() -> IamChecker | None:
    """The installed checker, or None when the embedded default runs without IAM checks."""
    return _checker


@functools.lru_cache(maxsize=256)
def _state_machine_principal(role_arn: str) -> Principal:
    return Principal(role_arn, "the state machine")


def install_iam_checks(account_id: str) -> IamChecker:
    """Check every request made as a principal from now on; returns the checker (one per process)."""
    global _checker
    if _checker is not None:
        return _checker
    checker = IamChecker(MotoEnvironment(account_id))

    def checked_api_call(self: BaseClient, operation_name: str, api_params: Any, proceed: Any) -> Any:
        principal = current()
        if principal is not None:
            model = self.meta.service_model
            checker.check_call(
                principal, model.service_name, operation_name, api_params, self.meta.region_name
            )
        return proceed()

    evaluate = EvalComponent.eval

    def eval_as_execution_role(self: EvalComponent, env: Any) -> None:
        role_arn = env.aws_execution_details.role_arn
        acting = current()
        if acting is None or acting.role_arn != role_arn:
            set_current(_state_machine_principal(role_arn))
        evaluate(self, env)

    submit = ThreadPoolExecutor.submit

    def submit_as_submitter(self: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        principal = current()
        if principal is None:
            return submit(self, fn, *args, **kwargs)

        def run() -> Any:
            with acting_as(principal):
                return fn(*args, **kwargs)

        return submit(self, run)

    eval_job = DistributedItemProcessorWorker._eval_job

    def eval_child_execution(self: DistributedItemProcessorWorker, env: Any, job: Any) -> None:
        principal = current()
        if principal is not None:
            machine = self._map_run_record.map_state_machine_arn.split("/", 1)[0]
            checker.authorize(
                principal, IamRequest("states:StartExecution", machine), "Distributed Map child"
            )
        eval_job(self, env, job)

    for owner, name, value in (
        (DistributedItemProcessorWorker, "_eval_job", eval_child_execution),
        (EvalComponent, "eval", eval_as_execution_role),
        (ThreadPoolExecutor, "submit", submit_as_submitter),
    ):
        _originals.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)
    add_call_wrapper(IAM_WRAPPER, checked_api_call)
    _checker = checker
    return checker


def uninstall_iam_checks() -> None:
    global _checker
    remove_call_wrapper(IAM_WRAPPER)
    while _originals:
        owner, name, value = _originals.pop()
        setattr(owner, name, value)
    if _checker is not None:
        _checker.simulator.close()
    _checker = None


def function_principal(function: Any) -> Principal:
    """The identity a moto Lambda function's handler runs as."""
    return Principal(str(function.role), f"function {function.function_name}")


def authorize_event_source(function: Any, queue: Any) -> bool:
    """Whether the function's role lets the Lambda service poll `queue` for it (the permissions AWS lists
    for an SQS event source: ReceiveMessage, DeleteMessage, GetQueueAttributes; kms:Decrypt for a queue
    encrypted with a customer managed key). A refusal is kept as a denial; the mapping does not poll."""
    if _checker is None:
        return True
    principal = Principal(str(function.role), f"the SQS event source of function {function.function_name}")
    arn = str(queue.queue_arn)
    requests = [
        IamRequest(f"sqs:{action}", arn)
        for action in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")
    ]
    key = _checker.environment.queue_key(arn)
    if key:
        region = arn.split(":")[3]
        requests.append(IamRequest("kms:Decrypt", key, {"kms:ViaService": f"sqs.{region}.amazonaws.com"}))
    try:
        for request in requests:
            _checker.authorize(principal, request, "event source polling")
    except AccessDenied:
        return False
    return True


def authorize_as_service_role(role_arn: str, caller: str, request: IamRequest) -> None:
    """Raise AccessDenied unless the service role may make `request` (the stand-in acting for Bedrock)."""
    if _checker is not None:
        _checker.authorize(Principal(role_arn, caller), request, caller)


def authorize_assume_role(service_principal: str, role_arn: str, context: dict[str, str]) -> None:
    """Raise AccessDenied unless the role's trust policy lets the service assume it."""
    if _checker is not None:
        _checker.authorize_service(service_principal, role_arn, context)


def check_as_current(service: str, operation: str, params: Any, region: str) -> None:
    """For code that acts for AWS without a client call (the stand-in reading a job's data as its service
    role): raise the service's AccessDenied ClientError unless the thread's principal may make the call."""
    principal = current()
    if _checker is not None and principal is not None:
        _checker.check_call(principal, service, operation, params, region)
