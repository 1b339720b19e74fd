"""The one patch of botocore's client call that the embedded default's call-level hooks share.

`botocore.client.BaseClient._make_api_call` is where every client call of the process passes (paginators
and s3transfer included), with the operation's name and the caller's own parameters, before botocore's
own retries (which run inside it). The IAM checks (iam/hooks.py) and the chaos injector (chaos.py) both
need that point; patching it once and chaining wrappers keeps them independent of install order and lets
either be removed without undoing the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.client import BaseClient

Proceed = Callable[[], Any]
CallWrapper = Callable[[BaseClient, str, Any, Proceed], Any]
"""`wrapper(client, operation_name, api_params, proceed)`: call `proceed()` to make the call (and the
wrappers after this one), or raise instead; return what the call returns."""

_lock = threading.Lock()
_wrappers: list[tuple[str, CallWrapper]] = []
_original: Any = None


def wrapped_api_call(self: BaseClient, operation_name: str, api_params: Any) -> Any:
    """botocore's `_make_api_call`, through every added wrapper, first added outermost."""
    chain = [wrapper for _, wrapper in _wrappers]

    def call(index: int) -> Any:
        if index == len(chain):
            return _original(self, operation_name, api_params)
        return chain[index](self, operation_name, api_params, lambda: call(index + 1))

    return call(0)


def add_call_wrapper(name: str, wrapper: CallWrapper) -> None:
    """Run `wrapper` around every client call from now on (`name` identifies it for removal)."""
    global _original
    with _lock:
        if any(existing == name for existing, _ in _wrappers):
            raise ValueError(f"a call wrapper named {name!r} is already installed")
        if _original is None:
            # botocore-stubs leave out BaseClient's private _make_api_call (each client call goes through it).
            _original = BaseClient._make_api_call  # type: ignore[attr-defined]  # see above
            BaseClient._make_api_call = wrapped_api_call  # type: ignore[attr-defined]  # see above
        _wrappers.append((name, wrapper))


def remove_call_wrapper(name: str) -> None:
    """Stop running the wrapper `name`; the last one removed gives botocore its own call back."""
    global _original
    with _lock:
        _wrappers[:] = [(existing, wrapper) for existing, wrapper in _wrappers if existing != name]
        if not _wrappers and _original is not None:
            BaseClient._make_api_call = _original  # type: ignore[attr-defined]  # private, as above
            _original = None


def call_wrappers() -> list[str]:
    """The names of the installed wrappers, outermost first."""
    with _lock:
        return [name for name, _ in _wrappers]
