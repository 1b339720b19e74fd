"""The embedded AWS: moto's server on loopback, configured and adapted to run this app offline."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, ClassVar

import boto3
from botocore.config import Config
from moto.core.config import default_user_config
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_api._internal.models import moto_api_backend
from moto.server import ThreadedMotoServer
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from iterft.local.adapters import install_adapters, uninstall_adapters
from iterft.local.iam import IamChecker, install_iam_checks, simulator_available, uninstall_iam_checks

ACCOUNT_ID = DEFAULT_ACCOUNT_ID
DEFAULT_REGION = "us-east-1"
_HOST = "127.0.0.1"
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_MOTO_CONFIG: dict[str, dict[str, bool]] = {
    "lambda": {"use_docker": False},
    "stepfunctions": {"execute_state_machine": True},
}
# A cheap read per service a deployment of the app uses.
_WARM_UP_CALLS = {
    "s3": "list_buckets",
    "ssm": "describe_parameters",
    "cloudformation": "list_stacks",
    "iam": "list_roles",
    "kms": "list_keys",
    "logs": "describe_log_groups",
    "lambda": "list_functions",
    "stepfunctions": "list_state_machines",
    "sqs": "list_queues",
    "events": "list_rules",
    "sns": "list_topics",
    "dynamodb": "list_tables",
    "bedrock": "list_custom_models",
}
# Settings that would send boto3 elsewhere than the embedded endpoint, or to a real account.
_UNSET = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
IAM_CHECKS_VARIABLE = "ITERFT_IAM_CHECKS"
"""1: every request a handler, the state machine or a Bedrock service role makes is checked against the
template's IAM (needs `make setup`'s node_modules); 0: not checked. Unset: checked when the simulator is
installed. `make test` and `make demo` set 1."""


def iam_checks_wanted() -> bool:
    setting = os.environ.get(IAM_CHECKS_VARIABLE, "")
    if setting not in ("", "0", "1"):
        raise ValueError(f"{IAM_CHECKS_VARIABLE} must be 0 or 1, not {setting!r}")
    if setting == "1" and not simulator_available():
        raise RuntimeError(f"{IAM_CHECKS_VARIABLE}=1, but node or the IAM simulator is missing: `make setup`")
    return setting == "1" or (setting == "" and simulator_available())


class _LoopbackServer(ThreadedMotoServer):
    """moto's threaded server, except that a port already taken fails start() instead of hanging it.

    `ThreadedMotoServer.start` waits for its thread to bind with no timeout, and werkzeug answers a taken
    port with `sys.exit(1)` in that thread; `_server_entry` (the thread's body in moto 5.2.5) is wrapped
    so that a failed bind releases the wait and is reported.
    """

    bind_failed: bool = False

    def _server_entry(self) -> None:
        try:
            super()._server_entry()
        except (OSError, SystemExit):
            self.bind_failed = True
            self._server_ready_event.set()


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((_HOST, port))
        except OSError:
            return False
        return True


_SESSIONS: dict[str, boto3.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()


def embedded_client(service: str, endpoint: str, region: str, config: Config | None = None) -> Any:
    """A boto3 client for an embedded endpoint, with its fake credentials.

    Clients come from one boto3 session per region and process, so each service's model is loaded once
    (a tenth of a second each). Call it while an EmbeddedAws runs: its environment names no profile.
    """
    with _SESSIONS_LOCK:
        if region not in _SESSIONS:
            _SESSIONS[region] = boto3.session.Session(
                aws_access_key_id=_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=region,
            )
        return _SESSIONS[region].client(service, endpoint_url=endpoint, config=config)  # type: ignore[call-overload]  # boto3-stubs types one overload per service name literal


class EmbeddedAws:
    """moto's ThreadedMotoServer on 127.0.0.1, executing state machines, with every adapter installed.

    While started, this process's environment points boto3 at it (AWS_ENDPOINT_URL, region, fake
    credentials), so in-process handlers and `boto3.client(...)` reach it unchanged. moto's backends are
    process-global: one EmbeddedAws at a time; each starts from empty backends.
    """

    _last_port: ClassVar[int] = 0

    def __init__(self, region: str = DEFAULT_REGION, time_scale: float = 1.0) -> None:
        self.region = region
        self.account_id = ACCOUNT_ID
        self.time_scale = time_scale
        self._server: ThreadedMotoServer | None = None
        self._port = 0
        self._saved_environ: dict[str, str | None] = {}
        self._saved_config: dict[str, Any] = {}
        self._werkzeug_level = logging.NOTSET
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self.iam: IamChecker | None = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("EmbeddedAws is not started")
        return f"http://{_HOST}:{self._port}"

    def client(self, service: str) -> Any:
        """A boto3 client bound to the embedded endpoint, whatever the environment says.

        One per service, built once; boto3 clients are thread-safe.
        """
        endpoint = self.endpoint
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = embedded_client(service, endpoint, self.region)
            return self._clients[service]

    def warm_up(self) -> None:
        """Load each service's client model here and its backend in the server (each costs a few tenths of
        a second the first time); run it on a thread while something else (a synth) takes the time."""
        for service, read in _WARM_UP_CALLS.items():
            getattr(self.client(service), read)()

    def start(self) -> EmbeddedAws:
        if self._server is not None:
            raise RuntimeError("EmbeddedAws is already started")
        self._server = self._bind()  # first: nothing else is changed if that fails
        self._port = self._server.get_host_and_port()[1]
        EmbeddedAws._last_port = self._port
        moto_api_backend.reset()
        self._saved_config = {name: default_user_config.get(name) for name in _MOTO_CONFIG}
        default_user_config.update(_MOTO_CONFIG)  # type: ignore[typeddict-item]  # moto's config TypedDict is partial here
        install_adapters(self.time_scale)
        if iam_checks_wanted():
            self.iam = install_iam_checks(self.account_id)
        werkzeug = logging.getLogger("werkzeug")
        self._werkzeug_level = werkzeug.level
        werkzeug.setLevel(logging.WARNING)  # one line per request otherwise
        self._point_environment_here()
        return self

    @staticmethod
    def _bind() -> ThreadedMotoServer:
        """On the port this process's previous server used if it is free (module-level boto3 clients of
        in-process handlers then still reach it), else on any free port."""
        preferred = EmbeddedAws._last_port
        for port in (preferred, 0) if preferred and _is_free(preferred) else (0,):
            server = _LoopbackServer(ip_address=_HOST, port=port, verbose=False)
            server.start()
            if not server.bind_failed:
                return server
        raise OSError(f"cannot listen on {_HOST}")

    def stop(self) -> None:
        if self._server is None:
            return
        self._stop_running_executions()
        uninstall_adapters()
        uninstall_iam_checks()
        self.iam = None
        self._server.stop()
        with contextlib.suppress(AttributeError):
            self._server._server.server_close()  # type: ignore[union-attr]  # moto's private server
        self._server = None
        self._clients.clear()
        self._restore_environment()
        default_user_config.update(self._saved_config)  # type: ignore[typeddict-item]  # restores what was saved
        logging.getLogger("werkzeug").setLevel(self._werkzeug_level)
        moto_api_backend.reset()

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _point_environment_here(self) -> None:
        values: dict[str, str | None] = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "MOTO_PORT": str(self._port),  # moto's Step Functions calls services at localhost:MOTO_PORT
            **_CREDENTIALS,
            **dict.fromkeys(_UNSET),
            **dict.fromkeys(name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")),
        }
        for name, value in values.items():
            self._saved_environ.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        boto3.DEFAULT_SESSION = None

    def _restore_environment(self) -> None:
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()
        boto3.DEFAULT_SESSION = None

    def _stop_running_executions(self) -> None:
        """Executions run on threads of their own: end them before the server they call goes away."""
        now = datetime.now(UTC)
        for regions in list(stepfunctions_parser_backends.values()):
            for backend in list(regions.values()):
                for execution in backend._get_executions(ExecutionStatus.RUNNING):
                    execution.stop(stop_date=now, error="States.Runtime", cause="the embedded AWS stopped")
