"""A chaos run on the embedded default: uploads in sequence on several lineages under seeded faults
(chaos.py), settled, then checked against the invariants no fault may break (issue 19). Shared by
tests/integration/test_chaos.py and the reliability benchmark (benchmarks/reliability.py).

The invariants, per lineage: every upload accounted for once and in order (the upload ledger and the
rounds), and each round ended, decided or failed (one that did not records its execution); no trigger
message dead-lettered; no lock held and nothing queued after settling; no capacity or custom model that
nothing records; champion, serving capacity and serving pointer agree; every failed round has a readable
cause; and no round failed because of a transient error on Fine-tune (its create or a status poll).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iterft_runtime import naming
from iterft_runtime.dal.registry import Registry

from iterft.history import lineage_history, lineage_status, lineage_uploads
from iterft.local import adapters
from iterft.local.chaos import ChaosConfig, ChaosInjector
from iterft.local.session import LocalSession

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
ROUND_FILES = sorted(EXAMPLES.glob("round-*.jsonl"))
DECIDED = ("promoted", "rejected")
TRANSIENT_FINE_TUNE_ERRORS = (
    "Bedrock.InternalServerException",
    "Bedrock.ServiceUnavailableException",
    "Bedrock.ThrottlingException",
)
_SETTLE_POLL_SECONDS = 0.2
_RECONCILE_RUNS = 5
"""Reconciler runs after settling: each may release a lock whose next round then runs and settles."""


@dataclass
class ChaosResult:
    """What a chaos run did and found."""

    uploads: dict[str, list[str]]
    """Per lineage, the uploaded object versions in upload order."""
    injected: dict[str, int]
    histories: dict[str, list[dict[str, Any]]]
    repairs: int
    wall_seconds: float
    fine_tune_faulted: list[tuple[str, int]] = field(default_factory=list)
    """(lineage, iteration) of the rounds whose Fine-tune met a transient error."""
    violations: list[str] = field(default_factory=list)

    @property
    def rounds(self) -> list[dict[str, Any]]:
        return [row for rows in self.histories.values() for row in rows]

    @property
    def failed(self) -> int:
        return sum(row["decision"] == "failed" for row in self.rounds)

    @property
    def decided(self) -> int:
        return sum(row["decision"] in DECIDED for row in self.rounds)


def run_chaos(
    session: LocalSession,
    lineages: Sequence[str],
    rounds_per_lineage: int,
    config: ChaosConfig,
    *,
    timeout: float = 120.0,
) -> ChaosResult:
    """Upload `rounds_per_lineage` files to each lineage (interleaved, one after another, while the
    faults are injected), settle, and check the invariants."""
    began = time.perf_counter()
    uploads: dict[str, list[str]] = {lineage: [] for lineage in lineages}
    with ChaosInjector(config, session.standin) as chaos:
        # One certain transient 500 on Fine-tune's create (after it took effect) and on a status poll,
        # whichever rounds meet them, besides the random ones.
        session.standin.lose_next_response("CreateModelCustomizationJob", 1, "InternalServerException")
        session.standin.throttle_next("GetModelCustomizationJob", 1, "InternalServerException")
        for index in range(rounds_per_lineage):
            body = ROUND_FILES[index % len(ROUND_FILES)].read_bytes()
            for lineage in lineages:
                name = f"round-{index + 1:03d}.jsonl"  # natural order is upload order
                uploads[lineage].append(session.upload(lineage, body, name=name))
        settle(session, lineages, timeout=timeout)
        with chaos.paused():
            repairs = reconcile(session, lineages, timeout=timeout)
        injected = chaos.injected
    result = ChaosResult(
        uploads=uploads,
        injected=injected,
        histories={lineage: lineage_history(session.deployment, lineage) for lineage in lineages},
        repairs=repairs,
        wall_seconds=time.perf_counter() - began,
    )
    result.fine_tune_faulted = _fine_tune_faulted(session, lineages)
    result.violations = check_invariants(session, result)
    return result


def settle(session: LocalSession, lineages: Sequence[str], *, timeout: float) -> None:
    """Until every lineage is idle, or nothing runs any more (no execution, no trigger work) while some
    lineage is not idle: a lock or queue that nothing will release; the invariants then report it."""
    deadline = time.monotonic() + timeout
    still = 0
    while time.monotonic() < deadline:
        if all(session.is_idle(lineage) for lineage in lineages):
            return
        running = any(
            execution["status"] == "RUNNING"
            for execution in session.executions()
            if any(execution["name"].startswith(f"{lineage}-") for lineage in lineages)
        )
        still = 0 if running or not adapters.is_quiet() else still + 1
        if still >= 10:  # two seconds with nothing running: it will not settle by itself
            return
        time.sleep(_SETTLE_POLL_SECONDS)


def reconcile(session: LocalSession, lineages: Sequence[str], *, timeout: float) -> int:
    """The safety net after settling, as its schedule fires it: the reconciler's repairs of these
    lineages. A repair that released a lock dispatches the next upload, so the lineages are settled
    again until a run finds nothing more to repair (a few runs at most)."""
    repaired = 0
    for _ in range(_RECONCILE_RUNS):
        found = [
            repair
            for result in session.run_schedule()
            for repair in result["repairs"]
            if repair["lineage"] in lineages
        ]
        if not found:
            break
        repaired += len(found)
        settle(session, lineages, timeout=timeout)
    return repaired


def _fine_tune_faulted(session: LocalSession, lineages: Sequence[str]) -> list[tuple[str, int]]:
    """The rounds whose Fine-tune attempts (the create or a status poll) failed with a transient error."""
    sfn = session.client("stepfunctions")
    faulted = []
    for execution in session.executions():
        lineage = next((name for name in lineages if execution["name"].startswith(f"{name}-it")), None)
        if lineage is None:
            continue
        events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        errors = {e["taskFailedEventDetails"].get("error") for e in events if e["type"] == "TaskFailed"}
        if errors & set(TRANSIENT_FINE_TUNE_ERRORS):
            iteration = int(execution["name"][len(lineage) + 3 :].split("-", 1)[0])
            faulted.append((lineage, iteration))
    return sorted(faulted)


def check_invariants(session: LocalSession, result: ChaosResult) -> list[str]:
    """Every broken invariant, one readable line each (empty: all held)."""
    problems: list[str] = []
    inventory = session.bedrock_inventory()
    models = [
        model
        for page in session.client("bedrock").get_paginator("list_custom_models").paginate()
        for model in page["modelSummaries"]
    ]
    registry = Registry(session.deployment.table_name)
    for message in session.dead_letters():
        lineage = _message_lineage(message)
        if lineage in result.uploads:
            # At the default shares no message fails all its receives by chance (1% of calls each):
            # one that did failed the same way each time. (At 5%, one may.)
            problems.append(f"{lineage}: the trigger gave up on a message (dead-lettered): {message}")
    for lineage, uploaded in result.uploads.items():
        rows = result.histories[lineage]
        problems += _uploads_accounted(session, lineage, uploaded, rows)
        problems += [  # what status and the reconciler follow (an ended round no longer needs it)
            f"{lineage} #{record.iteration}: not ended, and its execution is not recorded on the iteration"
            for record in registry.list_iterations(lineage)
            if record.execution_arn is None and record.ended_at is None
        ]
        [status] = lineage_status(session.deployment, lineage)
        if status["running_iteration"] is not None or status["queued"]:
            problems.append(
                f"{lineage}: lock held by {status['running_iteration']}, queued {status['queued']}"
            )
        problems += left_behind(lineage, session.deployment.stack_name, rows, status, inventory, models)
        problems += _champion_and_pointer(lineage, rows, status)
        for row in rows:
            reason = str(row.get("reason") or "")
            if row["decision"] not in (*DECIDED, "failed"):
                problems.append(f"{lineage} #{row['iteration']}: {row['decision']} after settling: {reason}")
            if row["decision"] == "failed" and (not reason.strip() or reason.startswith("unknown failure")):
                problems.append(f"{lineage} #{row['iteration']}: failed without a readable cause")
            if row["decision"] == "failed" and reason.startswith(TRANSIENT_FINE_TUNE_ERRORS):
                problems.append(
                    f"{lineage} #{row['iteration']}: failed on a transient Fine-tune error: {reason}"
                )
    return problems


def _message_lineage(message: dict[str, Any]) -> str | None:
    """The lineage a trigger message is about: a request's `lineage`, an S3 event's key."""
    if isinstance(message.get("lineage"), str):
        return str(message["lineage"])
    key = ((message.get("detail") or {}).get("object") or {}).get("key")
    return naming.lineage_of_incoming_key(key) if isinstance(key, str) else None


def _uploads_accounted(
    session: LocalSession, lineage: str, uploaded: list[str], rows: list[dict[str, Any]]
) -> list[str]:
    ledger = lineage_uploads(session.deployment, lineage)
    versions = [entry["version_id"] for entry in ledger]
    problems = []
    if versions != uploaded:
        problems.append(f"{lineage}: ledger holds {versions}, uploaded {uploaded}")
    started = [entry for entry in ledger if entry["status"] == "started"]
    if len(started) != len(ledger):
        problems.append(f"{lineage}: not every upload started a round: {[e['status'] for e in ledger]}")
    if sorted(entry["iteration"] for entry in started) != list(range(1, len(started) + 1)):
        problems.append(f"{lineage}: uploads started iterations {[e['iteration'] for e in started]}")
    trained = {row["iteration"]: row for row in rows}
    for entry in started:
        row = trained.get(entry["iteration"])
        if row is None or row["dataset"] != entry["dataset"]:
            problems.append(
                f"{lineage} #{entry['iteration']}: trained {row and row['dataset']}, not {entry['dataset']}"
            )
    problems += overtaken(lineage, started, trained)
    return problems


def overtaken(lineage: str, started: list[dict[str, Any]], trained: dict[int, dict[str, Any]]) -> list[str]:
    """Uploads that started after a later upload although they were queued when it started. (One the
    trigger recorded only after a later upload's round had started, its event redelivered after a fault,
    was not there to go first: README, "Upload order".)"""
    problems = []
    for index, earlier in enumerate(started):
        for later in started[index + 1 :]:
            if later["iteration"] > earlier["iteration"]:
                continue
            began = (trained.get(later["iteration"]) or {}).get("started_at") or ""
            if not earlier["recorded_at"] or earlier["recorded_at"] < began:
                problems.append(
                    f"{lineage}: {later['key']} started (#{later['iteration']}, {began}) before "
                    f"{earlier['key']} (#{earlier['iteration']}), queued since {earlier['recorded_at']}"
                )
    return problems


def left_behind(
    lineage: str,
    stack_name: str,
    rows: list[dict[str, Any]],
    status: dict[str, Any],
    inventory: list[dict[str, Any]],
    models: list[dict[str, Any]],
) -> list[str]:
    """The lineage's capacity that does not serve it and its custom models that no iteration records.
    A resource is the lineage's when its whole name parses as one of its names (naming.py): one lineage's
    name may begin another's (`chaos-od`, `chaos-od-b`)."""
    problems = []
    serving = (status["serving_capacity"] or {}).get("arn")
    for item in inventory:
        if _names_lineage(item["name"], lineage, stack_name) and item["arn"] != serving:
            problems.append(f"{lineage}: {item['kind']} {item['name']} ({item['status']}) left behind")
    recorded = {
        row["output_model_arn"] for row in rows if row["output_model_arn"] and not row["model_deleted_at"]
    }
    for model in models:
        if _names_lineage(model["modelName"], lineage, stack_name) and model["modelArn"] not in recorded:
            problems.append(f"{lineage}: custom model {model['modelName']} that no iteration records")
    return problems


