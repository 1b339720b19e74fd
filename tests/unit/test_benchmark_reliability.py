"""The reliability benchmark's machinery without running it: its environment is a valid config with one
lineage per name, serving modes in turn, and it is registered with `make bench`."""

from __future__ import annotations

import yaml
from iterft_runtime.models.lineage import ServingMode

from benchmarks import reliability
from benchmarks.__main__ import BENCHMARKS
from stacks.config import parse_config


def test_the_benchmark_environment_has_every_lineage_and_every_serving_mode() -> None:
    config = parse_config(yaml.safe_load(reliability.config_yaml(reliability.LINEAGES)), "bench.yaml")
    assert [lineage.name for lineage in config.lineages] == list(reliability.LINEAGES)
    assert {lineage.serving.mode for lineage in config.lineages} == set(ServingMode)


def test_make_bench_runs_the_reliability_benchmark() -> None:
    assert BENCHMARKS["reliability"] is reliability.BENCHMARK
