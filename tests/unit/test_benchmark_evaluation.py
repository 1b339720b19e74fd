"""`make bench`'s evaluation benchmark: inputs, history reading and printed lines; no timings."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from iterft_runtime.logic.evaluation import parse_evaluation_set

from benchmarks import evaluation as bench
from benchmarks.__main__ import main
from stacks.config import DeploymentConfig

FIGURE_LINE = re.compile(r"^evaluation\.([a-z_]+) (true|false|\d+(?:\.\d+)?)$")
START = datetime(2026, 1, 1, tzinfo=UTC)


def _event(kind: str, state: str, seconds: float) -> dict[str, Any]:
    return {kind: {"name": state}, "timestamp": START + timedelta(seconds=seconds)}


def test_the_generated_set_is_a_valid_evaluation_set_of_distinct_prompts() -> None:
    parsed = parse_evaluation_set([bench.evaluation_set(40)], "bench")
    assert len(parsed.items) == 40 and len({item.prompt for item in parsed.items}) == 40
    assert {item.category for item in parsed.items} == {"billing", "account", "delivery", None}


def test_the_generated_config_sets_the_concurrency() -> None:
    config = DeploymentConfig.model_validate(yaml.safe_load(bench.config_yaml(5)))
    assert config.evaluation.concurrency == 5
    assert [lineage.name for lineage in config.lineages] == [bench.LINEAGE]


def test_the_wall_time_runs_from_entering_plan_to_leaving_aggregate() -> None:
    history = [
        _event("stateEnteredEventDetails", "Decide", 0.5),
        _event("stateEnteredEventDetails", bench.FIRST_STATE, 1.0),
        _event("stateExitedEventDetails", bench.FIRST_STATE, 1.5),
        _event("stateExitedEventDetails", bench.LAST_STATE, 4.25),
    ]
    assert bench.evaluation_seconds(history) == 3.25
    with pytest.raises(RuntimeError, match="never reached 'Aggregate evaluation'"):
        bench.evaluation_seconds(history[:3])


def test_the_figures_compare_the_wall_time_with_the_ideal() -> None:
    figures = {figure.name: figure for figure in bench.figures(1000, 0.02, 8, 3.0)}
    assert figures["ideal_seconds"].value == pytest.approx(2.5)
    assert figures["ratio_to_ideal"].value == pytest.approx(1.2)
    assert figures["target_met"].value is True
    assert {name: figures[name].formatted() for name in ("records", "concurrency", "latency_s")} == {
        "records": "1000",
        "concurrency": "8",
        "latency_s": "0.020",
    }
    assert next(f for f in bench.figures(1000, 0.02, 8, 3.5) if f.name == "target_met").value is False


def test_bench_prints_one_well_formed_line_per_figure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    measured: list[tuple[int, float, int]] = []

    def measure(records: int, latency: float, concurrency: int) -> float:
        measured.append((records, latency, concurrency))
        return 0.5

    monkeypatch.setattr(bench, "measure", measure)  # the embedded deployment is what `make bench` runs
    assert main(["--only", "evaluation", "--eval-records", "20", "--eval-latency", "0.1"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.startswith("# evaluation: ")
    assert measured == [(20, 0.1, 8)]
    figures = {}
    for line in lines:
        match = FIGURE_LINE.match(line)
        assert match, line
        figures[match[1]] = match[2]
    assert list(figures) == [
        "records",
        "latency_s",
        "concurrency",
        "wall_seconds",
        "ideal_seconds",
        "ratio_to_ideal",
        "target_met",
    ]
    assert json.loads(figures["ratio_to_ideal"]) == 2.0 and figures["target_met"] == "false"


def test_a_concurrency_no_inline_map_runs_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--only", "evaluation", "--eval-concurrency", "41"])
    assert "--eval-concurrency 1 to 40" in capsys.readouterr().err
