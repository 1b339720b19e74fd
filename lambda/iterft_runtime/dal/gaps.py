"""The gap analysis of a lineage (logic/gaps.py), read from what evaluation stored: the registry's
iterations, each evaluated round's metrics document (`metrics_uri`) and the per-record results
(`results_uri`) of the round that scored the champion, all under evaluations/<lineage>/<iteration>/.

Reads only: the registry table and `evaluations/<lineage>/*/metrics.json` and `results.jsonl` of the
data bucket (a Lambda that calls `lineage_gaps` needs exactly those grants). The results file is
streamed, so memory holds a few records a category whatever the evaluation set's size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from iterft_runtime.dal import storage
from iterft_runtime.dal.registry import Registry
from iterft_runtime.logic.gaps import (
    DEFAULT_OPTIONS,
    ChampionScores,
    EvaluatedRound,
    GapAnalysisError,
    GapOptions,
    analysed_round,
    champion_timeline,
    gap_analysis,
    scored_on,
    worst_records,
)
from iterft_runtime.models.gaps import GapAnalysis
from iterft_runtime.models.records import IterationRecord


def lineage_gaps(
    table_name: str, lineage: str, metric: str, options: GapOptions = DEFAULT_OPTIONS
) -> GapAnalysis | None:
    """The lineage's gap analysis on `metric` (its primary metric) after its latest evaluated round whose
    champion is the lineage's champion now; None when no such round was evaluated yet.

    Rounds are read one evaluation set version at a time, newest first (a champion's scores are reused
    only on the same version, so each version's rounds are complete on their own): usually only the
    current version's metrics documents are read."""
    registry = Registry(table_name)
    state = registry.get_state(lineage)
    champion = state.champion_iteration if state is not None else None
    evaluated = [record for record in registry.list_iterations(lineage) if record.metrics_uri]
    versions: list[str] = []
    for record in reversed(evaluated):
        version = record.eval_set_version or ""
        if version not in versions:
            versions.append(version)
    for version in versions:
        rounds = [_round(record) for record in evaluated if (record.eval_set_version or "") == version]
        timeline = champion_timeline(rounds)
        analysed = analysed_round(timeline, champion)
        if analysed is not None:
            return _analysis(lineage, metric, timeline, analysed, evaluated, options)
    return None


def _analysis(
    lineage: str,
    metric: str,
    timeline: list[ChampionScores],
    analysed: ChampionScores,
    evaluated: list[IterationRecord],
    options: GapOptions,
) -> GapAnalysis:
    scored_on(lineage, analysed, metric)  # before the results are read
    source = next(record for record in evaluated if record.iteration == analysed.source.iteration)
    if not source.results_uri:
        raise GapAnalysisError(f"{lineage}: round {source.iteration} recorded no per-record results")
    rows = _result_rows(source.results_uri)
    worst = worst_records(rows, analysed.source.role, metric, options.per_category)
    return gap_analysis(
        lineage,
        metric,
        timeline,
        analysed,
        worst,
        window=options.window,
        per_category=options.per_category,
        traffic_share=options.traffic_share,
    )


def _round(record: IterationRecord) -> EvaluatedRound:
    return EvaluatedRound.from_document(
        record.iteration, record.decision, record.parent_iteration, _json_document(str(record.metrics_uri))
    )


def _json_document(uri: str) -> dict[str, Any]:
    bucket, key = storage.split_uri(uri)
    return dict(json.loads(b"".join(storage.iter_chunks(bucket, key))))


def _result_rows(uri: str) -> Iterator[dict[str, Any]]:
    """A round's per-record results (logic/evaluation.result_rows), one row at a time."""
    bucket, key = storage.split_uri(uri)
    for line in storage.iter_lines(bucket, key):
        if line.strip():
            yield json.loads(line)
