"""The iteration report: what a lineage's history says, computed from the history itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def lineage_breaks(history: Sequence[dict[str, Any]], starting_model: str) -> list[str]:
    """Iterations whose base model was not the champion when they began (empty when none).

    The champion starts as `starting_model` and becomes an iteration's output model when that
    iteration is promoted; iterations that never reached the job (invalid data) have no base.
    """
    champion, breaks = starting_model, []
    for row in history:
        if row["base_model"] is not None and row["base_model"] != champion:
            breaks.append(
                f"iteration {row['iteration']} built on {row['base_model']}, champion was {champion}"
            )
        if row["decision"] == "promoted":
            champion = row["output_model_arn"]
    return breaks


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def markdown_report(lineage: str, starting_model: str, history: Sequence[dict[str, Any]]) -> str:
    """A short Markdown report of one lineage: rounds, decisions, scores and the lineage check."""
    promoted = [row for row in history if row["decision"] == "promoted"]
    champion = promoted[-1]["output_model_arn"] if promoted else starting_model
    champion_score = promoted[-1]["eval_score"] if promoted else None
    lines = [
        f"# Lineage `{lineage}`",
        "",
        f"- starting model: `{starting_model}`",
        f"- champion: `{champion}` (score {_score(champion_score)})",
        f"- iterations: {len(history)}; "
        + ", ".join(
            f"{decision} {sum(row['decision'] == decision for row in history)}"
            for decision in ("promoted", "rejected", "failed", "invalid_data", "running")
            if any(row["decision"] == decision for row in history)
        ),
        "",
        "| iteration | base model | dataset | training loss | eval score | champion score | decision "
        "| reason |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in history:
        dataset = (row["dataset"] or "-").split("/")[-1].split("?")[0]
        base = (row["base_model"] or "-").rsplit("/", 1)[-1]
        lines.append(
            f"| {row['iteration']} | `{base}` | `{dataset}` | {_score(row['training_loss'])} "
            f"| {_score(row['eval_score'])} | {_score(row['champion_score'])} | {row['decision']} "
            f"| {(row['reason'] or '').replace('|', '/')} |"
        )
    breaks = lineage_breaks(history, starting_model)
    lines += ["", "## Lineage check", ""]
    lines += [f"- {problem}" for problem in breaks] or [
        "Every iteration's base model was the champion when it began."
    ]
    return "\n".join(lines) + "\n"