def _names_lineage(name: str, lineage: str, stack_name: str) -> bool:
    """Whether `name` is one of the lineage's custom models, evaluation capacities or serving capacities."""
    return (
        naming.parse_round_resource(name, lineage) is not None
        or naming.parse_serving_capacity_name(name, lineage, stack_name) is not None
    )


def _champion_and_pointer(lineage: str, rows: list[dict[str, Any]], status: dict[str, Any]) -> list[str]:
    problems = []
    champion = status["champion_iteration"]
    promoted = [row for row in rows if row["decision"] == "promoted"]
    if champion and (
        champion > len(rows) or rows[champion - 1]["output_model_arn"] != status["champion_model"]
    ):
        problems.append(f"{lineage}: champion #{champion} is not the model the registry holds")
    if champion != (promoted[-1]["iteration"] if promoted else 0):
        problems.append(f"{lineage}: champion #{champion}, last promotion #{promoted[-1:]}")
    serving, pointer = status["serving_capacity"], status["serving_pointer"]
    if serving is not None and not pointer == serving["arn"] == status["serving_model_id"]:
        problems.append(f"{lineage}: pointer {pointer}, serving capacity {serving['arn']}")
    if (
        serving is None
        and champion
        and status["serving_mode"] == "none"
        and pointer != status["champion_model"]
    ):
        problems.append(f"{lineage}: pointer {pointer}, champion {status['champion_model']}")
    if serving is None and champion and status["serving_mode"] != "none":
        problems.append(f"{lineage}: champion #{champion} serves on nothing")
    return problems
