"""The C extensions (native/NAME.c, module iterft_NAME) are in the Lambda layer, loadable on Lambda's
platform: binutils' readelf reads what each needs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

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
