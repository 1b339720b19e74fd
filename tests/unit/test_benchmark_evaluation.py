"""`make bench`'s evaluation benchmark: inputs, history reading and printed lines; no timings."""

from __future__ import annotations

import json
import re
import time
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
    assert config.lineages[0].gate.pause_when_converged is False  # measured rounds never wait


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


def test_cpu_time_is_read_between_samples() -> None:
    walls, cpus = [10.0, 11.0, 13.0], [1.0, 1.5, 2.5]
    assert bench.cpu_between(walls, cpus, 12.0) == pytest.approx(2.0)
    assert bench.cpu_between(walls, cpus, 11.0) == pytest.approx(1.5)
    assert (bench.cpu_between(walls, cpus, 5.0), bench.cpu_between(walls, cpus, 20.0)) == (1.0, 2.5)
    with pytest.raises(ValueError, match="no CPU samples"):
        bench.cpu_between([], [], 1.0)


def test_the_cpu_clock_samples_this_process() -> None:
    with bench.CpuClock() as clock:
        started = time.time()
        while time.time() - started < 0.1:
            pass  # CPU work the clock must see
    assert clock.cpu_at(time.time()) - clock.cpu_at(started) > 0


def test_the_figures_compare_the_wall_time_with_the_ideal() -> None:
    best = bench.Measured(wall_seconds=3.0, cpu_seconds=2.0)
    figures = {figure.name: figure for figure in bench.figures(1000, 0.02, 8, best, 1.5)}
    assert figures["ideal_seconds"].value == pytest.approx(2.5)
    assert figures["overhead_seconds"].value == pytest.approx(0.5)
    assert figures["cpu_ms_per_record"].value == pytest.approx(2.0)
    assert figures["ratio_to_ideal"].value == pytest.approx(1.2)
    assert figures["target_met"].value is True
    assert figures["load_average"].value == 1.5
    assert {name: figures[name].formatted() for name in ("records", "concurrency", "latency_s")} == {
        "records": "1000",
        "concurrency": "8",
        "latency_s": "0.020",
    }
    slow = bench.Measured(wall_seconds=3.5, cpu_seconds=2.0)
    assert next(f for f in bench.figures(1000, 0.02, 8, slow) if f.name == "target_met").value is False


def test_bench_prints_one_well_formed_line_per_figure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    measured: list[tuple[int, float, int, int]] = []

    def measure(records: int, latency: float, concurrency: int, rounds: int) -> list[bench.Measured]:
        measured.append((records, latency, concurrency, rounds))
        return [bench.Measured(0.75, 0.1), bench.Measured(0.5, 0.2)]

    monkeypatch.setattr(bench, "measure", measure)  # the embedded deployment is what `make bench` runs
    argv = ["--only", "evaluation", "--eval-records", "20", "--eval-latency", "0.1", "--repeats", "2"]
    assert main(argv) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.startswith("# evaluation: ")
    assert measured == [(20, 0.1, 8, 2)]
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
        "overhead_seconds",
        "cpu_seconds",
        "cpu_ms_per_record",
        "ratio_to_ideal",
        "target_met",
        "load_average",
    ]
    assert json.loads(figures["ratio_to_ideal"]) == 2.0 and figures["target_met"] == "false"  # the best
    assert json.loads(figures["cpu_ms_per_record"]) == 10.0


def test_a_concurrency_no_inline_map_runs_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--only", "evaluation", "--eval-concurrency", "41"])
    assert "--eval-concurrency 1 to 40" in capsys.readouterr().err
