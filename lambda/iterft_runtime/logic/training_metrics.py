"""Final losses from a customization job's metric CSVs (model-customization-analyze).

`step_wise_training_metrics.csv` has one row per training step (`step_number, epoch_number,
training_loss, perplexity`). A single step's loss is the loss of one batch and swings with
what that batch held, so the final training loss reported is the mean over the steps of the
last epoch: one full pass over the data by the nearly finished model.
`validation_metrics.csv` has the same columns with `validation_loss`; each row is already a
loss over the whole validation set, so the final one is the row of the latest step.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass


class MetricsFormatError(ValueError):
    """A metrics CSV lacks a column or holds a value that is not a number; names the file and line."""


@dataclass(frozen=True)
class LossPoint:
    """One row of a metrics CSV: the loss at a step (what the report's loss curves plot)."""

    epoch: float
    step: float
    loss: float


def final_training_loss(lines: Iterable[str], source: str = "step_wise_training_metrics.csv") -> float | None:
    """Mean training loss over the last epoch's steps; None when the file has no rows."""
    rows = _rows(lines, "training_loss", source)
    if not rows:
        return None
    last_epoch = max(row.epoch for row in rows)
    losses = [row.loss for row in rows if row.epoch == last_epoch]
    return sum(losses) / len(losses)


def final_validation_loss(
    lines: Iterable[str] | None, source: str = "validation_metrics.csv"
) -> float | None:
    """The validation loss of the latest step; None when the file is missing (None) or empty."""
    if lines is None:
        return None
    rows = _rows(lines, "validation_loss", source)
    return max(rows, key=lambda row: (row.epoch, row.step)).loss if rows else None


def loss_points(lines: Iterable[str], loss_column: str, source: str) -> list[LossPoint]:
    """Every finite loss of a metrics CSV in step order (`loss_column`: training_loss or validation_loss)."""
    return sorted(_rows(lines, loss_column, source), key=lambda point: (point.epoch, point.step))


def _rows(lines: Iterable[str], loss_column: str, source: str) -> list[LossPoint]:
    """Rows with a finite loss; blank cells and NaN/inf losses (diverged steps) are skipped."""
    reader = csv.DictReader(iter(lines))
    columns = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = columns
    missing = [name for name in ("step_number", "epoch_number", loss_column) if name not in columns]
    if reader.fieldnames and missing:
        raise MetricsFormatError(
            f"{source}: missing column(s) {', '.join(missing)} (found {', '.join(columns)})"
        )
    rows = []
    for row in reader:
        cell = (row.get(loss_column) or "").strip()
        if not cell:
            continue
        line = reader.line_num
        loss = _number(cell, loss_column, source, line)
        if math.isfinite(loss):
            rows.append(
                LossPoint(
                    epoch=_number(row["epoch_number"], "epoch_number", source, line),
                    step=_number(row["step_number"], "step_number", source, line),
                    loss=loss,
                )
            )
    return rows


def _number(cell: str | None, column: str, source: str, line: int) -> float:
    try:
        return float((cell or "").strip())
    except ValueError:
        raise MetricsFormatError(f"{source} line {line}: {column} {cell!r} is not a number") from None
