"""The C extensions (native/NAME.c, module iterft_NAME): each is used only when built from these sources.

`make setup` rebuilds a module whenever its source changes, but a checkout updated without it (a `git
pull`, then `pytest` or `iterft` straight from the virtualenv) would import the old build and fail later
on a method it lacks. Each module says which interface it implements (its INTERFACE constant, raised in
its source with every change the Python side relies on); a build of another refuses to load, saying how
to rebuild it. A module not built at all is no error: its Python equivalent answers instead.
"""

from __future__ import annotations

import sys


class StaleExtension(ImportError):
    """A C extension built from sources older or newer than this code."""


def require_interface(name: str, interface: int) -> None:
    """Refuse the imported module `name` unless it implements `interface`."""
    module = sys.modules[name]
    found = getattr(module, "INTERFACE", None)
    if found != interface:
        raise StaleExtension(
            f"{module.__file__} was built from other sources than this code (interface {found}, "
            f"{interface} expected): run `make setup` to rebuild it"
        )
