"""Final losses from the job's metric CSVs."""

from __future__ import annotations

import pytest
from iterft_runtime.logic.training_metrics import (
    MetricsFormatError,
    final_training_loss,
    final_validation_loss,
)

HEADER = "step_number,epoch_number,training_loss,perplexity\n"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param("1,1,2.0,7\n2,1,1.0,3\n3,2,0.6,2\n4,2,0.4,1.5\n", 0.5, id="mean-of-last-epoch"),
        pytest.param("1,1,2.0,7\n", 2.0, id="one-step"),
        pytest.param("3,2,0.6,2\n1,1,2.0,7\n4,2,0.2,1\n", 0.4, id="rows-out-of-order"),
        pytest.param("1,1,2.0,7\n2,2,nan,1\n3,2,0.3,1\n", 0.3, id="diverged-step-skipped"),
        pytest.param("1,1,2.0,7\n\n2,2,0.3,1\n", 0.3, id="blank-line"),
        pytest.param("1,1,,7\n2,1,0.8,2\n", 0.8, id="empty-cell-skipped"),
        pytest.param("", None, id="header-only"),
    ],
)
def test_final_training_loss(rows: str, expected: float | None) -> None:
    result = final_training_loss((HEADER + rows).splitlines(keepends=True))
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_columns_are_found_by_name_with_spaces() -> None:
    lines = [" epoch_number , step_number , perplexity , training_loss\n", "1, 1, 3, 0.25\n"]
    assert final_training_loss(lines) == 0.25


def test_an_empty_file_has_no_loss() -> None:
    assert final_training_loss([]) is None


def test_a_missing_column_is_an_error_naming_the_file() -> None:
    with pytest.raises(MetricsFormatError, match=r"metrics\.csv: missing column\(s\) training_loss"):
        final_training_loss(["step_number,epoch_number,loss\n", "1,1,0.5\n"], "metrics.csv")


def test_a_bad_number_is_an_error_naming_the_line() -> None:
    with pytest.raises(MetricsFormatError, match=r"line 3: training_loss 'high' is not a number"):
        final_training_loss([HEADER, "1,1,0.5,1\n", "2,1,high,1\n"], "x.csv")


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(None, None, id="no-file"),
        pytest.param(["step_number,epoch_number,validation_loss,perplexity\n"], None, id="no-rows"),
        pytest.param(
            ["step_number,epoch_number,validation_loss,perplexity\n", "4,2,0.9,2\n", "2,1,1.2,3\n"],
            0.9,
            id="latest-step",
        ),
    ],
)
def test_final_validation_loss(lines: list[str] | None, expected: float | None) -> None:
    assert final_validation_loss(lines) == expected
