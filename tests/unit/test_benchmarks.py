"""`make bench`'s machinery on a small file: the generator's output and the printed lines, never timings."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from iterft_runtime.logic.lines import split_lines
from iterft_runtime.logic.validation import validate_lines
from iterft_runtime.models.families import CLAUDE_HAIKU, NOVA

from benchmarks import validation as bench
from benchmarks.__main__ import main

FIGURE_LINE = re.compile(r"^validation\.(?:([a-z0-9_]+)\.)?([a-z_]+) (true|false|\d+(?:\.\d+)?)$")
SHAPE_FIGURES = {
    "file_size_mb",
    "records",
    "mean_record_bytes",
    "validator_throughput_mb_s",
    "floor_throughput_mb_s",
    "throughput_ratio",
    "cpu_time_ratio",
    "validator_peak_rss_mb",
    "floor_peak_rss_mb",
    "target_throughput_met",
    "target_memory_met",
    "validator_with_leakage_check_throughput_mb_s",
    "leakage_check_throughput_ratio",
    "leakage_check_cpu_time_ratio",
    "validator_with_leakage_check_peak_rss_mb",
    "target_leakage_check_met",
}


def shape(name: str) -> bench.Shape:
    return next(shape for shape in bench.shapes() if shape.name == name)


def test_the_matrix_covers_every_format_size_turns_and_count() -> None:
    names = {shape.name for shape in bench.shapes()}
    assert len(names) == 30  # conversations: 3 sizes x 2 turns x 2 counts; prompt/completion: 3 x 2
    for fmt in ("nova", "claude"):
        for size in ("0_5kb", "2kb", "12kb"):
            for turns in ("single", "multi"):
                assert {f"{fmt}_{size}_{turns}_under", f"{fmt}_{size}_{turns}_over"} <= names
    assert "prompt_completion_12kb_single_over" in names
    assert shape("nova_2kb_single_over").records(16) == 2 * NOVA.max_records
    assert shape("nova_12kb_single_under").records(16) < NOVA.max_records


@pytest.mark.parametrize("name", [s.name for s in bench.shapes() if not s.over_limit])
def test_each_generated_file_is_valid_deterministic_distinct_and_of_its_shape(
    tmp_path: Path, name: str
) -> None:
    chosen = shape(name)
    records = max(chosen.family.min_records, 120)
    first = bench.generate(tmp_path / "a.jsonl", chosen, records)
    second = bench.generate(tmp_path / "b.jsonl", chosen, records)
    data = first.path.read_bytes()
    assert data == second.path.read_bytes() and first.size_bytes == len(data)
    report = validate_lines(split_lines([data]), chosen.family, declared_size=len(data))
    assert report.valid and report.counts == {} and report.records == records  # no duplicates either
    mean = len(data) / records
    target = bench.RECORD_SIZES[chosen.size]
    assert 0.6 * target < mean < 1.6 * target, mean
    sizes = sorted(len(line) for line in data.splitlines())
    assert sizes[0] < mean * 0.75 and sizes[-1] > mean * 1.3  # lengths vary like real transcripts
    assert b"\\u00" in data and "é".encode() in data  # both spellings of non-ASCII text


def test_figures_are_refused_for_a_file_the_validator_did_not_judge_as_generated(tmp_path: Path) -> None:
    generated = bench.GeneratedFile(tmp_path / "x.jsonl", 10, 8)
    validator = {"valid": False, "records": 8, "counts": {"invalid_json": 1}}
    with pytest.raises(RuntimeError, match="not judged as expected"):
        list(bench.figures(shape("nova_2kb_single_under"), generated, [validator], []))
    timing = {"seconds": 1.0, "cpu_seconds": 1.0, "bytes": 10, "baseline_rss_kib": 1, "peak_rss_kib": 2}
    over = {**timing, "valid": False, "records": 8, "counts": {"too_many_records": 1}}
    floor = {**timing, "records": 8}
    shown = list(bench.figures(shape("nova_2kb_single_over"), generated, [over], [floor]))
    assert shown[0].name == "nova_2kb_single_over.file_size_mb"  # what a far-over file is judged


def test_best_takes_the_highest_throughput_the_least_cpu_a_byte_and_the_highest_memory() -> None:
    runs = [  # runs read the file a different number of times: throughput and CPU are per byte
        {"seconds": 1.0, "cpu_seconds": 0.9, "bytes": 1, "baseline_rss_kib": 10, "peak_rss_kib": 50},
        {"seconds": 1.5, "cpu_seconds": 1.6, "bytes": 2, "baseline_rss_kib": 10, "peak_rss_kib": 30},
    ]
    expected = {**runs[1], "cpu_seconds_per_byte": 0.8, "peak_rss_kib": 50, "rss_increase_kib": 40}
    assert bench.best(runs) == expected


def test_bench_prints_a_header_and_one_well_formed_line_per_figure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    argv = ["--only", "validation", "--size-mb", "0.2", "--repeats", "1"]
    assert main([*argv, "--shape", "claude_0_5kb_multi_under", "--shape", "nova_2kb_single_under"]) == 0
    assert list(tmp_path.iterdir()) == []  # the generated files are gone
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.startswith("# validation: streaming validator")
    figures: dict[tuple[str | None, str], str] = {}
    for line in lines:
        match = FIGURE_LINE.match(line)
        assert match, line
        figures[match[1], match[2]] = match[3]
    assert len(figures) == len(lines)  # no figure printed twice
    assert {name for shape, name in figures if shape is None} == {
        "shapes",
        "runs_per_side",
        "evaluation_set_records",
        "leakage_index_build_seconds",
        "shapes_meeting_targets",
        "all_targets_met",
    }
    for chosen in ("claude_0_5kb_multi_under", "nova_2kb_single_under"):
        assert {name for shape, name in figures if shape == chosen} == SHAPE_FIGURES
        assert float(figures[chosen, "validator_peak_rss_mb"]) > 0
        assert float(figures[chosen, "floor_throughput_mb_s"]) > 0
    assert figures[None, "shapes"] == "2" and figures[None, "runs_per_side"] == "1"
    assert int(figures["claude_0_5kb_multi_under", "records"]) >= CLAUDE_HAIKU.min_records


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
