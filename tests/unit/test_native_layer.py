"""The C extensions (native/NAME.c, module iterft_NAME) are in the Lambda layer, loadable on Lambda's
platform (binutils' readelf reads what each needs), and a build of other sources refuses to load."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from iterft_runtime.logic import leakage, validation_fast
from iterft_runtime.logic.native import StaleExtension, require_interface

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "build" / "layer" / "python"
MODULES = sorted(f"iterft_{source.stem}" for source in (ROOT / "native").glob("*.c"))
MANYLINUX2014_GLIBC = (2, 17)
"""The newest glibc symbol version a manylinux2014 binary may need; Lambda's Python 3.11 runs on Amazon
Linux 2 (glibc 2.26)."""


def readelf(option: str, path: Path) -> str:
    tool = shutil.which("readelf")
    assert tool is not None, "readelf (binutils) reads the module's needs"
    return subprocess.run([tool, option, str(path)], capture_output=True, text=True, check=True).stdout


def test_every_source_is_a_module() -> None:
    assert MODULES == ["iterft_sieve", "iterft_texts"]


@pytest.mark.parametrize("module", MODULES)
def test_the_layer_ships_it_for_lambdas_platform(module: str) -> None:
    path = LAYER / f"{module}.cpython-311-x86_64-linux-gnu.so"
    assert path.exists(), "make setup copies the module into the layer (CPython 3.11, x86_64)"
    assert re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", readelf("--dynamic", path)) == ["libc.so.6"]
    versions = readelf("--version-info", path)
    needed = {tuple(map(int, found.split("."))) for found in re.findall(r"GLIBC_([0-9.]+)", versions)}
    assert needed and max(needed) <= MANYLINUX2014_GLIBC, sorted(needed)
    assert "Advanced Micro Devices X86-64" in readelf("--file-header", path)


def test_the_built_modules_are_the_interfaces_the_code_expects() -> None:
    assert validation_fast.NativeTextRules is not None and leakage.NativeSieve is not None
    assert sys.modules["iterft_texts"].INTERFACE == validation_fast.TEXTS_INTERFACE
    assert sys.modules["iterft_sieve"].INTERFACE == leakage.SIEVE_INTERFACE


@pytest.mark.parametrize("interface", [None, 0, 2])
def test_a_build_of_other_sources_is_refused_with_how_to_rebuild_it(
    interface: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = types.ModuleType("iterft_stale")
    stale.__file__ = "build/native/iterft_stale.so"
    if interface is not None:
        stale.INTERFACE = interface  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "iterft_stale", stale)
    with pytest.raises(
        StaleExtension, match=r"iterft_stale\.so was built from other sources .* run `make setup`"
    ):
        require_interface("iterft_stale", 1)
    stale.INTERFACE = 1  # type: ignore[attr-defined]
    require_interface("iterft_stale", 1)
