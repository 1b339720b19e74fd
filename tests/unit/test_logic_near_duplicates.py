"""Curation's duplicate index (logic/near_duplicates): exact Jaccard of 2-word shingles, texts added one by
one, agrees with a brute-force comparison; normalised as the leakage check normalises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from iterft_runtime.logic.leakage import normalised_words
from iterft_runtime.logic.near_duplicates import DuplicateIndex, Match, normalise

WORDS = st.sampled_from(["a", "b", "c", "d", "e", "F"])
TEXT = st.lists(WORDS, min_size=0, max_size=8).map(" ".join)


def shingles(text: str) -> set[tuple[bytes, ...]]:
    words = normalised_words(text)
    if len(words) <= 2:
        return {tuple(words)} if words else set()
    return {tuple(words[at : at + 2]) for at in range(len(words) - 1)}


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(TEXT, min_size=1, max_size=15), threshold=st.sampled_from([0.3, 0.5, 0.8, 1.0]))
def test_find_is_the_brute_force_best_of_the_texts_added_before(texts: list[str], threshold: float) -> None:
    index = DuplicateIndex(threshold)
    for at, text in enumerate(texts):
        exact = [n for n in range(at) if normalised_words(texts[n]) == normalised_words(text)]
        x = shingles(text)
        scored = [(len(x & shingles(texts[n])) / len(x | shingles(texts[n])), -n) for n in range(at) if x]
        best = max((pair for pair in scored if pair[0] >= threshold - 1e-12), default=None)
        found = index.find(text)
        if exact:
            assert found == Match(f"text {exact[0]}", 1.0)
        elif best is None:
            assert found is None
        else:
            assert found is not None and (found.label, found.similarity) == (
                f"text {-best[1]}",
                round(best[0], 4),
            )
        index.add(text, f"text {at}")


def test_normalisation_is_the_leakage_checks() -> None:
    assert normalise("  Café,\tSTRASSE ") == "café strasse"
    assert normalise("Straße") == "strasse"  # case-folded, not only lower-cased
    index = DuplicateIndex(0.8)
    index.add("How do I reset my password?", "earlier line 3")
    assert index.find("how do i RESET my password") == Match("earlier line 3", 1.0)
    # 5 of 6 two-word shingles shared: a near duplicate at 0.8 (computed, not estimated)
    assert index.find("How do I reset my password now") == Match("earlier line 3", round(5 / 6, 4))
    assert index.find("How can I change my password") is None
