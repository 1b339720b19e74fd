"""The leakage check's filter in C (native/sieve.c, module iterft_sieve): built by `make setup`, used by
default, reading words as normalised_words does, refusing bad input with Python errors (its place in the
Lambda layer: test_native_layer.py).

That it never rules out a match is test_logic_leakage.py's brute-force comparison, run on both filters."""

from __future__ import annotations

import iterft_sieve
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iterft_runtime.logic.leakage import LeakageIndex, normalised_words
from iterft_runtime.models.leakage import LeakageConfig


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
