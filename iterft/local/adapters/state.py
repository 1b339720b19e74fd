"""What the adapters share: the patches applied (so moto can be restored exactly), the time scale
(`scaled`), the SQS pollers. Patches no moto internal itself.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iterft.local.adapters.sqs_event_sources import SqsPoller


_ABSENT = object()
"""What an attribute an adapter adds (rather than replaces) was before."""


class Patches:
    """Remembers every attribute replaced so that moto can be restored exactly."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def replace(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, inspect.getattr_static(owner, name, _ABSENT)))
        setattr(owner, name, value)

    def restore(self) -> None:
        while self._saved:
            owner, name, original = self._saved.pop()
            if original is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


@dataclass
class State:
    time_scale: float = 1.0
    installed: bool = False
    patches: Patches = field(default_factory=Patches)
    pollers: dict[str, SqsPoller] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


STATE = State()


def scaled(seconds: float) -> float:
    """Simulated seconds -> real seconds under the installed time scale."""
    return seconds * STATE.time_scale
