"""The leakage check's filter in C (native/sieve.c, module iterft_sieve): built by `make setup`, used by
default, reading words as normalised_words does, refusing bad input with Python errors, and shipped in
the Lambda layer loadable on Lambda's platform (binutils' readelf reads its needs).

That it never rules out a match is test_logic_leakage.py's brute-force comparison, run on both filters."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import iterft_sieve
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iterft_runtime.logic.leakage import LeakageIndex, normalised_words
from iterft_runtime.models.leakage import LeakageConfig

ROOT = Path(__file__).resolve().parents[2]
LAYER_MODULE = ROOT / "build" / "layer" / "python" / "iterft_sieve.cpython-311-x86_64-linux-gnu.so"
MANYLINUX2014_GLIBC = (2, 17)
"""The newest glibc symbol version a manylinux2014 binary may need; Lambda's Python 3.11 runs on Amazon
Linux 2 (glibc 2.26)."""


def fnv(word: bytes) -> int:
    value = 1469598103934665603
    for byte in word:
        value = ((value ^ byte) * 1099511628211) % 2**64
    return value


def sieve(prompts: list[str] | None = None) -> iterft_sieve.Sieve:
    return iterft_sieve.Sieve(prompts or ["How do I reset my password?"], 3, 3, 5, 10, 100, normalised_words)


def test_the_index_sifts_in_c_by_default() -> None:
    index = LeakageIndex([(1, "How do I reset my password?")], LeakageConfig())
    assert index._native is not None
    assert LeakageIndex([(1, "x y z")], LeakageConfig(), use_native=False)._native is None
    assert index.suspects(["how do i RESET my password", "Where is my parcel today?"]) == {0}


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=40))
def test_its_words_are_normalised_words(text: str) -> None:
    assert sieve().word_hashes(text) == [fnv(word) for word in normalised_words(text)]


def test_bad_input_is_a_python_error() -> None:
    with pytest.raises(ValueError, match="size 1 to 8"):
        iterft_sieve.Sieve([], 9, 3, 5, 10, 100, normalised_words)
    with pytest.raises(ValueError, match="more words than capacity"):
        iterft_sieve.Sieve(["a b c d"], 3, 3, 5, 10, 2, normalised_words)
    with pytest.raises(TypeError, match="str"):
        sieve().suspects(["fine", b"not text"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="list of bytes"):
        iterft_sieve.Sieve(["café"], 3, 3, 5, 10, 100, lambda text: text.split())  # type: ignore[arg-type, return-value]
    with pytest.raises(ZeroDivisionError):
        iterft_sieve.Sieve(["café"], 3, 3, 5, 10, 100, lambda text: 1 / 0)  # type: ignore[arg-type, return-value]


def test_the_layer_ships_it_for_lambdas_platform() -> None:
    readelf = shutil.which("readelf")
    assert readelf is not None, "readelf (binutils) reads the module's needs"
    assert LAYER_MODULE.exists(), "make setup copies the module into the layer (CPython 3.11, x86_64)"
    dynamic = subprocess.run(
        [readelf, "--dynamic", str(LAYER_MODULE)], capture_output=True, text=True, check=True
    )
    assert re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic.stdout) == ["libc.so.6"]
    versions = subprocess.run(
        [readelf, "--version-info", str(LAYER_MODULE)], capture_output=True, text=True, check=True
    )
    needed = {tuple(map(int, found.split("."))) for found in re.findall(r"GLIBC_([0-9.]+)", versions.stdout)}
    assert needed and max(needed) <= MANYLINUX2014_GLIBC, sorted(needed)
    header = subprocess.run(
        [readelf, "--file-header", str(LAYER_MODULE)], capture_output=True, text=True, check=True
    )
    assert "Advanced Micro Devices X86-64" in header.stdout
