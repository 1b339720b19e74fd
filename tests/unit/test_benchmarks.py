"""`make bench`'s machinery on a small file: the generator's output and the printed lines, never timings."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from iterft_runtime.logic.lines import split_lines
from iterft_runtime.logic.validation import validate_lines
from iterft_runtime.models.families import NOVA

from benchmarks import MB
from benchmarks import validation as bench
from benchmarks.__main__ import main

FIGURE_LINE = re.compile(r"^validation\.([a-z_]+) (true|false|\d+(?:\.\d+)?)$")
SIDE_FIGURES = ("seconds", "cpu_seconds", "throughput_mb_s", "peak_rss_mb", "rss_increase_mb")


def test_the_generated_file_is_valid_deterministic_and_varied(tmp_path: Path) -> None:
    first = bench.generate(tmp_path / "a.jsonl", 2 * MB)
    second = bench.generate(tmp_path / "b.jsonl", 2 * MB)
    data = first.path.read_bytes()
    assert data == second.path.read_bytes()
    assert first.size_bytes == len(data) >= 2 * MB
    assert NOVA.min_records <= first.records <= NOVA.max_records

    report = validate_lines(split_lines([data]), NOVA, declared_size=len(data))
    assert report.valid and report.counts == {} and report.records == first.records

    sizes = sorted(len(line) for line in data.splitlines())
    mean = sum(sizes) / len(sizes)
    assert sizes[0] < mean / 2 and sizes[-1] > 2 * mean  # lengths vary like real transcripts
    assert b":" in data and b"\\n\\n" in data and "é".encode() in data


def test_the_generator_refuses_a_size_no_valid_nova_file_reaches(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="20,000 records"):
        bench.generate(tmp_path / "big.jsonl", bench.MAX_SIZE_BYTES + 1)
    assert not (tmp_path / "big.jsonl").exists()


def test_figures_are_refused_for_a_file_the_validator_did_not_pass(tmp_path: Path) -> None:
    generated = bench.GeneratedFile(tmp_path / "x.jsonl", 10, 8)
    validator = {"valid": False, "records": 8, "counts": {"invalid_json": 1}}
    with pytest.raises(RuntimeError, match="not clean and valid"):
        list(bench.figures(generated, [validator], []))


def test_best_takes_the_fastest_time_and_the_highest_memory() -> None:
    runs = [
        {"seconds": 2.0, "cpu_seconds": 0.9, "bytes": 1, "baseline_rss_kib": 10, "peak_rss_kib": 50},
        {"seconds": 1.0, "cpu_seconds": 1.0, "bytes": 1, "baseline_rss_kib": 10, "peak_rss_kib": 30},
    ]
    assert bench.best(runs) == {**runs[1], "cpu_seconds": 0.9, "peak_rss_kib": 50, "rss_increase_kib": 40}


def test_bench_prints_a_header_and_one_well_formed_line_per_figure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["--only", "validation", "--size-mb", "2", "--repeats", "1"]) == 0
    assert list(tmp_path.iterdir()) == []  # the generated file is gone
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.startswith("# validation: streaming validator")
    figures = {}
    for line in lines:
        match = FIGURE_LINE.match(line)
        assert match, line
        figures[match[1]] = match[2]
    assert len(figures) == len(lines)  # no figure printed twice
    assert set(figures) == {
        "file_size_mb",
        "records",
        "runs_per_side",
        *(f"{side}_{figure}" for side in ("validator", "floor") for figure in SIDE_FIGURES),
        "throughput_ratio",
        "cpu_time_ratio",
        "target_throughput_met",
        "target_memory_met",
    }
    assert float(figures["file_size_mb"]) >= 2.0 and figures["runs_per_side"] == "1"
    assert NOVA.min_records <= int(figures["records"]) <= NOVA.max_records
    assert float(figures["validator_peak_rss_mb"]) > 0 and float(figures["floor_throughput_mb_s"]) > 0


def test_an_unknown_benchmark_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--only", "nonexistent"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cli_startup_figures_name_each_command_wall_and_cpu() -> None:
    from benchmarks import cli_startup

    lines = {
        figure.name: figure.formatted()
        for figure in cli_startup.figures((0.05, 0.04), (0.2, 0.1), (0.3, 0.2))
    }
    assert lines["help_over_floor_seconds"] == "0.150"
    assert lines["validate_small_cpu_seconds"] == "0.200"
    assert lines["help_target_met"] == "true"
    assert all(re.fullmatch(r"[a-z_]+", name) for name in lines)


def test_cli_startup_runs_the_virtualenv_console_script() -> None:
    from benchmarks import cli_startup

    command = cli_startup.iterft_command()
    assert command[-1].endswith("iterft") or command[-1] == "iterft.cli"
