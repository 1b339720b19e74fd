"""Reading a round's state document: the registry fields it carries and a failure's readable cause.

The state document is what the workflow passes between states (docs/architecture.md): each
step adds one key, so at Finish it holds everything the round learned, whichever path it took.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from iterft_runtime.models.records import Decision

MAX_CAUSE = 1000
_MESSAGE_KEYS = ("errorMessage", "failureMessage", "FailureMessage", "message", "Message")


def record_fields(doc: Mapping[str, Any], ended_at: str) -> dict[str, Any]:
    """The IterationRecord fields the round's state document holds (unset ones left out)."""
    outcome = _section(doc, "outcome")
    validation = _section(doc, "validation")
    begun = _section(doc, "round")
    training = _section(doc, "training")
    evaluation = _section(doc, "evaluation")
    capacity = _section(doc, "capacity")
    swap = _section(doc, "swap")
    promoted = _section(doc, "promoted")
    decided = _section(doc, "decision")
    gate = _section(_section(doc, "lineage"), "gate")
    fields = {
        "decision": outcome.get("decision"),
        "reason": outcome.get("reason"),
        "ended_at": ended_at,
        "min_improvement": gate.get("min_improvement"),
        "records": validation.get("records"),
        "size_bytes": validation.get("size_bytes"),
        "report_uri": validation.get("report_uri"),
        "leakage": validation.get("leakage"),
        "dataset_source": validation.get("source"),  # how a curated upload was built, valid or not
        "hyperparameters": begun.get("hyperparameters", validation.get("hyperparameters")),
        "strategy": begun.get("strategy") or validation.get("strategy"),
        "customization_type": begun.get("customization_type"),
        "customization_config": begun.get("customization_config"),
        "base_model": begun.get("base_model"),
        "parent_iteration": begun.get("parent_iteration"),
        "job_name": begun.get("job_name"),
        "job_arn": training.get("job_arn"),
        "output_model_arn": training.get("output_model_arn"),
        "training_loss": training.get("training_loss"),
        "validation_loss": training.get("validation_loss"),
        "metric": evaluation.get("metric"),
        "eval_set_version": evaluation.get("eval_set_version"),
        "eval_score": evaluation.get("candidate_score"),
        "champion_score": evaluation.get("champion_score"),
        "results_uri": evaluation.get("results_uri"),
        "metrics_uri": evaluation.get("metrics_uri"),
        "evaluation_job_arns": _section(doc, "managed_evaluation").get("job_arns"),
        "managed_results_uri": evaluation.get("managed_results_uri"),
        "metrics": evaluation.get("candidate_metrics"),
        "champion_metrics": evaluation.get("champion_metrics"),
        "deltas": decided.get("deltas"),
        "gate": decided.get("gate"),
        "inconclusive": decided.get("inconclusive"),
        "records_to_resolve": decided.get("records_to_resolve"),
        "power": decided.get("power"),
        "approval": review_record(_section(doc, "approval")),
        "evaluation_capacity": capacity.get("evaluation"),
        "serving_action": swap.get("action"),
        "serving_model_id": promoted.get("serving_model_id"),
    }
    return {name: value for name, value in fields.items() if value is not None}


def review_record(answer: Mapping[str, Any]) -> dict[str, Any] | None:
    """The iteration's `approval` from the wait-for-approval step's result (None: no review took place).

    A reviewer's answer is `{"approved", "reviewer", "reason"}` (what `iterft approve/reject` send);
    a timeout is caught into the same place as `{"Error": "States.Timeout", ...}`.
    """
    if "approved" in answer:
        return {
            "status": "approved" if answer["approved"] is True else "rejected",
            "reviewer": answer.get("reviewer"),
            "reason": answer.get("reason"),
        }
    if answer.get("Error") == "States.Timeout":
        return {"status": "timed_out"}
    return None


def gate_improvement(doc: Mapping[str, Any]) -> float | None:
    """The primary improvement of a round the gate decided, else None (what the plateau rule counts).

    Decided means Decide ran and the outcome is its promoted/rejected (a promotion already committed
    before a failure still counts); rejected overrides, invalid data and failures do not.
    """
    outcome = _section(doc, "outcome").get("decision")
    improvement = _section(doc, "decision").get("improvement")
    if outcome not in (Decision.PROMOTED, Decision.REJECTED) or improvement is None:
        return None
    return float(improvement)


def gate_interval(doc: Mapping[str, Any]) -> tuple[float, float] | None:
    """The primary metric's confidence interval (ci_low, ci_high) from Decide's deltas, else None."""
    decided = _section(doc, "decision")
    primary = _section(doc, "evaluation").get("metric")
    entry = _section(decided, "deltas").get(primary) if isinstance(primary, str) else None
    if not isinstance(entry, Mapping) or entry.get("ci_low") is None or entry.get("ci_high") is None:
        return None
    return float(entry["ci_low"]), float(entry["ci_high"])


def readable_cause(error: Mapping[str, Any] | None) -> str:
    """A one-line cause from Step Functions' `{Error, Cause}`; Lambda and Bedrock causes are JSON."""
    if not error:
        return "unknown failure"
    name = str(error.get("Error") or "Error")
    message = _message(error.get("Cause"), name)
    text = f"{name}: {message}" if message else name
    return text if len(text) <= MAX_CAUSE else text[: MAX_CAUSE - 3] + "..."


def _message(cause: object, name: str) -> str:
    if cause is None:
        return ""
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except json.JSONDecodeError:
            return " ".join(cause.split())
        cause = parsed
    if isinstance(cause, Mapping):
        kind = cause.get("errorType")
        for key in _MESSAGE_KEYS:
            if cause.get(key):
                text = " ".join(str(cause[key]).split())
                return f"{kind}: {text}" if kind and kind != name else text
    return " ".join(json.dumps(cause, default=str).split())


def _section(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}
